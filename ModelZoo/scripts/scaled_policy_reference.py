"""Builds a small Conv → Relu → Flatten → Gemm → MatMul model and computes, in numpy with
ml_dtypes, what each scaled precision policy (fp8, fp8-e5m2, nvfp4, mxfp8, mxfp4, int4w) gives
for it: the reference of ScaledPolicyTests.

    python3 ModelZoo/scripts/scaled_policy_reference.py OUT_DIR

Writes OUT_DIR/model.onnx, OUT_DIR/reference.npz (`x`, then `<policy>` per case) and
OUT_DIR/ranges.json (the calibrated amax of the product ops' activations, chosen below their
true maxima so that saturation is exercised). Definitions: ExecutionPolicy's (TensorRT / Model
Optimizer for FP8 and NVFP4, OCP MX v1.0, round-to-nearest INT4 with float16 scales), written
independently here from scaled_formats_reference.py's primitives.
"""
import json
import os
import sys

import ml_dtypes
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scaled_formats_reference as sf  # noqa: E402

F32 = np.float32
E4M3, E5M2 = ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2


def im2col(x, kh, kw, pad):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - kh + 1, w + 2 * pad - kw + 1
    cols = np.empty((n, c * kh * kw, oh * ow), F32)
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                cols[:, (ci * kh + i) * kw + j, :] = xp[:, ci, i:i + oh, j:j + ow].reshape(n, -1)
    return cols, oh, ow


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 6, 6)).astype(F32)
    wc = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(F32)
    bc = (rng.standard_normal(8) * 0.1).astype(F32)
    wg = (rng.standard_normal((10, 288)) * 0.05).astype(F32)   # Gemm, transB = 1
    bg = (rng.standard_normal(10) * 0.1).astype(F32)
    wm = (rng.standard_normal((10, 6)) * 0.4).astype(F32)      # MatMul B [K, N]

    nodes = [
        helper.make_node("Conv", ["x", "wc", "bc"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Flatten", ["r"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "wg", "bg"], ["g"], name="gemm", transB=1),
        helper.make_node("MatMul", ["g", "wm"], ["y"], name="matmul"),
    ]
    graph = helper.make_graph(
        nodes, "scaled", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6])],
        [numpy_helper.from_array(a, n) for a, n in [(wc, "wc"), (bc, "bc"), (wg, "wg"), (bg, "bg"), (wm, "wm")]])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, os.path.join(out, "model.onnx"))

    # FP32 run for the true maxima; the calibrated ranges are 90% of them (some values saturate).
    def fp32_flat(x):
        cols, oh, ow = im2col(x, 3, 3, 1)
        c = np.einsum("mk,nkp->nmp", wc.reshape(8, -1), cols) + bc[None, :, None]
        return np.maximum(c, 0).reshape(2, -1)
    flat = fp32_flat(x)
    g = flat @ wg.T + bg
    ranges = {"x": F32(0.9) * F32(np.abs(x).max()), "flat": F32(0.9) * F32(np.abs(flat).max()), "g": F32(0.9) * F32(np.abs(g).max())}
    json.dump({"ranges": {k: float(v) for k, v in ranges.items()}}, open(os.path.join(out, "ranges.json"), "w"))

    def q(t, kind, axis=0, spans=0, params=()):
        return sf.quantize(np.ascontiguousarray(t, F32), kind, axis, spans, params)

    results = {"x": x}

    # FP8: per-tensor scales amax/largest, Hopper accumulation (group 32, 13 bits, promotion 128).
    for name, fmt, code in (("fp8", E4M3, 0), ("fp8-e5m2", E5M2, 1)):
        for acc_name, model_spec in (("", (32, 13, 128)), ("|fp32", None)):
            big = sf.largest(fmt)

            def fp8_product(a, a_amax, b_rows, b_amax):
                """a [M, K] activation, b_rows [N, K] weight rows; returns sa·sb·Σ."""
                sa, sb = a_amax / big, b_amax / big
                ca, cb = sf.to_format(a / sa, fmt), sf.to_format(b_rows / sb, fmt)
                if model_spec is None:
                    s = np.zeros((a.shape[0], b_rows.shape[0]), F32)
                    for p in range(a.shape[1]):
                        s = (s + ca[:, p:p + 1] * cb[None, :, p]).astype(F32)
                else:
                    s = sf.accumulate(ca, cb.T, *model_spec)
                return F32(sa * sb) * s

            wc_amax, wg_amax, wm_amax = (F32(np.abs(w).max()) for w in (wc, wg, wm))
            cols, oh, ow = im2col(x, 3, 3, 1)
            c = np.stack([fp8_product(cols[n].T, ranges["x"], wc.reshape(8, -1), wc_amax).T for n in range(2)])
            c = c + bc[None, :, None]
            flat = np.maximum(c, 0).reshape(2, -1).astype(F32)
            g = fp8_product(flat, ranges["flat"], wg, wg_amax) + bg
            y = fp8_product(g.astype(F32), ranges["g"], wm.T, wm_amax)
            results[name + acc_name] = y.astype(F32)

    # NVFP4 / MX: both operands block-quantized along the reduction axis, FP32 sums.
    def block_run(quant_act, quant_w):
        cols_x = quant_act(x, "x", axis=1)
        cols, oh, ow = im2col(cols_x, 3, 3, 1)
        c = np.einsum("mk,nkp->nmp", quant_w(wc, axis=1, spans=1).reshape(8, -1), cols) + bc[None, :, None]
        flat = np.maximum(c, 0).reshape(2, -1).astype(F32)
        g = quant_act(flat, "flat", axis=1) @ quant_w(wg, axis=1).T + bg
        return (quant_act(g.astype(F32), "g", axis=1) @ quant_w(wm, axis=0)).astype(F32)

    nv_act = lambda t, n, axis: q(t, 1, axis, 0, (F32(ranges[n] / F32(448 * 6)),))  # noqa: E731
    nv_w = lambda t, axis, spans=0: q(t, 1, axis, spans, (F32(np.abs(t).max() / F32(448 * 6)),))  # noqa: E731
    results["nvfp4"] = block_run(nv_act, nv_w)
    for name, code in (("mxfp8", 0), ("mxfp4", 2)):
        results[name] = block_run(lambda t, n, axis, c=code: q(t, 2, axis, 0, (c,)), lambda t, axis, spans=0, c=code: q(t, 2, axis, spans, (c,)))

    # INT4 weight-only: everything FP16 (inputs, constants, every node's output), product weights INT4.
    def int4w(block, symmetric):
        h = lambda t: np.asarray(t, F32).astype(np.float16).astype(F32)  # noqa: E731
        w4 = lambda t, axis, spans=0: q(t, 3, axis, spans, (block, symmetric, 1))  # noqa: E731
        xh = h(x)
        cols, oh, ow = im2col(xh, 3, 3, 1)
        c = h(np.einsum("mk,nkp->nmp", w4(wc, 1, 1).reshape(8, -1), cols) + h(bc)[None, :, None])
        r = h(np.maximum(c, 0))
        flat = r.reshape(2, -1)
        g = h(flat @ w4(wg, 1).T + h(bg))
        return h(g @ w4(wm, 0))
    results["int4w"] = int4w(128, 1)
    results["int4w|32|asymmetric"] = int4w(32, 0)
    np.savez(os.path.join(out, "reference.npz"), **results)


if __name__ == "__main__":
    main()
