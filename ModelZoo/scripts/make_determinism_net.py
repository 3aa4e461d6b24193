#!/usr/bin/env python3
"""A small CNN whose layers are large enough to be split over threads, for the bitwise
determinism tests (ModelZoo/models/determinism_net.onnx, seeded weights, dynamic batch).

Input [N, 3, 56, 56] → Conv 3→32 3×3/2 + Relu → depthwise 3×3 + Relu → Conv 1×1 32→64 + Relu →
MaxPool 2 → Conv 3×3 64→64 + residual Add + Relu → AveragePool 2 → Conv 1×1 64→128 + Relu →
Conv 3×3 128→32 at 7×7 (a 32×49×1152 product: the shape whose split once followed the thread
count) → Concat → GlobalAveragePool → Flatten → Gemm 160→1000 → Softmax.

    python3 ModelZoo/scripts/make_determinism_net.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", "determinism_net.onnx")


def main():
    rng = np.random.default_rng(2026)
    inits, nodes = [], []

    def weight(name, shape):
        fan_in = int(np.prod(shape[1:]))
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32), name))
        return name

    def bias(name, n):
        inits.append(numpy_helper.from_array((0.05 * rng.standard_normal(n)).astype(np.float32), name))
        return name

    def conv(x, name, cin, cout, k, stride=1, group=1, relu=True):
        w = weight(f"{name}.w", (cout, cin // group, k, k))
        b = bias(f"{name}.b", cout)
        nodes.append(helper.make_node("Conv", [x, w, b], [f"{name}.y"], name=name, kernel_shape=[k, k], strides=[stride, stride],
                                      pads=[k // 2] * 4, group=group))
        if not relu:
            return f"{name}.y"
        nodes.append(helper.make_node("Relu", [f"{name}.y"], [f"{name}.r"], name=f"{name}.relu"))
        return f"{name}.r"

    x = conv("input", "c1", 3, 32, 3, stride=2)
    x = conv(x, "dw", 32, 32, 3, group=32)
    x = conv(x, "pw", 32, 64, 1)
    nodes.append(helper.make_node("MaxPool", [x], ["mp"], name="mp", kernel_shape=[2, 2], strides=[2, 2]))
    y = conv("mp", "c2", 64, 64, 3, relu=False)
    nodes.append(helper.make_node("Add", [y, "mp"], ["res"], name="res"))
    nodes.append(helper.make_node("Relu", ["res"], ["res.r"], name="res.relu"))
    nodes.append(helper.make_node("AveragePool", ["res.r"], ["ap"], name="ap", kernel_shape=[2, 2], strides=[2, 2]))
    x = conv("ap", "c3", 64, 128, 1)
    z = conv(x, "c4", 128, 32, 3, relu=False)
    nodes.append(helper.make_node("Concat", [x, z], ["cat"], name="cat", axis=1))
    nodes.append(helper.make_node("GlobalAveragePool", ["cat"], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flat", axis=1))
    w = weight("fc.w", (1000, 160))
    b = bias("fc.b", 1000)
    nodes.append(helper.make_node("Gemm", ["flat", w, b], ["logits"], name="fc", transB=1))
    nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1))
    graph = helper.make_graph(
        nodes, "determinism_net", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 56, 56])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1000]),
         helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 1000])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_determinism_net.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, OUT)
    print(f"wrote {OUT} ({os.path.getsize(OUT) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
