"""The models of the GPU cross-check, built identically on any machine.

Weights come from numpy's seeded generator (PCG64 streams are stable across numpy versions), not
from torch's initializers, so the GPU machine (its own torch) and this one (the pinned torch that
exports the ONNX files) hold the same numbers. Imported by gpu_crosscheck.py (on the GPU) and
crosscheck_compare.py (here).
"""
import sys
import types
import zlib

import numpy as np

# Architectures and their input sizes (batch 1; small, so that every tensor of a run can travel
# back from the GPU machine). vgg11's adaptive pooling to 7×7 needs 224.
ARCHITECTURES = {
    "resnet18": 48, "resnet50": 48, "mobilenet_v2": 48, "mobilenet_v3_small": 48, "squeezenet1_1": 48,
    "googlenet": 48, "densenet121": 48, "shufflenet_v2_x1_0": 48, "efficientnet_b0": 48, "vgg11": 224,
    "lraspp_mobilenet_v3_large": 48,
}

# Planted faults, per architecture: (kind, module path). scale: the module's weight × 1.01;
# swap: channels 0 and 1 of the module's output exchanged; nearest: every bilinear
# interpolation made nearest; overflow (FP16 run): the module's outputs beyond their 99th
# percentile magnitude become ±inf, as when the layer's sums exceed float16's range.
FAULTS = {
    "resnet18": [("scale", "layer2.0.conv1"), ("swap", "layer3.0.bn2"), ("overflow", "layer2.1.bn1")],
    "mobilenet_v2": [("scale", "features.6.conv.0.0"), ("swap", "features.10.conv.1.1")],
    "lraspp_mobilenet_v3_large": [("nearest", ""), ("scale", "backbone.7.block.0.0")],
}


def import_torchvision():
    """torchvision's model definitions only (its compiled operators need the CUDA build of torch)."""
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    import torchvision  # noqa: E402

    return torchvision


def build(name):
    """The architecture in eval mode with seeded weights and batch-norm statistics."""
    torchvision = import_torchvision()
    import torch

    kwargs = {"weights": None}
    if name == "googlenet":
        kwargs.update(aux_logits=False, init_weights=False)
    if name.startswith("lraspp"):
        kwargs = {"weights": None, "weights_backbone": None, "num_classes": 8}
        model = torchvision.models.segmentation.lraspp_mobilenet_v3_large(**kwargs)
    else:
        model = getattr(torchvision.models, name)(**kwargs)
    model.eval()
    with torch.no_grad():
        for pname, p in sorted(model.state_dict().items()):
            if not p.dtype.is_floating_point:
                continue
            rng = np.random.default_rng(zlib.crc32(f"{name}/{pname}".encode()))
            shape = tuple(p.shape)
            leaf = pname.rsplit(".", 1)[-1]
            if leaf == "running_mean":
                v = 0.1 * rng.standard_normal(shape)
            elif leaf == "running_var":
                v = rng.uniform(0.5, 1.5, shape)
            elif leaf == "bias":
                v = 0.05 * rng.standard_normal(shape)
            elif p.dim() == 1:  # batch-norm and layer-norm scales
                v = 1 + 0.1 * rng.standard_normal(shape)
            else:
                fan_in = int(np.prod(shape[1:]))
                v = rng.standard_normal(shape) * np.sqrt(2.0 / max(1, fan_in))
            p.copy_(torch.from_numpy(v.astype(np.float32)))
    return model


def inputs(name):
    """The seeded input of batch 1: a smooth image per channel, mean 0 and deviation 1."""
    size = ARCHITECTURES[name]
    rng = np.random.default_rng(zlib.crc32(f"input/{name}".encode()))
    x = rng.normal(size=(1, 3, size, size))
    x = np.cumsum(np.cumsum(x, axis=-2), axis=-1)
    return ((x - x.mean()) / x.std()).astype(np.float32)


def output_of(result):
    """The tensor a model returns (segmentation models return a dict)."""
    return result["out"] if isinstance(result, dict) else result
