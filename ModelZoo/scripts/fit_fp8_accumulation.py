"""Fits the FP8 tensor-core accumulation model to an H200's `torch._scaled_mm` results
(gpu_fp8_accumulation.py, saved in Benchmarks/fp8/) and prints the table in Benchmarks/RESULTS.md.

    python3 ModelZoo/scripts/fit_fp8_accumulation.py [Benchmarks/fp8/h200_fp8_accumulation.npz]

The probes first: a sum of 1 and one small product keeps the small part only where the
accumulator holds it, which shows the width (13 bits below the leading bit: 1 + 2^-13 kept,
1 + 2^-14 lost) and the promotion interval (with cuBLAS's default the small part survives only
when it lies 128 or more products after the 1: partial sums of 128 products are added in
float32). Then random operands: SQNR against float64 sums of the GPU and of candidate models
(group size, fraction bits; cut toward zero), and the share of outputs the model gets bit for bit.
"""
import os
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import gpu_fp8_accumulation as gpu  # noqa: E402
import scaled_formats_reference as ref  # noqa: E402


def sqnr(exact, y):
    err = ((exact - y.astype(np.float64)) ** 2).sum()
    return float("inf") if err == 0 else 10 * np.log10((exact ** 2).sum() / err)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "Benchmarks", "fp8", "h200_fp8_accumulation.npz")
    z = np.load(path)
    print("probes: rows where 1 + 2^-e keeps its small part (of 511), by e; cuBLAS default | fast accumulation")
    for fast in (0, 1):
        kept = {}
        for small in (0, 3, 6, 9):
            y = z[f"probe|{fast}|{small}"]
            for j in range(16):
                e = small + min(j, 9)
                kept[e] = int((y[1:, j] != 1.0).sum())
        lost_rows = np.where(z[f"probe|{fast}|9"][1:, 8] == 1.0)[0] + 1
        print(f"  {'fast' if fast else 'default'}: " + ", ".join(f"2^-{e}: {kept[e]}" for e in sorted(kept) if e >= 11)
              + (f"; 2^-17 lost in rows {lost_rows.min()}..{lost_rows.max()}" if len(lost_rows) else ""))
    print()
    print("| K | GPU default | model (32, 13 bits, promotion 128) | bit-exact | GPU fast accumulation | model (no promotion) | bit-exact | FP32 sums |")
    print("|---|---|---|---|---|---|---|---|")
    for k in (256, 1024, 4096, 16384, 65536):
        a, b = gpu.random_operands(k, seed=k)
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
        exact = a32.astype(np.float64) @ b32.astype(np.float64)
        y0, y1 = z[f"random|0|{k}"], z[f"random|1|{k}"]
        m0 = ref.accumulate(a32, b32, 32, 13, 128)
        m1 = ref.accumulate(a32, b32, 32, 13, 0)
        f32 = a32 @ b32
        print(f"| {k} | {sqnr(exact, y0):.2f} dB | {sqnr(exact, m0):.2f} dB | {(m0 == y0).mean():.1%} | {sqnr(exact, y1):.2f} dB | "
              f"{sqnr(exact, m1):.2f} dB | {(m1 == y1).mean():.1%} | {sqnr(exact, f32):.1f} dB |")


if __name__ == "__main__":
    main()
