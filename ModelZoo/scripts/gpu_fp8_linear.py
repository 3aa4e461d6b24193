#!/usr/bin/env python3
"""Real FP8 products on a GPU for the linear layers of a transformer encoder and of two CNN
classifiers, to judge Touchstone's simulated FP8 (fp8_linear_compare.py runs the same products
in Touchstone on the CPU).

    python3 ModelZoo/scripts/gpu_fp8_linear.py OUT [--device cuda]

Models (weights drawn from numpy, seeded by each parameter's name, so that the CPU side rebuilds
the linear layers' weights without torch): a BERT-base encoder of 2 layers (transformers'
BertModel, sequence of 64 random token ids), torchvision's resnet18 (fc) and mobilenet_v3_small
(the two classifier layers) on 8 random images. Each nn.Linear's input X is captured from an FP32
forward pass (TF32 off). Per layer, with TensorRT's / Model Optimizer's FP8 semantics:
amax_x = max|X| (rounded through an INT8 calibration cache's scale, amax/127 · 127, as Touchstone
reads it back), amax_w = max|W|, scales amax/448, operands rounded to float8_e4m3fn saturating,
Y = torch._scaled_mm(Xq, Wqᵀ, scale_x, scale_w) in float32 without the bias, with cuBLAS's default
accumulation and with use_fast_accum.

Where the GPU's operand codes differ from IEEE rounding of the same quotients, their positions,
codes and quotients are saved ("|x_override_at", "|x_override_code", ...), and a probe of the cast
at the midpoints between E4M3 values ("cast_probe|x", "cast_probe|gpu").

Writes OUT/fp8_linear.npz ("<model>|<layer>|x", "|y", "|y_fast", float32; "|max_x" and "|amax_x"
1-element arrays) and OUT/fp8_linear.json (layers with their weight shapes and seeds, device, versions).
"""
import argparse
import json
import os
import zlib

import numpy as np
import torch


def seeded_(module, prefix):
    """Fills every parameter and buffer of `module` from numpy, seeded by its full name."""
    for name, p in list(module.named_parameters()) + list(module.named_buffers()):
        full = f"{prefix}.{name}"
        if p.dtype not in (torch.float32,):
            continue
        p.data.copy_(torch.from_numpy(parameter_values(full, tuple(p.shape), name)))


def parameter_values(full_name, shape, name):
    """The numpy values of one parameter: norms' weights 1 and biases 0, running variances 1,
    other biases small, weights N(0, 1/fan_in)."""
    rng = np.random.default_rng(zlib.crc32(full_name.encode()))
    leaf = name.rsplit(".", 1)[-1]
    if "running_var" in leaf:
        return np.ones(shape, np.float32)
    if "running_mean" in leaf or "num_batches" in leaf:
        return np.zeros(shape, np.float32)
    if len(shape) == 1:
        # Every 1-D weight of these models is a norm's scale.
        if leaf == "weight":
            return np.ones(shape, np.float32)
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)
    fan_in = int(np.prod(shape[1:]))
    return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)


def models(names):
    import torchvision

    images = torch.from_numpy(np.random.default_rng(2).standard_normal((8, 3, 224, 224)).astype(np.float32))
    out = []
    if "bert" in names:
        from transformers import BertConfig, BertModel

        bert = BertModel(BertConfig(num_hidden_layers=2, hidden_act="gelu"), add_pooling_layer=True)
        ids = torch.from_numpy(np.random.default_rng(1).integers(0, 30522, (1, 64)))
        out.append(("bert", bert, {"input_ids": ids}))
    if "resnet18" in names:
        out.append(("resnet18", torchvision.models.resnet18(weights=None), {"x": images}))
    if "mobilenet_v3_small" in names:
        out.append(("mobilenet_v3_small", torchvision.models.mobilenet_v3_small(weights=None), {"x": images}))
    return out


