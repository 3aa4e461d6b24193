#!/usr/bin/env python3
"""Shrinks gpu_fp16_gap.py's results for large batches: each run's SQNR against the FP64 run of the
same graph (gpu_fp16_gap_summary.json), plus the FP64 outputs of the runs whose outputs are small
(gpu_fp16_gap_fp64.npz, under --limit MB each), instead of every output. fp16_gap_compare.py reads
either form.

    python3 ModelZoo/scripts/gpu_fp16_gap_summary.py DIR [--limit 16] [--remove]
"""
import argparse
import json
import os

import numpy as np


def sqnr(ref, y):
    e = ((ref - y) ** 2).sum()
    return float("inf") if e == 0 else float(10 * np.log10((ref ** 2).sum() / e))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--limit", type=float, default=16)
    ap.add_argument("--remove", action="store_true", help="delete gpu_fp16_gap.npz afterwards")
    args = ap.parse_args()
    path = os.path.join(args.dir, "gpu_fp16_gap.npz")
    data = np.load(path)
    summary, keep = {}, {}
    for key in data.files:
        name, variant, run = key.split("|")
        if run != "fp64":
            continue
        ref = data[key]
        for other in ("fp32", "fp16", "fp16-full-reduction"):
            summary[f"{name}|{variant}|{other}"] = sqnr(ref, data[f"{name}|{variant}|{other}"])
        if ref.nbytes <= args.limit * 2**20:
            keep[key] = ref
    with open(os.path.join(args.dir, "gpu_fp16_gap_summary.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    np.savez_compressed(os.path.join(args.dir, "gpu_fp16_gap_fp64.npz"), **keep)
    if args.remove:
        os.remove(path)


if __name__ == "__main__":
    main()
