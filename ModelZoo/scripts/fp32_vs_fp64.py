#!/usr/bin/env python3
"""FP32 against FP64 on the zoo models: Touchstone's FP32 and onnxruntime's FP32 (CPU provider),
each against Touchstone's FP64 run (the ground truth), as SQNR in dB and the largest error over
the output's peak.

    python3 ModelZoo/scripts/fp32_vs_fp64.py TOUCHSTONE [--manifest ModelZoo/generated/manifest.json] [--threads 1]

Every model of the manifest at batch 1, on its stored input. A Touchstone FP32 far better than
onnxruntime's would mean it is secretly more precise than the backends it judges; far worse, that
some kernel loses accuracy.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort


def sqnr(ref, y):
    err = ((ref - y) ** 2).sum()
    return float("inf") if err == 0 else 10 * np.log10((ref ** 2).sum() / err)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("touchstone")
    ap.add_argument("--manifest", default="ModelZoo/generated/manifest.json")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    root = os.path.dirname(os.path.abspath(args.manifest))
    manifest = json.load(open(args.manifest))
    print("| model | Touchstone FP32 vs FP64 (dB) | onnxruntime FP32 vs FP64 (dB) | difference (dB) | max err / peak: Touchstone | onnxruntime |")
    print("|---|---|---|---|---|---|")
    gaps = []
    work = tempfile.mkdtemp(prefix="fp32-fp64-")
    seen = set()
    for e in manifest["models"]:
        if e["file"] in seen:
            continue  # one batch size per model
        seen.add(e["file"])
        model = os.path.join(root, e["file"])
        (name, path), = list(e["inputs"].items())[:1]
        x = np.load(os.path.join(root, path))
        outs = {}
        for precision in ("fp32", "fp64"):
            d = os.path.join(work, e["name"] + precision)
            subprocess.run([args.touchstone, "run", model, "--input", f"{name}={os.path.join(root, path)}", "--precision", precision,
                            "--threads", str(args.threads), "--out", d], check=True, capture_output=True)
            outs[precision] = {f[:-4]: np.load(os.path.join(d, f)).astype(np.float64) for f in os.listdir(d)}
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        ort_out = dict(zip([o.name for o in session.get_outputs()], session.run(None, {name: x})))
        first = sorted(outs["fp64"])[0]
        ref = outs["fp64"][first]
        t, o = outs["fp32"][first], ort_out[first].astype(np.float64)
        peak = np.abs(ref).max()
        a, b = sqnr(ref, t), sqnr(ref, o)
        gaps.append(a - b)
        print(f"| {e['name'].rsplit('_b', 1)[0]} | {a:.1f} | {b:.1f} | {a - b:+.1f} | {np.abs(t - ref).max() / peak:.2e} | {np.abs(o - ref).max() / peak:.2e} |")
    print(f"\nTouchstone FP32 minus onnxruntime FP32, SQNR against FP64: from {min(gaps):+.1f} to {max(gaps):+.1f} dB")


if __name__ == "__main__":
    sys.exit(main())
