"""Checks `touchstone calibrate` against independent reference implementations of its formulas.

For each model (torchvision architectures exported by make_torchvision.py, which Touchstone's
calibration was not developed on, plus the digits model) and seeded data not used elsewhere, the
activations that INT8 quantizes (the non-constant inputs of Conv, ConvTranspose, Gemm and MatMul)
are read from onnxruntime (graph optimizations off, each tensor exposed as an output). With numpy:
  minmax      the largest |x|;
  percentile  np.percentile(|x|, p), exact;
  entropy     NVIDIA's published EntropyCalibration2 procedure over np.histogram(|x|, 2048 bins,
              [0, max]), written here from the description (vectorized over each candidate).
Touchstone's amax must match: minmax within 1e-6 (relative), percentile within 2%, entropy within
2% for at least 95% of tensors.

    python3 ModelZoo/scripts/check_calibration.py --touchstone .build/release/touchstone
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

import zoo

QUANTIZED = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


def quantized_activations(model):
    inits = {i.name for i in model.graph.initializer}
    consts = {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    names = []
    for n in model.graph.node:
        if n.op_type in QUANTIZED:
            for x in n.input[:2]:
                if x and x not in inits and x not in consts and x not in names:
                    names.append(x)
    return names


def entropy_amax(absval, bins=2048, quantized=128):
    amax = float(absval.max())
    hist, _ = np.histogram(absval, bins=bins, range=(0.0, amax))
    hist = hist.astype(np.float64)
    hist[0] = hist[1]
    total = hist.sum()
    best, best_i = np.inf, bins
    for i in range(quantized, bins + 1):
        p = hist[:i].copy()
        p[i - 1] += hist[i:].sum()
        # Bin j belongs to group floor(j * 128 / i); each group's count is spread over its
        # non-empty bins.
        group = (np.arange(i) * quantized) // i
        nonempty = hist[:i] != 0
        sums = np.bincount(group, weights=hist[:i], minlength=quantized)
        members = np.bincount(group, weights=nonempty.astype(np.float64), minlength=quantized)
        q = np.where(nonempty, sums[group] / np.maximum(members[group], 1), 0.0)
        p /= total
        qs = q.sum()
        if qs == 0:
            continue
        q /= qs
        mask = p > 0
        if np.any(q[mask] == 0):
            kl = np.inf
        else:
            kl = float(np.sum(p[mask] * np.log(p[mask] / q[mask])))
        if kl <= best:
            best, best_i = kl, i
    return best_i * amax / bins


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--touchstone", default=".build/release/touchstone")
    ap.add_argument("--models", nargs="*", default=["resnet18", "mobilenet_v2", "squeezenet1_1", "efficientnet_b0", "digits_cnn"])
    ap.add_argument("--samples", type=int, default=12)
    ap.add_argument("--percentile", type=float, default=99.99)
    args = ap.parse_args()
    rng = np.random.default_rng(20261121)
    rows, entropy_ok, entropy_total, failures = [], 0, 0, []
    for name in args.models:
        path = zoo.model_path(name)
        if not os.path.exists(path):
            print(f"{name}: {path} not found (python3 ModelZoo/scripts/make_torchvision.py makes it); skipped")
            continue
        model = onnx.load(path)
        shape = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim]
        names = quantized_activations(model)
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "data")
            os.makedirs(data)
            samples = []
            for k in range(args.samples):
                if name == "digits_cnn":
                    x = rng.uniform(0, 1, size=shape).astype(np.float32)
                else:
                    # Smooth images: noise blurred along both axes, normalized like ImageNet inputs.
                    x = zoo.smooth_image(rng, shape, eps=1e-6, noise_dtype=np.float32)
                np.save(os.path.join(data, f"{k:03d}.npy"), x[0])
                samples.append(x)
            exposed = onnx.load(path)
            existing = {o.name for o in exposed.graph.output}
            for n in names:
                if n not in existing:
                    exposed.graph.output.append(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None))
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            opts.intra_op_num_threads = 2
            sess = ort.InferenceSession(exposed.SerializeToString(), opts, providers=["CPUExecutionProvider"])
            input_name = model.graph.input[0].name
            values = {n: [] for n in names}
            for x in samples:
                outs = sess.run(names, {input_name: x})
                for n, v in zip(names, outs):
                    values[n].append(np.abs(v).ravel())
            got = {}
            for method in ["minmax", "percentile", "entropy"]:
                cache = os.path.join(tmp, method + ".json")
                subprocess.run([args.touchstone, "calibrate", path, "--data", data, "--method", method, "--percentile", str(args.percentile), "--tensors", "quantized", "--cache", cache],
                               check=True, stdout=subprocess.DEVNULL)
                with open(cache) as f:
                    got[method] = {k: v["amax"] for k, v in json.load(f)["tensors"].items()}
            worst = {"minmax": 0.0, "percentile": 0.0, "entropy": 0.0}
            ok = 0
            for n in names:
                a = np.concatenate(values[n])
                ref = {"minmax": float(a.max()), "percentile": float(np.percentile(a, args.percentile)), "entropy": entropy_amax(a)}
                for m in ref:
                    rel = abs(got[m][n] - ref[m]) / max(ref[m], 1e-30)
                    worst[m] = max(worst[m], rel)
                    if m == "minmax" and rel > 1e-6:
                        failures.append(f"{name} {n} minmax {got[m][n]} vs {ref[m]}")
                    if m == "percentile" and rel > 0.02:
                        failures.append(f"{name} {n} percentile {got[m][n]} vs {ref[m]}")
                    if m == "entropy":
                        ok += rel <= 0.02
            entropy_ok += ok
            entropy_total += len(names)
            rows.append((name, len(names), worst, ok))
            print(f"{name}: {len(names)} tensors, {args.samples} samples; largest relative difference: minmax {worst['minmax']:.2e}, "
                  f"percentile {worst['percentile']:.2e}, entropy {worst['entropy']:.2e}; entropy within 2%: {ok}/{len(names)}", flush=True)
    share = entropy_ok / max(entropy_total, 1)
    print(f"entropy within 2%: {entropy_ok}/{entropy_total} tensors ({share:.1%}; required 95%)")
    for f in failures[:20]:
        print("FAIL", f)
    if failures or share < 0.95:
        sys.exit(1)
    print("calibration check passed")


if __name__ == "__main__":
    main()
