#!/usr/bin/env python3
"""Runs the linear layers measured by gpu_fp8_linear.py through Touchstone's simulated FP8 on the
same inputs and scales, and prints how well the simulation predicts the GPU's error.

    python3 ModelZoo/scripts/fp8_linear_compare.py GPU_DIR TOUCHSTONE [--work DIR]

Per layer: a one-Gemm ONNX model (Y = X·Wᵀ, W rebuilt from gpu_fp8_linear's seeds), a calibration
JSON whose range for X is the GPU's amax_x, and `touchstone run --precision fp8` with each
accumulator (hopper, hopper-fast, fp32). Two errors are reported, as SQNR in dB:
- against the float64 product of the unquantized operands (what FP8 costs a deployment), for the
  GPU and Touchstone (hopper); their ratio of RMS errors;
- against the exact sum of the quantized operands (what the accumulation alone costs), for the
  GPU (cuBLAS default and fast accumulation) and Touchstone's matching accumulators, and for an
  FP32 sum, which flatters the hardware.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import ml_dtypes
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from gpu_fp8_linear import parameter_values  # noqa: E402

F32 = np.float32


def sqnr(ref, y):
    err = ((ref - y.astype(np.float64)) ** 2).sum()
    return float("inf") if err == 0 else 10 * np.log10((ref ** 2).sum() / err)


def e4m3(v):
    return np.clip(v, -448, 448).astype(ml_dtypes.float8_e4m3fn).astype(F32)


def torch_div(a, b):
    """a / b as PyTorch computes a CUDA float32 tensor divided by a Python number: a · fl32(1/b)."""
    return F32(F32(a) * F32(1 / b))


def run_touchstone(d, x, w, max_x, accumulators):
    """Y = X·Wᵀ through `touchstone run --precision fp8` with X's range from max_x (as a
    calibration cache stores it); returns {accumulator: Y}."""
    os.makedirs(d, exist_ok=True)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transB=1)], "fp8",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [x.shape[0], w.shape[0]])],
        [numpy_helper.from_array(np.ascontiguousarray(w, F32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, os.path.join(d, "model.onnx"))
    np.save(os.path.join(d, "x.npy"), np.ascontiguousarray(x, F32))
    json.dump({"format": "touchstone-calibration", "tensors": {"x": {"scale": float(F32(max_x / F32(127)))}}}, open(os.path.join(d, "cal.json"), "w"))
    outs = {}
    for acc in accumulators:
        o = os.path.join(d, acc)
        subprocess.run([TOUCHSTONE, "run", os.path.join(d, "model.onnx"), "--input", f"x={d}/x.npy", "--precision", "fp8",
                        "--calibration", os.path.join(d, "cal.json"), "--fp8-accumulation", acc, "--out", o], check=True, capture_output=True)
        outs[acc] = np.load(os.path.join(o, "y.npy"))
    return outs


TOUCHSTONE = "touchstone"


def main():
    global TOUCHSTONE
    ap = argparse.ArgumentParser()
    ap.add_argument("gpu_dir")
    ap.add_argument("touchstone")
    ap.add_argument("--work", default=None)
    ap.add_argument("--json", default=None, help="also write the per-layer figures here")
    args = ap.parse_args()
    TOUCHSTONE = args.touchstone
    z = np.load(os.path.join(args.gpu_dir, "fp8_linear.npz"))
    meta = json.load(open(os.path.join(args.gpu_dir, "fp8_linear.json")))
    work = args.work or tempfile.mkdtemp(prefix="fp8-linear-")
    print(f"GPU: {meta['device']}, torch {meta['torch']}")
    print("| model | layer | X·Wᵀ | codes differing through torch's scales | FP8 vs FP64: GPU | Touchstone | RMS error ratio | accumulation only: GPU | Touchstone hopper | GPU fast | Touchstone hopper-fast | FP32 sum |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    ratios, gaps, rows = [], [], []
    for layer in meta["layers"]:
        key = f"{layer['model']}|{layer['layer']}"
        x = z[key + "|x"]
        w = parameter_values(layer["weight"], tuple(layer["shape"]), layer["layer"] + ".weight")
        m = F32(z[key + "|max_x"][0])
        amax_x = F32(z[key + "|amax_x"][0])
        assert F32(F32(m / F32(127)) * F32(127)) == amax_x, "the GPU's amax differs from the cache's round trip"
        d = os.path.join(work, key.replace("|", "_").replace(".", "_"))
        sx, sw = amax_x / F32(448), F32(np.abs(w).max()) / F32(448)
        # The GPU's scales as PyTorch computed them: a CUDA tensor divided by a Python number is
        # multiplied by the number's float32 reciprocal, one unit in the last place off amax/448 at
        # times; a quotient on an E4M3 midpoint then rounds to the other neighbour.
        sx_gpu, sw_gpu = torch_div(amax_x, 448), torch_div(F32(np.abs(w).max()), 448)
        codes = {}
        for tag, t, s_ in (("x", x, sx_gpu), ("w", w, sw_gpu)):
            c = e4m3(t / s_).reshape(-1)
            at = z[f"{key}|{tag}_override_at"]
            c[at] = z[f"{key}|{tag}_override_code"].view(ml_dtypes.float8_e4m3fn).astype(F32)
            codes[tag] = c.reshape(t.shape)
        scale_codes_differ = int((codes["x"] != e4m3(x / sx)).sum() + (codes["w"] != e4m3(w / sw)).sum())
        overrides = len(z[f"{key}|x_override_at"]) + len(z[f"{key}|w_override_at"])
        deployed = run_touchstone(os.path.join(d, "deployed"), x, w, m, ["hopper"])
        # Touchstone on the GPU's own codes (code × scale: its quantization recovers them exactly).
        same = run_touchstone(os.path.join(d, "same-codes"), codes["x"] * sx_gpu, codes["w"] * sw_gpu, m, ["hopper", "hopper-fast", "fp32"])
        exact_q = (codes["x"].astype(np.float64) @ codes["w"].astype(np.float64).T) * (np.float64(sx_gpu) * np.float64(sw_gpu))
        exact = x.astype(np.float64) @ w.astype(np.float64).T
        g, gf = z[key + "|y"], z[key + "|y_fast"]
        e_gpu, e_ts = np.sqrt(((g - exact) ** 2).mean()), np.sqrt(((deployed["hopper"] - exact) ** 2).mean())
        ratio = max(e_gpu, e_ts) / min(e_gpu, e_ts)
        acc_gpu, acc_ts = sqnr(exact_q, g), sqnr(exact_q, same["hopper"])
        ratios.append(ratio)
        gaps.append(abs(acc_gpu - acc_ts))
        rows.append({"model": layer["model"], "layer": layer["layer"], "x": list(x.shape), "w": list(w.shape), "gpu_codes_differ": overrides, "codes_from_torch_scales_differ": scale_codes_differ,
                     "fp8_vs_fp64_db": {"gpu": sqnr(exact, g), "touchstone": sqnr(exact, deployed["hopper"])}, "rms_error_ratio": ratio,
                     "accumulation_db": {"gpu": acc_gpu, "touchstone_hopper": acc_ts, "gpu_fast": sqnr(exact_q, gf),
                                         "touchstone_hopper_fast": sqnr(exact_q, same["hopper-fast"]), "fp32_sum": sqnr(exact_q, same["fp32"])}})
        print(f"| {layer['model']} | {layer['layer']} | [{x.shape[0]}, {x.shape[1]}]·[{w.shape[1]}, {w.shape[0]}] | {scale_codes_differ} | {sqnr(exact, g):.2f} | "
              f"{sqnr(exact, deployed['hopper']):.2f} | {ratio:.4f} | {acc_gpu:.1f} | {acc_ts:.1f} | {sqnr(exact_q, gf):.1f} | "
              f"{sqnr(exact_q, same['hopper-fast']):.1f} | {sqnr(exact_q, same['fp32']):.1f} |")
    probe, gpu_codes = z["cast_probe|x"], z["cast_probe|gpu"]
    ieee = probe.astype(ml_dtypes.float8_e4m3fn).view(np.uint8)
    differ = np.nonzero(ieee != gpu_codes)[0]
    via_half = probe.astype(np.float16).astype(ml_dtypes.float8_e4m3fn).view(np.uint8)
    print(f"\nthe GPU's float32 → E4M3 cast at {len(probe)} values at and beside the midpoints between E4M3 values: "
          f"{len(differ)} differ from round-to-nearest-even; {int((via_half == gpu_codes).sum())} of {len(probe)} equal a rounding through float16 first"
          + (f" (e.g. {probe[differ[0]]!r} → {gpu_codes[differ[0]]:#04x}, IEEE {ieee[differ[0]]:#04x})" if len(differ) else ""))
    if args.json:
        json.dump({"device": meta["device"], "torch": meta["torch"], "layers": rows}, open(args.json, "w"), indent=1)
    print(f"\nlargest RMS error ratio (deployment error, GPU vs Touchstone): {max(ratios):.4f}; "
          f"largest accumulation-only SQNR gap (cuBLAS default vs hopper): {max(gaps):.2f} dB")
    return 0 if max(ratios) <= 1.25 and max(gaps) <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
