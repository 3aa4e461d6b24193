#!/usr/bin/env python3
"""Checks what a GPU's FP8 matrix product does with each E4M3 operand value, and with operands
quantized from float32 values at and near the midpoints between E4M3 values (where an H200's
products of BERT's linear layers were seen to differ from the exact sums of the operands' codes).

    python3 ModelZoo/scripts/gpu_fp8_ties.py OUT

Writes OUT/fp8_ties.npz: "codes" (all 126 finite positive E4M3 codes and their negatives, as
uint8), "products|<fast>" (the GPU's X·Wᵀ where X is the identity and W holds each code on its
diagonal: each output must be the code's value), and "ties|x", "ties|codes|gpu" (the GPU's cast of
float32 values at and beside the midpoints) with "ties|products|<fast>" (the GPU's one-hot products
of those casts, scale 1).
"""
import os
import sys

import ml_dtypes
import numpy as np
import torch


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    dev = "cuda"
    one = torch.ones((), device=dev)
    arrays = {}
    codes = np.concatenate([np.arange(1, 127, dtype=np.uint8), np.arange(1, 127, dtype=np.uint8) | 0x80])
    n = len(codes) + (-len(codes)) % 16
    arrays["codes"] = codes
    w = np.zeros((n, n), np.uint8)
    w[np.arange(len(codes)), np.arange(len(codes))] = codes
    eye = np.eye(n, dtype=np.float32).astype(ml_dtypes.float8_e4m3fn).view(np.uint8)
    a = torch.from_numpy(eye).to(dev).view(torch.float8_e4m3fn)
    b = torch.from_numpy(w).to(dev).view(torch.float8_e4m3fn)
    for fast in (False, True):
        y = torch._scaled_mm(a, b.t(), scale_a=one, scale_b=one, out_dtype=torch.float32, use_fast_accum=fast)
        arrays[f"products|{int(fast)}"] = y.diagonal()[: len(codes)].cpu().numpy()
    grid = np.arange(0, 127, dtype=np.uint8).view(ml_dtypes.float8_e4m3fn).astype(np.float32)
    mids = ((grid[:-1].astype(np.float64) + grid[1:]) / 2).astype(np.float32)
    x = np.concatenate([mids, np.nextafter(mids, np.float32(0)), np.nextafter(mids, np.float32(1e9))])
    x = np.concatenate([x, -x])
    arrays["ties|x"] = x
    q = torch.from_numpy(x).to(dev).to(torch.float8_e4m3fn)
    arrays["ties|codes|gpu"] = q.cpu().view(torch.uint8).numpy()
    m = len(x) + (-len(x)) % 16
    wt = torch.zeros((m, m), dtype=torch.float8_e4m3fn, device=dev)
    wt[torch.arange(len(x)), torch.arange(len(x))] = q
    ai = torch.eye(m, device=dev).to(torch.float8_e4m3fn)
    for fast in (False, True):
        y = torch._scaled_mm(ai, wt.t(), scale_a=one, scale_b=one, out_dtype=torch.float32, use_fast_accum=fast)
        arrays[f"ties|products|{int(fast)}"] = y.diagonal()[: len(x)].cpu().numpy()
    np.savez(os.path.join(out, "fp8_ties.npz"), **arrays)
    ok = all((arrays[f"products|{f}"] == codes.view(ml_dtypes.float8_e4m3fn).astype(np.float32)).all() for f in (0, 1))
    print("every code multiplies as its value:", ok)


if __name__ == "__main__":
    main()
