"""The ten torchvision architectures without their weights, so that CI can check them without torch.

The exports of make_torchvision.py are too large to commit (vgg11 alone is 500 MB) and torch is
too large to install in CI. A skeleton is the same ONNX graph with each large float initializer's
values replaced by its mean and standard deviation; `fill` draws seeded values of the same mean and
deviation (torchvision's default initialisation: zero-mean normal convolution weights, BatchNorm
at 1/0/0/1, and so on), then writes ModelZoo/generated/ with onnxruntime's outputs on seeded inputs,
as make_torchvision.py does. Integer and small initializers (shapes, axes) are kept as they are.

    python3 ModelZoo/scripts/zoo_skeletons.py strip [--models a,b]   # dev time, from ModelZoo/generated
    python3 ModelZoo/scripts/zoo_skeletons.py fill [--size 224] [--out DIR]  # CI: writes ModelZoo/generated

The detectors of make_detectors.py likewise (only their products' weights stripped; anchors and
other constants kept): `strip-detectors` (dev time) and `fill-detectors` (CI: writes
ModelZoo/generated/detectors for check_detectors.py).

Needs onnx, numpy and onnxruntime only.
"""
import argparse
import json
import os

import numpy as np
import onnx
from onnx import numpy_helper

import zoo

SKELETONS = os.path.join(zoo.ZOO, "skeletons")
ARCHITECTURES = [
    "resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1",
    "googlenet", "densenet121", "shufflenet_v2_x1_0", "efficientnet_b0", "vgg11",
]
KEEP = 64  # initializers of at most this many elements are kept as they are


DETECTORS = ["ssdlite320_o17", "fasterrcnn_mobilenet_o17", "retinanet_o17", "maskrcnn_o17"]
PRODUCTS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


def strip(names, source=os.path.join(zoo.GENERATED, "models"), target=SKELETONS, weights_only=False):
    """With `weights_only`, only the products' operands are stripped (a detector's anchors and
    other constants stay as they are)."""
    os.makedirs(target, exist_ok=True)
    for name in names:
        m = onnx.load(os.path.join(source, name + ".onnx"))
        products = {i for n in m.graph.node if n.op_type in PRODUCTS for i in n.input}
        stats = {}
        for t in m.graph.initializer:
            if t.data_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE):
                continue
            if weights_only and t.name not in products:
                continue
            a = numpy_helper.to_array(t)
            if a.size <= KEEP:
                continue
            name_, dims = t.name, list(t.dims)
            stats[name_] = {"mean": float(a.mean()), "std": float(a.std())}
            t.Clear()
            t.name = name_
            t.data_type = onnx.TensorProto.FLOAT
            t.dims.extend(dims)
        m.metadata_props.add(key="touchstone_skeleton", value=json.dumps(stats, sort_keys=True))
        path = os.path.join(target, name + ".onnx")
        onnx.save(m, path)
        print(f"{name}: {len(stats)} initializers stripped, {os.path.getsize(path)} bytes")


def filled(path, seed):
    """The skeleton at `path` with its stripped initializers drawn (seeded) at their mean and
    deviation."""
    m = onnx.load(path)
    stats = json.loads({p.key: p.value for p in m.metadata_props}["touchstone_skeleton"])
    rng = np.random.default_rng(seed)
    inits = []
    for t in m.graph.initializer:
        if t.name in stats:
            s = stats[t.name]
            a = (rng.standard_normal(tuple(t.dims)) * s["std"] + s["mean"]).astype(np.float32)
            inits.append(numpy_helper.from_array(a, t.name))
        else:
            inits.append(t)
    del m.graph.initializer[:]
    m.graph.initializer.extend(inits)
    return m


def fill(names, size, out):
    os.makedirs(os.path.join(out, "models"), exist_ok=True)
    entries = []
    for k, name in enumerate(names):
        m = filled(os.path.join(SKELETONS, name + ".onnx"), 1000 + k)
        model_file = f"models/{name}.onnx"
        onnx.save(m, os.path.join(out, model_file))
        feeds_rng = np.random.default_rng(0)
        for batch in (1, 2):
            feeds = {"input": feeds_rng.standard_normal((batch, 3, size, size), dtype=np.float32)}
            entries.append(zoo.write_entry(out, f"{name}_b{batch}", model_file, feeds, opset=17, extra={"architecture": name, "batch": batch}))
        print(f"filled {name} ({size}x{size})", flush=True)
    zoo.update_manifest(out, entries)


def fill_detectors(names, out):
    """The detectors of make_detectors.py from their skeletons, on the seeded images it uses."""
    os.makedirs(os.path.join(out, "models"), exist_ok=True)
    entries = []
    for k, name in enumerate(names):
        m = filled(os.path.join(SKELETONS, "detectors", name + ".onnx"), 6000 + k)
        model_file = f"models/{name}.onnx"
        onnx.save(m, os.path.join(out, model_file))
        image = zoo.smooth_image(np.random.default_rng(6000 + k), (3, 320, 320))
        image = (image - image.min()) / (image.max() - image.min())
        entries.append(zoo.write_entry(out, name, model_file, {"image": image}, opset=17))
        print(f"filled {name}", flush=True)
    zoo.update_manifest(out, entries)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=["strip", "fill", "strip-detectors", "fill-detectors"])
    ap.add_argument("--models", default=",".join(ARCHITECTURES))
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--out", default=zoo.GENERATED, help="where fill writes models, data and manifest.json")
    args = ap.parse_args()
    if args.action.endswith("detectors"):
        names = DETECTORS if args.models == ",".join(ARCHITECTURES) else args.models.split(",")
        if args.action == "strip-detectors":
            strip(names, os.path.join(zoo.GENERATED, "detectors", "models"), os.path.join(SKELETONS, "detectors"), weights_only=True)
        else:
            fill_detectors(names, os.path.join(zoo.GENERATED, "detectors") if args.out == zoo.GENERATED else args.out)
        return
    names = args.models.split(",")
    strip(names) if args.action == "strip" else fill(names, args.size, args.out)


if __name__ == "__main__":
    main()
