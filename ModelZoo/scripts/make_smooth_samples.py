"""Writes seeded smooth images for a model's first input, one .npy per sample (no batch axis), as
sample data for `touchstone calibrate` and `touchstone report` on models without a dataset here:
each image is a 2-D cumulative sum of Gaussian noise, normalized to mean 0 and deviation 1.

    python3 ModelZoo/scripts/make_smooth_samples.py --model ModelZoo/generated/models/resnet18.onnx --count 16 --out /tmp/smooth16
"""
import argparse
import os

import numpy as np
import onnx

import zoo


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    m = onnx.load(args.model, load_external_data=False)
    shape = [d.dim_value or 1 for d in m.graph.input[0].type.tensor_type.shape.dim][1:]
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    for k in range(args.count):
        np.save(os.path.join(args.out, f"{k:04d}.npy"), zoo.smooth_image(rng, shape))
    print(f"wrote {args.count} samples of shape {shape} to {args.out}")


if __name__ == "__main__":
    main()
