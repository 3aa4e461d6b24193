"""Checks that Touchstone runs QDQ models (QuantizeLinear/DequantizeLinear pairs, as onnxruntime's
quantize_static writes them) with the literal ONNX semantics.

For each model: quantize_static with symmetric int8 activations and per-channel symmetric int8
weights, calibrated on seeded data; then, on other seeded data, Touchstone against onnxruntime with
graph optimizations off (QDQ run as written, in float) — argmax agreement must be >= 90% and the
median relative L2 error of the logits <= 0.5% — and, for the record, against onnxruntime with all
optimizations (which fuses some Q/DQ groups into integer kernels such as QLinearConv; the count is
printed). onnxruntime runs on one thread: its convolutions then sum in one fixed order (with more
threads it splits the output columns, and the split changes its depth blocks).

    python3 ModelZoo/scripts/check_qdq.py --touchstone .build/release/touchstone
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

import zoo

ort.set_default_logger_severity(3)


def images(rng, shape, n, digits):
    out = []
    for _ in range(n):
        if digits:
            out.append(rng.uniform(0, 1, size=shape).astype(np.float32))
        else:
            out.append(zoo.smooth_image(rng, shape, eps=1e-6))
    return out


class Reader(CalibrationDataReader):
    def __init__(self, name, data):
        self.items = iter([{name: x} for x in data])

    def get_next(self):
        return next(self.items, None)


def run_ort(path, name, data, level, optimized=None):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = level
    opts.intra_op_num_threads = 1
    if optimized:
        opts.optimized_model_filepath = optimized
    s = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return [s.run(None, {name: x})[0] for x in data]


def compare(a, b):
    agree = np.mean([np.argmax(x) == np.argmax(y) for x, y in zip(a, b)])
    rel = [np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-30) for x, y in zip(a, b)]
    return agree, float(np.median(rel)), float(np.max(rel))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--touchstone", default=".build/release/touchstone")
    ap.add_argument("--models", nargs="*", default=["digits_cnn", "resnet18", "mobilenet_v2", "squeezenet1_1"])
    ap.add_argument("--calibration-samples", type=int, default=16)
    ap.add_argument("--samples", type=int, default=32)
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    ok = True
    for name in args.models:
        path = zoo.model_path(name)
        if not os.path.exists(path):
            print(f"{name}: not found ({path}); skipped")
            continue
        model = onnx.load(path)
        inp = model.graph.input[0].name
        shape = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim]
        digits = name == "digits_cnn"
        if digits:
            test = np.load(os.path.join(zoo.ZOO, "data", "digits_test.npz"))["images"]
            calib = [test[i:i + 1] for i in range(args.calibration_samples)]
            data = [test[i:i + 1] for i in range(args.calibration_samples, args.calibration_samples + args.samples)]
        else:
            calib = images(rng, shape, args.calibration_samples, digits)
            data = images(rng, shape, args.samples, digits)
        with tempfile.TemporaryDirectory() as tmp:
            qdq = os.path.join(tmp, name + "_qdq.onnx")
            quantize_static(path, qdq, Reader(inp, calib), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                            weight_type=QuantType.QInt8, per_channel=True,
                            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
            literal = run_ort(qdq, inp, data, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
            fused = run_ort(qdq, inp, data, ort.GraphOptimizationLevel.ORT_ENABLE_ALL, os.path.join(tmp, "optimized.onnx"))
            integer_ops = sum(n.op_type.startswith("QLinear") or n.op_type.startswith("QGemm") or n.op_type == "ConvInteger"
                              for n in onnx.load(os.path.join(tmp, "optimized.onnx")).graph.node)
            ours = []
            for k, x in enumerate(data):
                f = os.path.join(tmp, f"x{k}.npy")
                np.save(f, x)
                out = os.path.join(tmp, f"out{k}")
                subprocess.run([args.touchstone, "run", qdq, "--input", f"{inp}={f}", "--out", out, "--threads", "2"], check=True, stdout=subprocess.DEVNULL)
                npys = sorted(os.listdir(out))
                ours.append(np.load(os.path.join(out, npys[0])))
            a1, med1, max1 = compare(ours, literal)
            a2, med2, max2 = compare(ours, fused)
            a3, med3, _ = compare(fused, literal)
            qnodes = sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in onnx.load(qdq).graph.node)
            passed = a1 >= 0.9 and med1 <= 0.005
            ok &= passed
            print(f"{name} ({qnodes} Q/DQ nodes, {len(data)} samples): vs onnxruntime literal QDQ: argmax agreement {a1:.1%}, "
                  f"median rel L2 {med1:.2e} (max {max1:.2e}) {'ok' if passed else 'FAIL'}; vs onnxruntime optimized ({integer_ops} integer kernels): "
                  f"agreement {a2:.1%}, median rel L2 {med2:.2e}; onnxruntime optimized vs literal: agreement {a3:.1%}, median rel L2 {med3:.2e}", flush=True)
    if not ok:
        sys.exit(1)
    print("QDQ check passed")


if __name__ == "__main__":
    main()
