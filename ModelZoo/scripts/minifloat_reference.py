"""Writes ml_dtypes' conversions of the 8- and 4-bit float formats, the reference for MiniFloatTests.

    python3 ModelZoo/scripts/minifloat_reference.py OUT.npz [--count 20000] [--seed 0]

For each format (e4m3fn, e4m3fnuz, e5m2, e5m2fnuz, e2m1fn, e8m0fnu): `<f>_decoded`, every bit pattern's
value as float32; `<f>_inputs`, float32 values (random normals at every scale of the format, the
midpoints between neighbouring values and their float32 neighbours, zeros, ±inf, NaN, values just
beyond the largest); `<f>_bits`, their conversion by ml_dtypes (no saturation, ties to even), and
`<f>_saturated`, the conversion of the same values clipped to ±largest first (ONNX Cast's and
TensorRT's saturation; ±inf to ±largest, NaN kept); `e8m0cast_<mode>_<0|1>`, ONNX Cast's rounding of
the e8m0fnu inputs into float8e8m0 per round_mode (up, down, nearest), without and with saturation.
Needs numpy, ml_dtypes and onnx.
"""
import argparse

import ml_dtypes
import numpy as np

FORMATS = {
    "e4m3fn": ml_dtypes.float8_e4m3fn, "e4m3fnuz": ml_dtypes.float8_e4m3fnuz, "e5m2": ml_dtypes.float8_e5m2,
    "e5m2fnuz": ml_dtypes.float8_e5m2fnuz, "e2m1fn": ml_dtypes.float4_e2m1fn, "e8m0fnu": ml_dtypes.float8_e8m0fnu,
}
ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--count", type=int, default=20000)
ap.add_argument("--seed", type=int, default=0)
args = ap.parse_args()
rng = np.random.default_rng(args.seed)
arrays = {}
for name, t in FORMATS.items():
    width = 4 if name == "e2m1fn" else 8
    codes = np.arange(1 << width, dtype=np.uint8)
    decoded = codes.view(t).astype(np.float32)  # a 4-bit format is stored one value per byte
    arrays[f"{name}_decoded"] = decoded
    finite = np.unique(np.abs(decoded[np.isfinite(decoded)]))
    largest = float(finite.max())
    mids = (finite[:-1] + finite[1:]) / 2
    with np.errstate(over="ignore"):
        edges = np.concatenate([mids, np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(0)), finite,
                                [largest * 1.01, largest * 1.5, largest * 4, float(finite[finite > 0].min()) / 4]]).astype(np.float32)
    scales = np.exp2(rng.uniform(np.log2(float(finite[finite > 0].min())) - 2, np.log2(largest) + 1, args.count)).astype(np.float32)
    with np.errstate(over="ignore"):
        randoms = (rng.standard_normal(args.count).astype(np.float32) * scales).astype(np.float32)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], np.float32)
    x = np.concatenate([edges, -edges, randoms, special]).astype(np.float32)
    arrays[f"{name}_inputs"] = x
    with np.errstate(invalid="ignore", over="ignore"):
        arrays[f"{name}_bits"] = x.astype(t).view(np.uint8)
        clipped = np.where(np.isnan(x), x, np.clip(x, -largest, largest)).astype(np.float32)
        arrays[f"{name}_saturated"] = clipped.astype(t).view(np.uint8)
# ONNX Cast's float32 → float8e8m0 rule (onnx.numpy_helper.to_float8e8m0) in each round_mode, with
# and without saturation: `e8m0cast_<mode>_<sat>` over the e8m0fnu inputs.
import onnx.numpy_helper  # noqa: E402

e8 = arrays["e8m0fnu_inputs"]
for mode in ("up", "down", "nearest"):
    for sat in (0, 1):
        with np.errstate(invalid="ignore", over="ignore"):
            arrays[f"e8m0cast_{mode}_{sat}"] = onnx.numpy_helper.to_float8e8m0(e8, bool(sat), mode).view(np.uint8)
np.savez(args.out, **arrays)
print(f"wrote {args.out}: " + ", ".join(f"{n} ({len(arrays[n + '_inputs'])} values)" for n in FORMATS))
