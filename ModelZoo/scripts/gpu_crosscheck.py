#!/usr/bin/env python3
"""Runs the cross-check models on a GPU with PyTorch and saves what a backend would hand to
`touchstone compare`: every module's output (by module path), for FP32 with TF32 off, FP32 with
TF32 on, and FP16 (`.half()`), plus runs with planted faults (crosscheck_models.FAULTS).

    python3 ModelZoo/scripts/gpu_crosscheck.py OUT [--models a,b] [--device cuda]

Writes OUT/gpu_<group>.npz (arrays named "<model>|<run>|<module path>[#call]", in the run's own
dtype) and OUT/gpu_meta.json (device, versions). Tensors over `--limit` elements are kept only in
the fault runs, so that the files stay small; crosscheck_compare.py maps module paths to the
ONNX tensors by value and runs the comparisons here.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crosscheck_models as cm  # noqa: E402


def spaced(outs, count):
    """At most `count` of the captured tensors, evenly spaced in call order, and the output."""
    keys = [k for k in outs if k != "__output__"]
    if len(keys) > count:
        keys = [keys[round(i * (len(keys) - 1) / (count - 1))] for i in range(count)]
    return {k: outs[k] for k in keys + ["__output__"]}


def capture(model, x, limit, fault=None):
    """Runs the model and returns {module path: output} for every module whose output is a new
    tensor; `fault` = (kind, module path) plants one fault."""
    import torch.nn.functional as F

    # Every output stays referenced until the run ends, so that no address is reused and the
    # test "this tensor was seen" (a container returns its last child's tensor) stays exact.
    outs, seen, calls, hooks, alive = {}, set(), {}, [], []
    kind, target = fault if fault else (None, None)

    def hook(name):
        def f(module, inp, out):
            if not isinstance(out, torch.Tensor):
                return None
            if name == target and kind == "swap":
                out = out.clone()
                out[:, [0, 1]] = out[:, [1, 0]]
            if name == target and kind == "overflow":
                mag = out.float().abs()
                t = torch.quantile(mag.flatten()[:1 << 20], 0.99)
                out = torch.where(mag > t, torch.sign(out.float()) * float("inf"), out.float()).to(out.dtype)
            # The same tensor returned again (a container returns its last child's) is skipped,
            # unless it was changed in place since (a residual `out += identity`).
            key = (out.data_ptr(), out._version)
            if key in seen:
                return out
            seen.add(key)
            alive.append(out)
            calls[name] = calls.get(name, 0) + 1
            label = name if calls[name] == 1 else f"{name}#{calls[name]}"
            if limit is None or out.numel() <= limit:
                outs[label] = out.detach().clone().cpu().numpy()
            return out
        return f

    for name, module in model.named_modules():
        if name:
            hooks.append(module.register_forward_hook(hook(name)))
    original = F.interpolate
    if kind == "nearest":
        def nearest(*args, **kwargs):
            kwargs["mode"] = "nearest"
            kwargs.pop("align_corners", None)
            return original(*args, **kwargs)
        F.interpolate = nearest
    if kind == "scale":
        module = dict(model.named_modules())[target]
        with torch.no_grad():
            module.weight.mul_(1.01)
    try:
        with torch.no_grad():
            y = cm.output_of(model(x))
    finally:
        F.interpolate = original
        for h in hooks:
            h.remove()
        if kind == "scale":
            with torch.no_grad():
                module.weight.div_(1.01)
    outs["__output__"] = y.detach().clone().cpu().numpy()
    return outs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--models", default=",".join(cm.ARCHITECTURES))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--limit", type=int, default=32768, help="largest tensor (elements) kept in clean runs")
    ap.add_argument("--spaced", type=int, default=12, help="tensors kept in clean runs (evenly spaced)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    dev = torch.device(args.device)
    torch.backends.cudnn.benchmark = False
    groups = {}
    for name in args.models.split(","):
        model = cm.build(name).to(dev)
        x = torch.from_numpy(cm.inputs(name)).to(dev)
        arrays = {}
        for run, tf32 in (("fp32", False), ("tf32", True)):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
            for k, v in spaced(capture(model, x, args.limit), args.spaced).items():
                arrays[f"{name}|{run}|{k}"] = v
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        if name in cm.FAULTS:
            # A clean FP32 run with every tensor, to map module paths to ONNX names.
            for k, v in capture(model, x, None).items():
                arrays[f"{name}|full|{k}"] = v
        for kind, target in cm.FAULTS.get(name, []):
            if kind == "overflow":
                continue
            for k, v in capture(model, x, None, (kind, target)).items():
                arrays[f"{name}|fault-{kind}|{k}"] = v
        half = model.half()
        for k, v in spaced(capture(half, x.half(), args.limit), args.spaced).items():
            arrays[f"{name}|fp16|{k}"] = v
        for kind, target in cm.FAULTS.get(name, []):
            if kind == "overflow":
                for k, v in capture(half, x.half(), None, (kind, target)).items():
                    arrays[f"{name}|fault-{kind}|{k}"] = v
        group = "faults_" + name.split("_")[0] if name in cm.FAULTS else f"clean{len(groups.get('clean1', {})) > 200 and 2 or 1}"
        groups.setdefault(group, {}).update(arrays)
        print(f"{name}: {len(arrays)} tensors, {sum(a.nbytes for a in arrays.values()) / 1e6:.1f} MB", flush=True)
        del model, half
    for group, arrays in groups.items():
        np.savez_compressed(os.path.join(args.out, f"gpu_{group}.npz"), **arrays)
    meta = {
        "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
        "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
        "numpy": np.__version__,
    }
    with open(os.path.join(args.out, "gpu_meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
