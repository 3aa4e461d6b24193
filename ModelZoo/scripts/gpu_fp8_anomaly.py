#!/usr/bin/env python3
"""Looks closer at an output of BERT's linear layers where an H200's FP8 product once seemed to
differ from the exact sum of its operands' codes by one weight step (gpu_fp8_linear.py,
fp8_linear_compare.py). It showed the cause: the GPU's code of weight [222, 580] is 128 where
w/(amax/448) rounds to 144, because PyTorch's scale amax/448 (a multiply by the reciprocal) is one
ulp larger; the products themselves are exact (Benchmarks/fp8/h200_fp8_anomaly.npz holds the run).
It records:
for encoder.layer.1.attention.self.key, column 222, the codes the GEMM was given (after padding),
the GEMM's column, the same product in float32 from the codes on the GPU, and products of that
weight row alone (one output column padded to 16) and of the row with everything but element 580
zeroed.

    python3 ModelZoo/scripts/gpu_fp8_anomaly.py OUT
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_fp8_linear as g  # noqa: E402


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    name, model, feed = g.models(["bert"])[0]
    g.seeded_(model, name)
    model.eval().cuda()
    captured = {}
    layer = "encoder.layer.1.attention.self.key"
    mod = dict(model.named_modules())[layer]

    def hook(module, inputs, output):
        captured.setdefault("x", inputs[0].detach().reshape(-1, inputs[0].shape[-1]).clone())

    h = mod.register_forward_hook(hook)
    with torch.no_grad():
        model(**{k: v.cuda() for k, v in feed.items()})
    h.remove()
    x, w = captured["x"], mod.weight.detach()
    m = x.abs().max().float()
    sx, sw = (m / 127) * 127 / 448, w.abs().max().float() / 448
    xq, wq = g.fp8(x, sx), g.fp8(w, sw)
    one = torch.ones((), device="cuda")
    arrays = {"x_codes": xq.cpu().view(torch.uint8).numpy(), "w_row222": wq[222].cpu().view(torch.uint8).numpy()}
    arrays["y_full"] = torch._scaled_mm(xq, wq.t(), scale_a=one, scale_b=one, out_dtype=torch.float32)[:, 222].cpu().numpy()
    arrays["y_float"] = (xq.float().double() @ wq.float().double().t())[:, 222].cpu().numpy()
    row = torch.zeros((16, wq.shape[1]), dtype=wq.dtype, device="cuda")
    row[0] = wq[222]
    arrays["y_row"] = torch._scaled_mm(xq, row.t(), scale_a=one, scale_b=one, out_dtype=torch.float32)[:, 0].cpu().numpy()
    single = torch.zeros_like(row)
    single[0, 580] = wq[222, 580]
    arrays["y_single"] = torch._scaled_mm(xq, single.t(), scale_a=one, scale_b=one, out_dtype=torch.float32)[:, 0].cpu().numpy()
    arrays["x580"] = xq[:, 580].float().cpu().numpy()
    arrays["w580"] = wq[222, 580].float().reshape(1).cpu().numpy()
    np.savez(os.path.join(out, "fp8_anomaly.npz"), **arrays)
    d = arrays["y_full"] - arrays["y_float"]
    print("w[222,580] =", float(arrays["w580"][0]), "| full − float64 sums: max", float(np.abs(d).max()),
          "| row alone − float64:", float(np.abs(arrays["y_row"] - arrays["y_float"]).max()),
          "| single product − x·w:", float(np.abs(arrays["y_single"] - arrays["x580"] * arrays["w580"][0]).max()))


if __name__ == "__main__":
    main()
