#!/usr/bin/env python3
"""Measures how a GPU sums FP8 products (`torch._scaled_mm`, float8_e4m3fn operands, per-tensor
scales of 1), so that Touchstone's simulated FP8 accumulation can be fitted to it.

    python3 ModelZoo/scripts/gpu_fp8_accumulation.py OUT [--device cuda]

Every operand is drawn here from numpy with a fixed seed and rounded to E4M3 on the CPU (through
ml_dtypes), so the same operands can be rebuilt anywhere; only the GPU's float32 results are
saved, in OUT/fp8_accumulation.npz:

- "random|<fast>|K": A [64, K] @ B [K, 64], entries N(0, 1) rounded to E4M3, for K in 256…65536
  and use_fast_accum False and True. The exact sum is computed later in float64.
- "probe|<fast>|<exp>|<small>": A [512, 512] @ B [512, 16] where row i of A holds 1 at column 0
  and a small power of two at column i (none in row 0); B's column j holds 1 at row 0 and 2^-j
  (j < 10) below. A sum of 1 and one small product keeps the small part only where the
  accumulator that sees both holds enough bits: which (row, column) keep it shows the
  accumulator's width and where partial sums are promoted to float32.
- "pairs|<fast>|K": like "random" with A's entries 2^-e·sign for a few exponents, for the width.

OUT/fp8_accumulation.json holds the device, versions and the arrays' recipes.
"""
import argparse
import json
import os

import ml_dtypes
import numpy as np
import torch


def e4m3(x):
    return np.asarray(x, dtype=np.float32).astype(ml_dtypes.float8_e4m3fn)


def scaled_mm(a8, b8, fast, device):
    """a8 [M, K], b8 [K, N] as ml_dtypes E4M3 arrays; returns float32 [M, N] from the GPU."""
    a = torch.from_numpy(a8.view(np.uint8).copy()).view(torch.float8_e4m3fn).to(device)
    # _scaled_mm wants B column-major: pass B^T's row-major storage, transposed.
    bt = torch.from_numpy(np.ascontiguousarray(b8.T).view(np.uint8).copy()).view(torch.float8_e4m3fn).to(device)
    one = torch.ones((), dtype=torch.float32, device=device)
    y = torch._scaled_mm(a, bt.t(), scale_a=one, scale_b=one, out_dtype=torch.float32, use_fast_accum=fast)
    return y.float().cpu().numpy()


def random_operands(k, seed):
    rng = np.random.default_rng(seed)
    return e4m3(rng.standard_normal((64, k))), e4m3(rng.standard_normal((k, 64)))


def probe_operands(small_exp):
    a = np.zeros((512, 512), np.float32)
    a[:, 0] = 1
    for i in range(1, 512):
        a[i, i] = 2.0 ** -small_exp
    b = np.zeros((512, 16), np.float32)
    b[0, :] = 1
    for j in range(16):
        b[1:, j] = 2.0 ** -min(j, 9)
    return e4m3(a), e4m3(b)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--device", default="cuda")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    arrays, recipes = {}, {}
    for fast in (False, True):
        for k in (256, 1024, 4096, 16384, 65536):
            a8, b8 = random_operands(k, seed=k)
            arrays[f"random|{int(fast)}|{k}"] = scaled_mm(a8, b8, fast, args.device)
        for small_exp in (0, 3, 6, 9):
            a8, b8 = probe_operands(small_exp)
            arrays[f"probe|{int(fast)}|{small_exp}"] = scaled_mm(a8, b8, fast, args.device)
    recipes["random"] = "rng = numpy.random.default_rng(K); A = e4m3(rng.standard_normal((64, K))); B = e4m3(rng.standard_normal((K, 64)))"
    recipes["probe"] = "A[:,0]=1, A[i,i]=2^-exp (i>=1); B[0,:]=1, B[1:,j]=2^-min(j,9)"
    meta = {
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else args.device,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "ml_dtypes": ml_dtypes.__version__,
        "recipes": recipes,
    }
    np.savez_compressed(os.path.join(args.out, "fp8_accumulation.npz"), **arrays)
    with open(os.path.join(args.out, "fp8_accumulation.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
