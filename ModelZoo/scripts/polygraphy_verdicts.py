#!/usr/bin/env python3
"""Generates (candidate, reference) pairs and Polygraphy's own verdict on each.

Writes OUT/pairs.npz (arrays c<i> and r<i>) and OUT/verdicts.json (per case: the tolerances and
options given to Polygraphy's `CompareFunc.simple`, its pass/fail and its error statistics). The
Oracle tests read both and check that Touchstone's comparison gives the same verdict and the same
statistics. The pairs vary: sizes, dtypes (float32, a float16 candidate against a float32
reference, float64, int32), tolerances (log-uniform and zero), every error statistic, quantiles,
and planted NaNs, infinities and zeros in the reference.

    python3 ModelZoo/scripts/polygraphy_verdicts.py OUT [--cases 240] [--seed 0]
"""
import argparse
import json
import logging
import os

import numpy as np


def make_case(rng, i):
    n = int(rng.choice([1, 2, 7, 8, 9, 100, 129, 300, 1000, 9000]))
    shape = (n,) if rng.random() < 0.5 or n < 4 else (2, n // 2) if n % 2 == 0 else (n,)
    kind = rng.choice(["float32", "float32", "float32", "float16", "float64", "int32"])
    scale = 10.0 ** rng.uniform(-3, 3)
    ref = (rng.standard_normal(shape) * scale)
    if kind == "int32":
        ref = np.round(ref * 10).astype(np.int32)
        cand = ref + rng.integers(-2, 3, size=shape).astype(np.int32) * (rng.random(shape) < 0.2)
        cand = cand.astype(np.int32)
    else:
        rel_noise = 10.0 ** rng.uniform(-8, -2)
        abs_noise = scale * 10.0 ** rng.uniform(-9, -3)
        cand = ref * (1 + rel_noise * rng.standard_normal(shape)) + abs_noise * rng.standard_normal(shape)
        ref_dtype = np.float64 if kind == "float64" else np.float32
        cand_dtype = np.float16 if kind == "float16" else ref_dtype
        ref = ref.astype(ref_dtype)
        cand = cand.astype(cand_dtype)
        flat_r, flat_c = ref.reshape(-1), cand.reshape(-1)
        # Planted specials.
        if rng.random() < 0.2:
            k = rng.integers(0, flat_r.size, size=max(1, flat_r.size // 10))
            flat_r[k] = 0  # zeros in the reference: relative differences divide by 2.2e-16
            if rng.random() < 0.5:
                flat_c[k] = 0
        if rng.random() < 0.1:
            flat_r[rng.integers(0, flat_r.size)] = np.nan
        if rng.random() < 0.1:
            flat_c[rng.integers(0, flat_c.size)] = np.nan
        if rng.random() < 0.15:
            k = rng.integers(0, flat_r.size)
            s = rng.choice([np.inf, -np.inf])
            flat_r[k] = s
            flat_c[k] = s if rng.random() < 0.7 else -s
    atol = 0.0 if rng.random() < 0.1 else float(10.0 ** rng.uniform(-8, 0) * scale)
    rtol = 0.0 if rng.random() < 0.1 else float(10.0 ** rng.uniform(-7, -1))
    stat = str(rng.choice(["elemwise", "max", "mean", "median", "quantile"]))
    quantile = float(rng.choice([0.5, 0.9, 0.99, 0.999, float(rng.random())]))
    infinities = bool(rng.random() < 0.5)
    return cand, ref, dict(atol=atol, rtol=rtol, check_error_stat=stat, error_quantile=quantile, infinities_compare_equal=infinities)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--cases", type=int, default=240)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from polygraphy.comparator import IterationResult, SimpleCompareFunc
    from polygraphy.logger import G_LOGGER

    G_LOGGER.module_severity = G_LOGGER.CRITICAL
    logging.disable(logging.CRITICAL)
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    arrays, cases = {}, []
    for i in range(args.cases):
        cand, ref, opts = make_case(rng, i)
        func = SimpleCompareFunc(**opts)
        with np.errstate(all="ignore"):
            result = func(IterationResult({"t": cand}, runner_name="candidate"), IterationResult({"t": ref}, runner_name="reference"))["t"]

        def f(x):  # JSON has no NaN or infinity: those are written as strings
            if x is None:
                return None
            x = float(x)
            return x if np.isfinite(x) else ("nan" if np.isnan(x) else "inf" if x > 0 else "-inf")

        arrays[f"c{i}"] = cand
        arrays[f"r{i}"] = ref
        cases.append(dict(
            index=i, **opts, passed=bool(result),
            max_absdiff=f(result.max_absdiff), max_reldiff=f(result.max_reldiff),
            mean_absdiff=f(result.mean_absdiff), mean_reldiff=f(result.mean_reldiff),
            median_absdiff=f(result.median_absdiff), median_reldiff=f(result.median_reldiff),
            quantile_absdiff=f(result.quantile_absdiff), quantile_reldiff=f(result.quantile_reldiff),
        ))
    np.savez(os.path.join(args.out, "pairs.npz"), **arrays)
    with open(os.path.join(args.out, "verdicts.json"), "w") as fh:
        json.dump(dict(polygraphy=__import__("polygraphy").__version__, cases=cases), fh, indent=1, allow_nan=False)
    passed = sum(c["passed"] for c in cases)
    print(f"{len(cases)} cases, {passed} pass and {len(cases) - passed} fail under Polygraphy")


if __name__ == "__main__":
    main()
