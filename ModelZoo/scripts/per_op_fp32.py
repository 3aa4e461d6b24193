#!/usr/bin/env python3
"""Every op's own FP32 error, Touchstone's beside onnxruntime's: each node of a model alone, fed the
FP64 run's inputs rounded to float32, run by Touchstone FP32 and onnxruntime FP32 (CPU provider,
one thread) and compared with Touchstone's FP64 of the same node on the same inputs. Free of the
amplification a whole network adds, so it says which kernels lose accuracy.

    python3 ModelZoo/scripts/per_op_fp32.py TOUCHSTONE MODEL.onnx NAME=INPUT.npy… [--work DIR]

Prints, per op type, the median and largest RMS error over the output's RMS and how many nodes
have an error above 1.5× onnxruntime's, then the worst of those; per-op.json in DIR holds every node.
Identity chains are followed to their initializers; nodes with several outputs are compared on
their first.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np


def per_op(touchstone, path, feeds_in, work, threads=1):
    """Each node alone, on the FP64 run's own inputs rounded to float32: Touchstone's FP32 and
    onnxruntime's FP32 against Touchstone's FP64 of the same node on the same inputs (the local
    error of each op, free of the amplification the whole network adds)."""
    import onnx
    import onnxruntime as ort
    from onnx import helper
    os.makedirs(work, exist_ok=True)
    taps = os.path.join(work, "fp64-taps.npz")
    flags = [f for name, file in feeds_in.items() for f in ("--input", f"{name}={file}")]
    subprocess.run([touchstone, "run", path, *flags, "--precision", "fp64", "--threads", str(threads),
                    "--save-tensors", "all", "--save-outputs", taps], check=True, capture_output=True)
    values = dict(np.load(taps))
    for name, file in feeds_in.items():
        v = np.load(file)
        values[name] = v.astype(np.float64) if np.issubdtype(v.dtype, np.floating) else v
    model = onnx.load(path)
    inits = {t.name: t for t in model.graph.initializer}
    # Constant nodes' values count as initializers (a single-node model carries them as such).
    for n in model.graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            t = onnx.TensorProto()
            t.CopyFrom(n.attribute[0].t)
            t.name = n.output[0]
            inits[t.name] = t
    node_dir = work
    alias = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Identity"}

    def resolve(name):
        while name in alias:
            name = alias[name]
        return name

    rows, detail = {}, []
    for node in model.graph.node:
        if node.op_type in ("Identity", "Constant") or node.output[0] not in values:
            continue
        # Float ops only: the shape and index arithmetic of integer tensors is exact.
        computed = [resolve(n) for n in node.input if n and resolve(n) not in inits]
        if not np.issubdtype(values[node.output[0]].dtype, np.floating) or \
                any(n not in values or not np.issubdtype(values[n].dtype, np.floating) for n in computed):
            continue
        feeds, graph_inputs, used = {}, [], []
        inputs = []
        for j, name in enumerate(node.input):
            name = resolve(name)
            if name in inits or name == "":
                inputs.append(name)
                if name in inits and all(u.name != name for u in used):
                    used.append(inits[name])
                continue
            v = values[name].astype(np.float32)
            local = f"in{j}"
            feeds[local] = v
            inputs.append(local)
            graph_inputs.append(helper.make_tensor_value_info(local, onnx.TensorProto.FLOAT, list(v.shape)))
        one = helper.make_node(node.op_type, inputs, ["out"] + [f"extra{i}" for i in range(1, len(node.output))], name="n")
        one.attribute.extend(node.attribute)
        graph = helper.make_graph([one], "node", graph_inputs, [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, None)], used)
        single = helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
        file = os.path.join(node_dir, "node.onnx")
        onnx.save(single, file)
        for local, v in feeds.items():
            np.save(os.path.join(node_dir, local + ".npy"), v)
        flags = [f for local in feeds for f in ("--input", f"{local}={os.path.join(node_dir, local + '.npy')}")]
        got = {}
        for precision in ("fp32", "fp64"):
            out = os.path.join(node_dir, precision)
            subprocess.run([touchstone, "run", file, *flags, "--precision", precision, "--threads", str(threads), "--out", out],
                           check=True, capture_output=True)
            got[precision] = np.load(os.path.join(out, "out.npy")).astype(np.float64)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        got["ort"] = ort.InferenceSession(file, options, providers=["CPUExecutionProvider"]).run(["out"], feeds)[0].astype(np.float64)
        ref = got["fp64"]
        rms = np.sqrt((ref ** 2).mean()) or 1.0
        e_t = np.sqrt(((got["fp32"] - ref) ** 2).mean()) / rms
        e_o = np.sqrt(((got["ort"] - ref) ** 2).mean()) / rms
        rows.setdefault(node.op_type, []).append((e_t, e_o, node.name))
        detail.append({"node": node.name, "op": node.op_type, "touchstone": e_t, "onnxruntime": e_o,
                       "input_shapes": [list(v.shape) for v in feeds.values()],
                       "constant_shapes": [list(u.dims) for u in used]})
    json.dump(detail, open(os.path.join(work, "per-op.json"), "w"), indent=1)
    print(f"\nEach node of {os.path.basename(path)} alone: RMS error / RMS of the output against FP64, on the same float32-rounded inputs")
    print("| op | nodes | Touchstone FP32: median | max | onnxruntime FP32: median | max | nodes where Touchstone's error > 1.5x onnxruntime's |")
    print("|---|---|---|---|---|---|---|")
    worse_all = []
    for op, r in sorted(rows.items()):
        t = np.array([a for a, _, _ in r]); o = np.array([b for _, b, _ in r])
        worse = [n for a, b, n in r if a > 1.5 * b and a > 1e-9]
        worse_all += [(op, n, a, b) for a, b, n in r if a > 1.5 * b and a > 1e-9]
        print(f"| {op} | {len(r)} | {np.median(t):.2e} | {t.max():.2e} | {np.median(o):.2e} | {o.max():.2e} | {len(worse)} |")
    for op, n, a, b in sorted(worse_all, key=lambda w: -w[2] / max(w[3], 1e-30))[:10]:
        print(f"  {op} {n}: Touchstone {a:.2e}, onnxruntime {b:.2e}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("touchstone")
    ap.add_argument("model")
    ap.add_argument("inputs", nargs="+", metavar="NAME=INPUT.npy")
    ap.add_argument("--work", default=".build/per-op")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    per_op(args.touchstone, args.model, dict(i.split("=", 1) for i in args.inputs), args.work, args.threads)


if __name__ == "__main__":
    sys.exit(main())
