"""Exports torchvision architectures (default-initialised weights) to ONNX, on demand.

These models are too large to commit; this script writes them, seeded inputs at batch 1 and 2
and onnxruntime's outputs under ModelZoo/generated/, with a manifest there.

    python3 ModelZoo/scripts/make_torchvision.py [--models resnet18,...] [--opset 17] [--size 224]
"""
import argparse
import os

import numpy as np
import torch

import zoo

ARCHITECTURES = [
    "resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1",
    "googlenet", "densenet121", "shufflenet_v2_x1_0", "efficientnet_b0", "vgg11",
]


def build(torchvision, name):
    kwargs = {"weights": None}
    if name == "googlenet":
        kwargs.update(aux_logits=False, init_weights=True)
    return getattr(torchvision.models, name)(**kwargs).eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(ARCHITECTURES))
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--suffix", default="", help="appended to each model's name (for variants)")
    args = ap.parse_args()
    torchvision = zoo.import_torchvision()
    root = zoo.GENERATED
    os.makedirs(os.path.join(root, "models"), exist_ok=True)
    entries = []
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = build(torchvision, name)
        entry_name = name + args.suffix
        model_file = f"models/{entry_name}.onnx"
        x = torch.randn(1, 3, args.size, args.size)
        torch.onnx.export(
            model, (x,), os.path.join(root, model_file), dynamo=False, opset_version=args.opset,
            input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
        rng = np.random.default_rng(0)
        for batch in (1, 2):
            feeds = {"input": rng.standard_normal((batch, 3, args.size, args.size), dtype=np.float32)}
            entries.append(zoo.write_entry(
                root, f"{entry_name}_b{batch}", model_file, feeds, opset=args.opset,
                extra={"architecture": name, "batch": batch},
            ))
        print(f"exported {entry_name} (opset {args.opset}, {args.size}x{args.size})", flush=True)
    zoo.update_manifest(root, entries)


if __name__ == "__main__":
    main()
