#!/usr/bin/env python3
"""FP16 on a GPU against FP64, for the cross-check architectures (crosscheck_models.py): where a real
FP16 run loses more than Touchstone's simulated FP16 predicts, and why.

    python3 ModelZoo/scripts/gpu_fp16_gap.py OUT [--models a,b] [--batch 8] [--device cuda] [--split-bias]

Each model runs as PyTorch builds it (batch norm a separate layer) and with every batch norm folded
into the convolution before it (torch.fx's `fuse`, in float32: the graph an ONNX export or TensorRT
runs). Each variant runs in float64 (its reference), float32 with TF32 off, and float16 (`.half()`),
the last with cuBLAS's reduced-precision reductions allowed (PyTorch's default) and not. The batch is
`--batch` seeded smooth images (batch_inputs). Writes OUT/gpu_fp16_gap.npz
("<model>|<variant>|<run>": the outputs, float64) and OUT/gpu_fp16_gap_meta.json. --split-bias
adds each convolution's bias to its rounded output (gpu_fp16_nodes.SplitBias), as PyTorch's CUDA
convolutions do, on any device.
"""
import argparse
import copy
import json
import os
import sys
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crosscheck_models as cm  # noqa: E402


def batch_inputs(name, batch):
    """`batch` seeded smooth images (mean 0, deviation 1 each) of the architecture's input size."""
    size = cm.ARCHITECTURES[name]
    xs = []
    for k in range(batch):
        rng = np.random.default_rng(zlib.crc32(f"fp16-gap/{name}/{k}".encode()))
        x = np.cumsum(np.cumsum(rng.normal(size=(3, size, size)), axis=-2), axis=-1)
        xs.append((x - x.mean()) / x.std())
    return np.stack(xs).astype(np.float32)


def folded(name):
    """The architecture with each batch norm folded into the convolution before it (in float32)."""
    from torch.fx.experimental.optimization import fuse
    return fuse(cm.build(name))


def plain_cuda_numerics():
    """cuDNN's algorithms chosen by heuristics (not timed), TF32 off: FP32 runs are FP32."""
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--models", default=",".join(cm.ARCHITECTURES))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--split-bias", action="store_true")
    args = ap.parse_args()
    from gpu_fp16_nodes import split_bias
    os.makedirs(args.out, exist_ok=True)
    dev = torch.device(args.device)
    plain_cuda_numerics()
    arrays = {}
    for name in args.models.split(","):
        x = torch.from_numpy(batch_inputs(name, args.batch)).to(dev)
        for variant, model in (("module", cm.build(name)), ("folded", folded(name))):
            model = (split_bias(model) if args.split_bias else model).to(dev).eval()
            with torch.no_grad():
                runs = {"fp32": cm.output_of(model(x))}
                runs["fp64"] = cm.output_of(copy.deepcopy(model).double()(x.double()))
                half = copy.deepcopy(model).half()
                for reduced in (True, False):
                    torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = reduced
                    runs["fp16" if reduced else "fp16-full-reduction"] = cm.output_of(half(x.half()))
                torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = True
            for run, y in runs.items():
                arrays[f"{name}|{variant}|{run}"] = y.double().cpu().numpy()
            del model, half
        print(name, flush=True)
    np.savez_compressed(os.path.join(args.out, "gpu_fp16_gap.npz"), **arrays)
    meta = {
        "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
        "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
        "numpy": np.__version__, "batch": args.batch, "split_bias": args.split_bias,
    }
    with open(os.path.join(args.out, "gpu_fp16_gap_meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
