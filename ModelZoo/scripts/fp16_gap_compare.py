#!/usr/bin/env python3
"""Touchstone's simulated FP16 against a GPU's real FP16 (gpu_fp16_gap.py's results): SQNR of each
FP16 run against the FP64 run of the same graph, per model, and the gap in dB.

    python3 ModelZoo/scripts/fp16_gap_compare.py GPU_DIR TOUCHSTONE [--work DIR] [--json OUT.json]

Exports each model here twice at the GPU run's batch: folded (every batch norm folded into its
convolution by torch.fx, the graph of the GPU's "folded" variant) and as PyTorch builds it with its
BatchNormalization nodes kept (the "module" variant), and runs Touchstone in FP64 and FP16 on the
same seeded inputs (gpu_fp16_gap.batch_inputs). A negative gap means the simulation is optimistic.
Touchstone's FP16 runs three times: as the ONNX graph says (each convolution's bias inside its
sum, every node rounded), with --bias-addition after-rounding (PyTorch's CUDA convolutions), and
with that and --silu-rounding once (PyTorch's SiLU is one kernel); the gap is taken against the
run that models the device's PyTorch: after-rounding and once on CUDA, once alone on the CPU.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crosscheck_models as cm  # noqa: E402
import gpu_fp16_gap as gap  # noqa: E402


def sqnr(ref, y):
    e = ((ref - y) ** 2).sum()
    return float("inf") if e == 0 else float(10 * np.log10((ref ** 2).sum() / e))


def export(name, variant, batch, path):
    import torch
    if os.path.exists(path):
        return
    model = gap.folded(name) if variant == "folded" else cm.build(name)
    x = torch.from_numpy(gap.batch_inputs(name, batch))
    extra = {} if variant == "folded" else {"training": torch.onnx.TrainingMode.PRESERVE}
    torch.onnx.export(model.eval(), (x,), path, dynamo=False, opset_version=17, input_names=["input"], output_names=["output"], **extra)


def touchstone(binary, model, feed, precision, out, extra=()):
    """Touchstone's output for one run (`extra`: more options of `touchstone run`)."""
    subprocess.run([binary, "run", model, "--input", f"input={feed}", "--precision", precision, "--threads", "2", "--out", out, *extra],
                   check=True, capture_output=True)
    return np.load(os.path.join(out, "output.npy")).astype(np.float64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gpu_dir")
    ap.add_argument("touchstone")
    ap.add_argument("--work", default=".build/fp16-gap")
    ap.add_argument("--json")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    full = os.path.join(args.gpu_dir, "gpu_fp16_gap.npz")
    meta = json.load(open(os.path.join(args.gpu_dir, "gpu_fp16_gap_meta.json")))
    if os.path.exists(full):
        gpu = dict(np.load(full))
        summary = {k: sqnr(gpu[k.rsplit("|", 1)[0] + "|fp64"], gpu[k]) for k in gpu if not k.endswith("|fp64")}
    else:  # gpu_fp16_gap_summary.py's shrunk form: SQNRs, and the small FP64 outputs
        summary = json.load(open(os.path.join(args.gpu_dir, "gpu_fp16_gap_summary.json")))
        kept = os.path.join(args.gpu_dir, "gpu_fp16_gap_fp64.npz")
        gpu = dict(np.load(kept)) if os.path.exists(kept) else {}
        gpu.update({k.rsplit("|", 1)[0] + "|fp64": None for k in summary if k.rsplit("|", 1)[0] + "|fp64" not in gpu})
    batch = meta["batch"]
    cuda = meta["device"] != "cpu"
    models = sorted({k.split("|")[0] for k in summary}, key=list(cm.ARCHITECTURES).index)
    rows = {}
    print(f"FP16 against FP64 of the same graph, SQNR in dB over a batch of {batch} ({meta['device']}, torch {meta['torch']})")
    matching = "touchstone_fp16_as_pytorch"
    print(f"gap: the run's SQNR minus Touchstone's with {'--bias-addition after-rounding ' if cuda else ''}--silu-rounding once")
    print("| model | run, module | Touchstone: graph | after-rounding | as PyTorch | gap (module) | run, folded | Touchstone: graph | after-rounding | as PyTorch | gap (folded) | FP64: Touchstone vs run, folded |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in models:
        feed = os.path.join(args.work, f"{name}_input.npy")
        np.save(feed, gap.batch_inputs(name, batch))
        r = {}
        for variant in ("folded", "module"):
            path = os.path.join(args.work, f"{name}_{variant}_b{batch}.onnx")
            export(name, variant, batch, path)
            t64 = touchstone(args.touchstone, path, feed, "fp64", os.path.join(args.work, "t64"))
            t16 = touchstone(args.touchstone, path, feed, "fp16", os.path.join(args.work, "t16"))
            t16s = touchstone(args.touchstone, path, feed, "fp16", os.path.join(args.work, "t16s"), ["--bias-addition", "after-rounding"])
            t16p = touchstone(args.touchstone, path, feed, "fp16", os.path.join(args.work, "t16p"),
                              ["--bias-addition", "after-rounding" if cuda else "in-sum", "--silu-rounding", "once"])
            g64 = gpu[f"{name}|{variant}|fp64"]
            r[variant] = {
                "gpu_fp16": summary[f"{name}|{variant}|fp16"], "gpu_fp16_full_reduction": summary[f"{name}|{variant}|fp16-full-reduction"],
                "gpu_fp32": summary[f"{name}|{variant}|fp32"], "touchstone_fp16": sqnr(t64, t16),
                "touchstone_fp16_bias_after_rounding": sqnr(t64, t16s),
                "touchstone_fp16_as_pytorch": sqnr(t64, t16p),
                "fp64_touchstone_vs_gpu": None if g64 is None else float(np.abs(t64 - g64).max() / np.abs(g64).max()),
            }
        rows[name] = r
        f, m = r["folded"], r["module"]
        cells = []
        for v in (m, f):
            cells += [f"{v['gpu_fp16']:.1f}", f"{v['touchstone_fp16']:.1f}", f"{v['touchstone_fp16_bias_after_rounding']:.1f}",
                      f"{v[matching]:.1f}", f"{v['gpu_fp16'] - v[matching]:+.1f}"]
        d64 = f["fp64_touchstone_vs_gpu"]
        print(f"| {name} | " + " | ".join(cells) + f" | {'not kept' if d64 is None else f'{d64:.1e}'} |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"gpu": meta, "models": rows}, fh, indent=1)


if __name__ == "__main__":
    sys.exit(main())
