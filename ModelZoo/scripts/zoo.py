"""Shared helpers for the ModelZoo scripts: paths, hashing, onnxruntime references, the manifest."""
import hashlib
import json
import os
import sys
import types

import numpy as np

ZOO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GENERATED = os.path.join(ZOO, "generated")

# Relative tolerance against the largest reference magnitude per output: measured against
# onnxruntime, Touchstone's FP32 outputs differ by at most 2.1e-6 of the peak (the transformer and
# U-Net exports of make_nets.py; 1.2e-6 on the torchvision CNNs, vgg11), so 2e-5 leaves a factor
# of 10 for other summation orders on other CPUs.
DEFAULT_TOLERANCE = 2e-5


def model_path(name):
    """The bundled trained model (digits_cnn) or a generated one, by name."""
    if name == "digits_cnn":
        return os.path.join(ZOO, "models", name + ".onnx")
    return os.path.join(GENERATED, "models", name + ".onnx")


def smooth_image(rng, shape, eps=0.0, noise_dtype=np.float64):
    """A seeded smooth image: Gaussian noise (drawn, then held as noise_dtype) summed along the last
    two axes, normalized to mean 0 and deviation 1 (eps added to the deviation), as float32."""
    x = rng.normal(size=shape).astype(noise_dtype)
    x = np.cumsum(np.cumsum(x, axis=-2), axis=-1)
    return ((x - x.mean()) / (x.std() + eps)).astype(np.float32)


def import_torchvision():
    """Imports torchvision's model definitions only.

    The torchvision wheel's compiled operators are built against the CUDA build of torch; with the
    CPU build its meta registrations fail at import. The architectures need none of them.
    """
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    import torchvision  # noqa: E402

    return torchvision


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ort_run(model_path, feeds, threads=1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def safe_name(name):
    return "".join(c if (c.isalnum() or c in "._-") else "_" for c in name)


def ort_run_model(model_bytes, feeds):
    """onnxruntime's outputs of a serialized model, by name."""
    import onnxruntime as ort

    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def write_entry(root, name, model_file, feeds, opset, tolerance=DEFAULT_TOLERANCE, extra=None, outputs=None):
    """Saves inputs and onnxruntime's outputs (or the `outputs` given, by name) beside the model
    and returns a manifest entry."""
    data_dir = os.path.join(root, "data", name)
    os.makedirs(data_dir, exist_ok=True)
    inputs = {}
    for k, v in feeds.items():
        p = os.path.join(data_dir, "input_" + safe_name(k) + ".npy")
        np.save(p, v)
        inputs[k] = os.path.relpath(p, root)
    given = outputs
    outputs = {}
    for k, v in (given if given is not None else ort_run(os.path.join(root, model_file), feeds)).items():
        p = os.path.join(data_dir, "expected_" + safe_name(k) + ".npy")
        if v.dtype == object:  # onnxruntime's strings: saved as numpy unicode, not pickled objects
            v = np.asarray(v, dtype=str)
        np.save(p, v)
        outputs[k] = os.path.relpath(p, root)
    entry = {
        "name": name,
        "file": model_file,
        "sha256": sha256(os.path.join(root, model_file)),
        "opset": opset,
        "inputs": inputs,
        "outputs": outputs,
        "tolerance": tolerance,
    }
    if extra:
        entry.update(extra)
    return entry


def update_manifest(root, entries, default=None):
    """Merges entries (by name) into root/manifest.json."""
    path = os.path.join(root, "manifest.json")
    manifest = {"version": 1, "models": []}
    if os.path.exists(path):
        with open(path) as f:
            manifest = json.load(f)
    by_name = {m["name"]: m for m in manifest["models"]}
    for e in entries:
        by_name[e["name"]] = e
    manifest["models"] = [by_name[k] for k in sorted(by_name)]
    if default:
        manifest["default"] = default
    manifest["tolerance_rule"] = "max|got - expected| <= tolerance * max|expected|, per output"
    with open(path, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


def mark_all(model):
    """The ONNX model with every node output added to the graph outputs (as Polygraphy's
    `--onnx-outputs mark all`), for runs that save every tensor."""
    import onnx

    known = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for o in node.output:
            if o and o not in known:
                model.graph.output.append(onnx.helper.make_empty_tensor_value_info(o))
                known.add(o)
    return model
