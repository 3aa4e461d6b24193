"""Writes numpy/ml_dtypes quantize-dequantize of the scaled low-precision formats and the FP8
tensor-core accumulation model, the references of ScaledFormatTests.

    python3 ModelZoo/scripts/scaled_formats_reference.py OUT.npz [--seed 0]

Each case i has `case<i>_x` (float32 input), `case<i>_y` (the expected output, float32) and
`case<i>_spec` (float32: kind, axis, spans_rest, then the kind's parameters; see CASES below).
Kinds: 0 fp8 (format code, scale), 1 nvfp4 (global scale), 2 mx (format code), 3 int4 (block size,
symmetric, half scales). Format codes: 0 e4m3fn, 1 e5m2, 2 e2m1fn.
FP8 accumulation: `acc<j>_a` [M, K] and `acc<j>_b` [K, N] (E4M3 values as float32),
`acc<j>_spec` (group size, fraction bits, promotion interval or 0), `acc<j>_y` the model's sums.
Float32 arithmetic throughout where the definition is float32 (divisions by scales, products with
them); rounding to the element formats by ml_dtypes (ties to even), saturating by clipping first.
"""
import argparse

import ml_dtypes
import numpy as np

F32 = np.float32
FORMATS = [ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2, ml_dtypes.float4_e2m1fn]


def largest(t):
    return F32(ml_dtypes.finfo(t).max)


def to_format(v, t):
    """float32 values rounded to format t (ties to even), saturating; back to float32."""
    v = np.asarray(v, F32)
    m = largest(t)
    return np.clip(v, -m, m).astype(t).astype(F32)


def blocks(x, axis, spans_rest, size):
    """Yields (index arrays) for each block along the axis."""
    shape = x.shape
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    length = int(np.prod(shape[axis:], dtype=np.int64)) if spans_rest else shape[axis]
    inner = 1 if spans_rest else int(np.prod(shape[axis + 1:], dtype=np.int64))
    flat = np.arange(x.size).reshape(outer, length, inner)
    for o in range(outer):
        for i in range(inner):
            for s in range(0, length, size):
                yield flat[o, s:s + size, i]


def quantize(x, kind, axis, spans_rest, params):
    y = np.empty_like(x)
    xf, yf = x.reshape(-1), y.reshape(-1)
    size = {0: 1, 1: 16, 2: 32, 3: int(params[0]) if kind == 3 else 1}[kind]
    if kind == 0:
        t, scale = FORMATS[int(params[0])], F32(params[1])
        return to_format(x / scale, t) * scale
    for idx in blocks(x, axis, spans_rest, size):
        v = xf[idx]
        amax = F32(np.max(np.abs(v))) if v.size else F32(0)
        if kind == 1:
            g = F32(params[0])
            bs = to_format(amax / F32(6) / g, ml_dtypes.float8_e4m3fn)
            scale = F32(bs * g)
            yf[idx] = 0 if scale == 0 else to_format(v / scale, ml_dtypes.float4_e2m1fn) * scale
        elif kind == 2:
            t = FORMATS[int(params[0])]
            if amax == 0:
                yf[idx] = 0
                continue
            emax = {0: 8, 1: 15, 2: 2}[int(params[0])]
            e = int(np.frexp(amax)[1]) - 1 - emax
            scale = F32(2.0 ** max(-127, min(127, e)))
            yf[idx] = to_format(v / scale, t) * scale
        else:
            symmetric, half = bool(params[1]), bool(params[2])
            if amax == 0:
                yf[idx] = 0
                continue
            if symmetric:
                scale, zero, lo, hi = F32(amax / F32(7)), F32(0), F32(-8), F32(7)
            else:
                top, bottom = max(F32(v.max()), F32(0)), min(F32(v.min()), F32(0))
                scale, lo, hi = F32((top - bottom) / F32(15)), F32(0), F32(15)
            if half:
                scale = F32(np.float16(scale))
            if not symmetric:
                zero = F32(np.clip(np.round(-min(F32(v.min()), F32(0)) / scale), 0, 15))
            q = np.round(v / scale).astype(F32) + zero
            out = (np.clip(q, lo, hi) - zero) * scale
            yf[idx] = out.astype(np.float16).astype(F32) if half else out
    return y


