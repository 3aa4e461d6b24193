"""Writes small .npy/.npz files with numpy itself, so that Touchstone's readers are tested
against the reference writer (ModelZoo/data/npy/). Each array's values are listed in
values.json for the tests to compare with."""
import json
import os

import numpy as np

import zoo

out = os.path.join(zoo.ZOO, "data", "npy")
os.makedirs(out, exist_ok=True)
arrays = {
    "f32": np.array([[1.5, -2.25, 3.0], [0.1, -0.0, 1e-30]], np.float32),
    "f64": np.array([np.pi, -1e300, 2.5], np.float64),
    "f16": np.array([0.1, 65504, -6.1e-5], np.float16),
    "i64": np.array([[-(2**62), 0], [7, 2**40]], np.int64),
    "i32": np.array([-5, 2**31 - 1], np.int32),
    "i8": np.array([-128, 0, 127], np.int8),
    "u8": np.array([0, 200, 255], np.uint8),
    "u32": np.array([0, 2**32 - 1, 77], np.uint32),
    "u64": np.array([0, 2**53, 5], np.uint64),
    "bool": np.array([True, False, True]),
    "scalar": np.array(3.25, np.float32),
    "empty": np.zeros((0, 3), np.float32),
}
values = {}
for name, a in arrays.items():
    np.save(os.path.join(out, f"{name}.npy"), a)
    values[name] = {"dtype": str(a.dtype), "shape": list(a.shape), "values": [float(v) for v in a.reshape(-1)]}
np.savez(os.path.join(out, "stored.npz"), a=arrays["f32"], b=arrays["i64"])
rng = np.random.default_rng(0)
big = rng.standard_normal((64, 50)).astype(np.float32).round(2)  # compressible: exercises deflate's Huffman blocks
np.savez_compressed(os.path.join(out, "compressed.npz"), a=arrays["f32"], big=big)
values["big"] = {"dtype": "float32", "shape": list(big.shape), "values": [float(v) for v in big.reshape(-1)]}
np.save(os.path.join(out, "fortran.npy"), np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
np.save(os.path.join(out, "bigendian.npy"), np.arange(3, dtype=">f4"))
with open(os.path.join(out, "values.json"), "w") as f:
    json.dump(values, f, indent=1)
print("wrote", out)
