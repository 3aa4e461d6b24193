"""Writes the digits model's held-out samples as a data directory for `touchstone calibrate` and
`touchstone report`: one .npy per sample ([1, 8, 8] float32, named so that file order is sample
order) and labels.txt (one label per line, same order). Reads ModelZoo/data/digits_test.npz, which
make_digits.py writes.
"""
import os

import numpy as np

import zoo

src = np.load(os.path.join(zoo.ZOO, "data", "digits_test.npz"))
out = os.path.join(zoo.ZOO, "data", "digits_samples")
os.makedirs(out, exist_ok=True)
for i, image in enumerate(src["images"]):
    np.save(os.path.join(out, f"{i:04d}.npy"), image.astype(np.float32))
with open(os.path.join(zoo.ZOO, "data", "digits_labels.txt"), "w") as f:
    f.write("".join(f"{int(v)}\n" for v in src["labels"]))
print(f"wrote {len(src['images'])} samples to {out}")