def expo(v):
    a = np.abs(v)
    return np.where(a > 0, np.frexp(np.where(a > 0, a, 1.0))[1] - 1, -(1 << 21))


def accumulate(a, b, group, bits, promotion):
    """The tensor-core model: per output, groups of `group` products; addends (running sum
    included) cut toward zero to 2^(emax - bits), emax the largest of the running sum's exponent
    and the products' operand exponent sums; every `promotion` products the partial sum joins a
    float32 total."""
    A, B = a.astype(np.float64), b.astype(np.float64)
    EA, EB = expo(A), expo(B)
    M, K = A.shape
    N = B.shape[1]
    total = np.zeros((M, N), F32)
    chunk = promotion if promotion else K
    for c0 in range(0, K, chunk):
        acc = np.zeros((M, N))
        for g0 in range(c0, min(c0 + chunk, K), group):
            g1 = min(g0 + group, c0 + chunk, K)
            P = A[:, g0:g1, None] * B[None, g0:g1, :]
            E = np.where(P != 0, EA[:, g0:g1, None] + EB[None, g0:g1, :], -(1 << 22))
            emax = np.maximum(E.max(axis=1), np.where(acc != 0, expo(acc), -(1 << 22)))
            live = emax > -(1 << 20)
            q = np.ldexp(1.0, np.where(live, emax - bits, 0))
            s = np.trunc(acc / q) + np.trunc(P / q[:, None, :]).sum(axis=1)
            acc = np.where(live, (s * q).astype(F32).astype(np.float64), acc)
        total = (total + acc.astype(F32)).astype(F32)
    return total


CASES = [
    # kind, axis, spans_rest, params, shape, scale of the data
    (0, 0, 0, (0, 0.01), (4, 300), 1.0), (0, 0, 0, (1, 0.5), (4, 300), 100.0), (0, 0, 0, (0, 2.0), (1000,), 1000.0),
    (1, 1, 0, (0.002,), (8, 64), 1.0), (1, 0, 0, (0.0005,), (48, 5), 1.0), (1, 1, 1, (0.01,), (6, 3, 3, 3), 3.0),
    (2, 1, 0, (0,), (8, 96), 1.0), (2, 1, 0, (2,), (8, 96), 10.0), (2, 0, 0, (1,), (70, 3), 0.001), (2, 1, 1, (2,), (4, 5, 3, 3), 1.0),
    (3, 1, 0, (32, 1, 0), (8, 128), 1.0), (3, 1, 0, (64, 0, 1), (8, 128), 1.0), (3, 0, 0, (128, 0, 0), (256, 6), 0.05),
    (3, 1, 1, (32, 1, 1), (4, 16, 3, 3), 1.0),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    arrays = {}
    for i, (kind, axis, spans, params, shape, scale) in enumerate(CASES):
        x = (rng.standard_normal(shape) * scale).astype(F32)
        flat = x.reshape(-1)
        # Outliers, zeros and a whole zero block, so that saturation and empty blocks are exercised.
        flat[rng.integers(0, flat.size, 5)] *= 40
        flat[:40] = 0 if kind in (1, 2, 3) else flat[:40]
        flat[rng.integers(0, flat.size, 7)] = 0
        arrays[f"case{i}_x"] = x
        arrays[f"case{i}_y"] = quantize(x, kind, axis, spans, params)
        arrays[f"case{i}_spec"] = np.array([kind, axis, spans, *params], F32)
    for j, (m, k, n, spec) in enumerate([(8, 256, 8, (32, 13, 128)), (8, 1000, 8, (32, 13, 128)), (8, 700, 8, (32, 13, 0)), (5, 96, 7, (16, 10, 32))]):
        a = to_format(rng.standard_normal((m, k)), ml_dtypes.float8_e4m3fn)
        b = to_format(rng.standard_normal((k, n)) * 0.01, ml_dtypes.float8_e4m3fn)
        a[0, :3] = 0
        arrays[f"acc{j}_a"], arrays[f"acc{j}_b"] = a, b
        arrays[f"acc{j}_spec"] = np.array(spec, F32)
        arrays[f"acc{j}_y"] = accumulate(a, b, *spec)
    np.savez(args.out, **arrays)


if __name__ == "__main__":
    main()
