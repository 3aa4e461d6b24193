#!/usr/bin/env python3
"""Where an FP16 run of a cross-check architecture loses accuracy, node by node: every node of the
torch.fx graph (batch norms folded, as gpu_fp16_gap.py's "folded" variant) run in float16 and in
float64 on the same device, the SQNR of each node's output against its float64 twin.

    python3 ModelZoo/scripts/gpu_fp16_nodes.py OUT [--models a,b] [--batch 8] [--device cuda] [--split-bias]

--split-bias runs each biased convolution as PyTorch's CUDA path runs it (cuDNN writes the
convolution's sum in float16, a separate kernel adds the bias and rounds again), on any device, to
check that this is the difference between a CPU and a GPU FP16 run. Writes OUT/gpu_fp16_nodes.json:
model → list of [node name, op, SQNR in dB] in graph order, and the output's SQNR.
"""
import argparse
import copy
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crosscheck_models as cm  # noqa: E402
import gpu_fp16_gap as gap  # noqa: E402


class SplitBias(nn.Module):
    """A convolution whose bias is added to its rounded output, not inside its sum."""

    def __init__(self, conv):
        super().__init__()
        self.conv = conv
        self.bias = conv.bias
        conv.bias = None

    def forward(self, x):
        return self.conv(x) + self.bias.view(1, -1, 1, 1)


def split_bias(module):
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Conv2d) and child.bias is not None:
            setattr(module, name, SplitBias(child))
        else:
            split_bias(child)
    return module


def node_outputs(graph_module, x):
    """Every tensor-valued node's output, by node name, in graph order."""
    outs = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            y = super().run_node(n)
            if isinstance(y, torch.Tensor) and y.is_floating_point():
                outs[n.name] = (str(n.target) if n.op != "call_module" else type(self.module.get_submodule(n.target)).__name__, y.detach().double().cpu())
            return y

    Recorder(graph_module).run(x)
    return outs


def sqnr(ref, y):
    e = float(((ref - y) ** 2).sum())
    return float("inf") if e == 0 else float(10 * np.log10(float((ref ** 2).sum()) / e))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--models", default="efficientnet_b0,mobilenet_v3_small,squeezenet1_1")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--split-bias", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    dev = torch.device(args.device)
    gap.plain_cuda_numerics()
    result = {"device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu", "torch": torch.__version__,
              "split_bias": args.split_bias, "models": {}}
    for name in args.models.split(","):
        model = gap.folded(name).eval()
        if args.split_bias:
            model = torch.fx.symbolic_trace(split_bias(model))
        x = torch.from_numpy(gap.batch_inputs(name, args.batch)).to(dev)
        with torch.no_grad():
            ref = node_outputs(copy.deepcopy(model).to(dev).double(), x.double())
            half = node_outputs(copy.deepcopy(model).to(dev).half(), x.half())
        rows = [[n, op, sqnr(r.numpy(), half[n][1].numpy())] for n, (op, r) in ref.items() if n in half]
        result["models"][name] = {"nodes": rows, "output": rows[-1][2] if rows else None}
        print(name, f"{rows[-1][2]:.1f} dB", flush=True)
    with open(os.path.join(args.out, "gpu_fp16_nodes.json"), "w") as f:
        json.dump(result, f, indent=0)


if __name__ == "__main__":
    main()
