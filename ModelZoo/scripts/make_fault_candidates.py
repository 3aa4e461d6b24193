#!/usr/bin/env python3
"""Candidate runs with planted faults, made by onnxruntime (CPU, graph optimizations off) on a
copy of an ONNX model with one node changed, every tensor marked as an output.

    python3 ModelZoo/scripts/make_fault_candidates.py MODEL OUT [--fault KIND:NODE ...] [--shape 1,3,32,40]

Writes OUT/inputs.npz (the seeded input, a smooth image) and OUT/<name>.npz per run: "clean"
(the model as it is) and one per fault, named KIND_<node> with the node's name made safe. Faults:
scale (a Conv's weights × 1.01), swap (a Conv's output channels 0 and 1 exchanged, weights and
bias), nearest (a linear Resize made nearest). OUT/faults.json lists each run with its node.
"""
import argparse
import json
import os
import re
import sys

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoo  # noqa: E402


def run(model, feeds):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    s = ort.InferenceSession(zoo.mark_all(model).SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(names, feeds)))


def plant(model, kind, node_name):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    node = next(n for n in m.graph.node if n.name == node_name)
    inits = {i.name: i for i in m.graph.initializer}
    if kind == "nearest":
        assert node.op_type == "Resize"
        for a in node.attribute:
            if a.name == "mode":
                a.s = b"nearest"
        return m
    assert node.op_type == "Conv", f"{kind} needs a Conv, {node_name} is {node.op_type}"
    w = numpy_helper.to_array(inits[node.input[1]]).copy()
    b = numpy_helper.to_array(inits[node.input[2]]).copy() if len(node.input) > 2 and node.input[2] else None
    if kind == "scale":
        w *= np.float32(1.01)
    elif kind == "swap":
        w[[0, 1]] = w[[1, 0]]
        if b is not None:
            b[[0, 1]] = b[[1, 0]]
    else:
        raise SystemExit(f"unknown fault {kind}")
    inits[node.input[1]].CopyFrom(numpy_helper.from_array(w, node.input[1]))
    if b is not None:
        inits[node.input[2]].CopyFrom(numpy_helper.from_array(b, node.input[2]))
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--fault", action="append", default=[], help="KIND:NODE")
    ap.add_argument("--shape", required=True, help="the input's shape, e.g. 1,3,32,40")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    model = onnx.load(args.model)
    shape = tuple(int(s) for s in args.shape.split(","))
    rng = np.random.default_rng(args.seed)
    x = np.cumsum(np.cumsum(rng.normal(size=shape), axis=-2), axis=-1)
    x = ((x - x.mean()) / x.std()).astype(np.float32)
    feeds = {model.graph.input[0].name: x}
    np.savez(os.path.join(args.out, "inputs.npz"), **feeds)
    runs = {"clean": None}
    np.savez(os.path.join(args.out, "clean.npz"), **run(model, feeds))
    for spec in args.fault:
        kind, node = spec.split(":", 1)
        name = f"{kind}_{re.sub(r'[^A-Za-z0-9._-]', '_', node)}"
        np.savez(os.path.join(args.out, f"{name}.npz"), **run(plant(model, kind, node), feeds))
        runs[name] = {"kind": kind, "node": node}
    with open(os.path.join(args.out, "faults.json"), "w") as f:
        json.dump(runs, f, indent=1)
    print(f"wrote {len(runs)} runs to {args.out}")


if __name__ == "__main__":
    main()