def fp8(t, scale):
    return (t / scale).clamp(-448, 448).to(torch.float8_e4m3fn)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--models", default="bert,resnet18,mobilenet_v3_small")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    os.makedirs(args.out, exist_ok=True)
    arrays, layers = {}, []
    for model_name, model, feed in models(args.models.split(",")):
        seeded_(model, model_name)
        model.eval().to(args.device)
        captured = {}
        hooks = []

        def capture(name):
            def hook(module, inputs, output):
                # Returns None: a forward hook's result would replace the module's output.
                captured.setdefault(name, inputs[0].detach().reshape(-1, inputs[0].shape[-1]).clone())
            return hook

        for name, m in model.named_modules():
            if isinstance(m, torch.nn.Linear):
                hooks.append(m.register_forward_hook(capture(name)))
        with torch.no_grad():
            feed = {k: v.to(args.device) for k, v in feed.items()}
            model(**feed) if model_name == "bert" else model(feed["x"])
        for h in hooks:
            h.remove()
        for name, x in captured.items():
            w = dict(model.named_modules())[name].weight.detach()
            m = x.abs().max().float()
            amax_x = (m / 127) * 127
            sx, sw = amax_x / 448, w.abs().max().float() / 448
            xq, wq = fp8(x, sx), fp8(w, sw)
            key = f"{model_name}|{name}"
            # Where the GPU's FP8 operands differ from the CPU's (IEEE division, then torch's CPU
            # conversion, which rounds to nearest even as ml_dtypes does): positions and the GPU's
            # codes, so that the CPU side can rebuild exactly what the GPU multiplied; and how many
            # quotients the GPU's division gave differently.
            for tag, t, s_, q in (("x", x, sx, xq), ("w", w, sw, wq)):
                quotient = (t / s_).clamp(-448, 448)
                cpu_quotient = (t.cpu() / s_.cpu()).clamp(-448, 448)
                arrays[f"{key}|{tag}_division_differs"] = np.array([int((cpu_quotient != quotient.cpu()).sum())])
                cpu_codes = cpu_quotient.to(torch.float8_e4m3fn).view(torch.uint8).reshape(-1)
                gpu_codes = q.cpu().view(torch.uint8).reshape(-1)
                where = torch.nonzero(cpu_codes != gpu_codes).reshape(-1)
                arrays[f"{key}|{tag}_override_at"] = where.numpy().astype(np.int64)
                arrays[f"{key}|{tag}_override_code"] = gpu_codes[where].numpy()
                arrays[f"{key}|{tag}_override_quotient"] = quotient.reshape(-1)[where.to(quotient.device)].cpu().numpy()
            # _scaled_mm wants dimensions divisible by 16: zero rows pad X and W, then are cut off.
            rows, cols = xq.shape[0], wq.shape[0]
            xq = torch.cat([xq, torch.zeros(((-rows) % 16, xq.shape[1]), dtype=xq.dtype, device=xq.device)])
            wq = torch.cat([wq, torch.zeros(((-cols) % 16, wq.shape[1]), dtype=wq.dtype, device=wq.device)])
            ys = [torch._scaled_mm(xq, wq.t(), scale_a=sx, scale_b=sw, out_dtype=torch.float32, use_fast_accum=fast)[:rows, :cols] for fast in (False, True)]
            # The same product 16 output columns at a time (another tiling of the same sums).
            sliced = torch.cat([torch._scaled_mm(xq, wq[j:j + 16].t(), scale_a=sx, scale_b=sw, out_dtype=torch.float32)
                                for j in range(0, wq.shape[0], 16)], dim=1)[:rows, :cols]
            arrays[key + "|y_sliced"] = sliced.cpu().numpy()
            arrays[key + "|x"] = x.float().cpu().numpy()
            arrays[key + "|amax_x"] = amax_x.reshape(1).cpu().numpy()
            arrays[key + "|max_x"] = m.reshape(1).cpu().numpy()
            arrays[key + "|y"] = ys[0].cpu().numpy()
            arrays[key + "|y_fast"] = ys[1].cpu().numpy()
            layers.append({"model": model_name, "layer": name, "weight": f"{model_name}.{name}.weight", "shape": list(w.shape)})
        model.cpu()
    # The conversion itself: float32 values at, just below and just above the midpoints between
    # neighbouring E4M3 values, converted on the GPU.
    import ml_dtypes
    grid = np.arange(0, 127, dtype=np.uint8).view(ml_dtypes.float8_e4m3fn).astype(np.float32)
    mids = ((grid[:-1].astype(np.float64) + grid[1:]) / 2).astype(np.float32)
    probe = np.concatenate([mids, np.nextafter(mids, np.float32(0)), np.nextafter(mids, np.float32(1e9))])
    probe = np.concatenate([probe, -probe])
    arrays["cast_probe|x"] = probe
    arrays["cast_probe|gpu"] = torch.from_numpy(probe).to(args.device).to(torch.float8_e4m3fn).cpu().view(torch.uint8).numpy()
    np.savez(os.path.join(args.out, "fp8_linear.npz"), **arrays)
    meta = {"device": torch.cuda.get_device_name(0) if args.device == "cuda" else args.device, "torch": torch.__version__, "layers": layers}
    json.dump(meta, open(os.path.join(args.out, "fp8_linear.json"), "w"), indent=1)
    print(json.dumps({k: v for k, v in meta.items() if k != "layers"}), len(layers), "layers")


if __name__ == "__main__":
    main()
