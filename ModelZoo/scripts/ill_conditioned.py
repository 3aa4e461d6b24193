#!/usr/bin/env python3
"""An ill-conditioned model, FP32 against FP64: timm's efficientnetv2_rw_s as timm initialises it
(random weights, BatchNorm statistics at their defaults: mean 0, variance 1), so activations grow
to about 1e6 through the network and every FP32 rounding is amplified. Touchstone's FP32 and
onnxruntime's FP32 (CPU provider) are each compared with two FP64 references: PyTorch running the
same module in float64 (independent of Touchstone) and Touchstone's own FP64 run.

    python3 ModelZoo/scripts/ill_conditioned.py TOUCHSTONE [--work DIR] [--size 288] [--seeds 0,1,2,3,4]

The model (96 MB) is generated on demand into DIR, never committed. timm is installed from PyPI at
the pinned version if missing. PyPI's torchvision wheel is a CUDA build whose operator library does
not load beside torch's CPU build; timm imports torchvision only for transforms and a BatchNorm
variant, so the two schema-only operators torchvision's import touches are declared first.
"""
import argparse
import importlib
import os
import subprocess
import sys

import numpy as np

TIMM = "timm==1.0.12"


def import_timm(work):
    import torch
    try:
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import_timm.lib = lib  # keep the registration alive
    except RuntimeError:
        pass  # a working torchvision already defined them
    target = os.path.join(work, "pypkgs")
    sys.path.insert(0, target)
    try:
        import timm
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target, TIMM], check=True)
        importlib.invalidate_caches()
        import timm
    return timm


def stats(ref, y):
    err = y - ref
    e2 = (err ** 2).sum()
    return {
        "sqnr_db": float("inf") if e2 == 0 else 10 * np.log10((ref ** 2).sum() / e2),
        "max_err_over_peak": float(np.abs(err).max() / np.abs(ref).max()),
        "rms_err_over_rms": float(np.sqrt(e2 / (ref ** 2).sum())),
    }


def run_one(args, timm, seed):
    import torch
    import onnxruntime as ort
    torch.manual_seed(seed)
    model = timm.create_model("efficientnetv2_rw_s", pretrained=False).eval()
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((1, 3, args.size, args.size)).astype(np.float32))
    path = os.path.join(args.work, f"efficientnetv2_rw_s_seed{seed}.onnx")
    if not os.path.exists(path):
        # PRESERVE keeps BatchNormalization nodes: the eval-mode exporter would fold them into the
        # convolutions in float32, and the ONNX graph would no longer be the module PyTorch runs in float64.
        torch.onnx.export(model, (x,), path, dynamo=False, opset_version=17, input_names=["input"], output_names=["logits"],
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    peak = [0.0]

    def hook(module, inputs, output):
        peak[0] = max(peak[0], float(output.abs().max()))

    with torch.no_grad():
        torch32 = model(x).double().numpy()
        # The ONNX file stores epsilon as float32 (1e-5 becomes 9.99999975e-06); the FP64 reference
        # uses the stored value, or the amplification turns that difference into a 1e-7 error.
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eps = float(np.float32(m.eps))
            if isinstance(m, torch.nn.Conv2d):
                m.register_forward_hook(hook)
        torch64 = model.double()(x.double()).numpy()
    feed = os.path.join(args.work, f"input_seed{seed}.npy")
    np.save(feed, x.numpy())

    outs = {}
    for precision in ("fp32", "fp64"):
        d = os.path.join(args.work, f"touchstone-{precision}-seed{seed}")
        subprocess.run([args.touchstone, "run", path, "--input", f"input={feed}",
                        "--precision", precision, "--threads", str(args.threads), "--out", d], check=True, capture_output=True)
        outs[precision] = np.load(os.path.join(d, "logits.npy")).astype(np.float64)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    ort32 = session.run(None, {"input": x.numpy()})[0].astype(np.float64)
    runs = (("Touchstone", outs["fp32"]), ("onnxruntime", ort32), ("PyTorch", torch32))
    return {
        "activation_peak": peak[0],
        "fp64_check": stats(torch64, outs["fp64"])["max_err_over_peak"],
        "fp32": {name: stats(torch64, y) for name, y in runs},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("touchstone")
    ap.add_argument("--work", default=".build/ill-conditioned")
    ap.add_argument("--size", type=int, default=288)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--per-op", type=int, metavar="SEED", help="also compare each node alone, on this seed's model")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    timm = import_timm(args.work)
    print(f"efficientnetv2_rw_s at {args.size}x{args.size}, timm's initialisation; every FP32 run against PyTorch's float64 run of the same module")
    print("| seed | largest conv output | Touchstone FP64 max err / peak | SQNR (dB): Touchstone FP32 | onnxruntime FP32 | PyTorch FP32 | max err / peak: Touchstone | onnxruntime | PyTorch |")
    print("|---|---|---|---|---|---|---|---|---|")
    gaps = []
    for seed in (int(s) for s in args.seeds.split(",")):
        r = run_one(args, timm, seed)
        f = r["fp32"]
        gaps.append(f["Touchstone"]["sqnr_db"] - f["onnxruntime"]["sqnr_db"])
        print(f"| {seed} | {r['activation_peak']:.2e} | {r['fp64_check']:.1e} | "
              + " | ".join(f"{f[n]['sqnr_db']:.1f}" for n in ("Touchstone", "onnxruntime", "PyTorch")) + " | "
              + " | ".join(f"{f[n]['max_err_over_peak']:.2e}" for n in ("Touchstone", "onnxruntime", "PyTorch")) + " |", flush=True)
    print(f"\nTouchstone FP32 minus onnxruntime FP32 (SQNR against FP64): {min(gaps):+.1f} to {max(gaps):+.1f} dB, median {np.median(gaps):+.1f} dB")
    if args.per_op is not None:
        import per_op_fp32
        seed = args.per_op
        per_op_fp32.per_op(args.touchstone, os.path.join(args.work, f"efficientnetv2_rw_s_seed{seed}.onnx"),
                           {"input": os.path.join(args.work, f"input_seed{seed}.npy")}, os.path.join(args.work, f"per-op-seed{seed}"),
                           args.threads)


if __name__ == "__main__":
    sys.exit(main())
