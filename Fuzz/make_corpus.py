"""Writes the fuzzers' seed corpora into Fuzz/corpus/<target>/: small valid inputs of every reader,
for libFuzzer to mutate. Small on purpose (the whole set is some tens of kilobytes).

    python3 Fuzz/make_corpus.py

Needs the pinned onnx, numpy and polygraphy (ModelZoo/scripts/requirements.txt).
"""
import base64
import io
import json
import os
import shutil
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


shutil.rmtree(OUT, ignore_errors=True)

# ONNX: one small model per op family, with initializers where the op reads values.
def model(nodes, inputs, inits=(), opset=18):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


f = lambda n, a: numpy_helper.from_array(np.asarray(a, np.float32), n)
i = lambda n, a: numpy_helper.from_array(np.asarray(a, np.int64), n)
X = [("X", [1, 2, 4, 4])]
seeds = {
    "relu": ([helper.make_node("Relu", ["X"], ["Y"])], X, []),
    "add": ([helper.make_node("Add", ["X", "B"], ["Y"])], X, [f("B", [1.0, 2.0, 3.0, 4.0])]),
    "conv": ([helper.make_node("Conv", ["X", "W", "C"], ["Y"], pads=[1, 1, 1, 1], strides=[2, 1])], X, [f("W", np.ones((3, 2, 3, 3))), f("C", [0, 1, 2])]),
    "conv_group": ([helper.make_node("Conv", ["X", "W"], ["Y"], group=2, dilations=[2, 2])], X, [f("W", np.ones((2, 1, 2, 2)))]),
    "convtranspose": ([helper.make_node("ConvTranspose", ["X", "W"], ["Y"], strides=[2, 2], output_padding=[1, 1])], X, [f("W", np.ones((2, 3, 3, 3)))]),
    "maxpool": ([helper.make_node("MaxPool", ["X"], ["Y"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)], X, []),
    "avgpool": ([helper.make_node("AveragePool", ["X"], ["Y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)], X, []),
    "gemm": ([helper.make_node("Gemm", ["A", "W"], ["Y"], transB=1)], [("A", [2, 3])], [f("W", np.ones((4, 3)))]),
    "matmul": ([helper.make_node("MatMul", ["X", "W"], ["Y"])], X, [f("W", np.ones((4, 5)))]),
    "reshape": ([helper.make_node("Reshape", ["X", "S"], ["Y"])], X, [i("S", [2, -1])]),
    "transpose": ([helper.make_node("Transpose", ["X"], ["Y"], perm=[0, 2, 3, 1])], X, []),
    "concat": ([helper.make_node("Concat", ["X", "X"], ["Y"], axis=1)], X, []),
    "slice": ([helper.make_node("Slice", ["X", "S", "E", "A", "P"], ["Y"])], X, [i("S", [0]), i("E", [4]), i("A", [3]), i("P", [2])]),
    "gather": ([helper.make_node("Gather", ["X", "I"], ["Y"], axis=2)], X, [i("I", [0, -1])]),
    "resize": ([helper.make_node("Resize", ["X", "", "S"], ["Y"], mode="linear")], X, [f("S", [1, 1, 2, 1.5])]),
    "resize_sizes": ([helper.make_node("Resize", ["X", "", "", "S"], ["Y"], mode="cubic")], X, [i("S", [1, 2, 3, 5])]),
    "pad": ([helper.make_node("Pad", ["X", "P"], ["Y"], mode="reflect")], X, [i("P", [0, 0, 1, 1, 0, 0, 1, 1])]),
    "softmax": ([helper.make_node("Softmax", ["X"], ["Y"], axis=1)], X, []),
    "batchnorm": ([helper.make_node("BatchNormalization", ["X", "s", "b", "m", "v"], ["Y"])], X, [f(n, [1, 2]) for n in "sbmv"]),
    "split": ([helper.make_node("Split", ["X"], ["Y", "Z"], axis=1, num_outputs=2)], X, []),
    "topk": ([helper.make_node("TopK", ["X", "K"], ["Y", "I"], axis=3)], X, [i("K", [2])]),
    "range": ([helper.make_node("Range", ["A", "B", "C"], ["Y"])], [("X", [1])], [f("A", 0), f("B", 5), f("C", 0.5)]),
    "expand": ([helper.make_node("Expand", ["X", "S"], ["Y"])], [("X", [1, 1])], [i("S", [3, 2])]),
    "tile": ([helper.make_node("Tile", ["X", "R"], ["Y"])], X, [i("R", [1, 2, 1, 2])]),
    "cast": ([helper.make_node("Cast", ["X"], ["Y"], to=TensorProto.INT8)], X, []),
    "where": ([helper.make_node("Greater", ["X", "Z"], ["C"]), helper.make_node("Where", ["C", "X", "Z"], ["Y"])], X, [f("Z", 0)]),
    "reducemean": ([helper.make_node("ReduceMean", ["X", "A"], ["Y"], keepdims=0)], X, [i("A", [1, 3])]),
    "einsum": ([helper.make_node("Einsum", ["X", "X"], ["Y"], equation="bchw,bchk->bcwk")], X, []),
    "layernorm": ([helper.make_node("LayerNormalization", ["X", "G"], ["Y"], axis=-1)], X, [f("G", [1, 1, 1, 1])]),
    "qdq": ([helper.make_node("QuantizeLinear", ["X", "S", "Z"], ["Q"]), helper.make_node("DequantizeLinear", ["Q", "S", "Z"], ["Y"])], X,
            [f("S", 0.1), numpy_helper.from_array(np.array(3, np.int8), "Z")]),
    "gridsample": ([helper.make_node("GridSample", ["X", "G"], ["Y"], mode="bilinear")], X, [f("G", np.zeros((1, 3, 3, 2)))]),
    "depthtospace": ([helper.make_node("DepthToSpace", ["X"], ["Y"], blocksize=1)], X, []),
    "nms": ([helper.make_node("NonMaxSuppression", ["B", "S", "M"], ["Y"])], [("X", [1])],
            [f("B", np.array([0, 0, 1, 1, 0, 0, 2, 2]).reshape(1, 2, 4)), f("S", np.array([0.9, 0.8]).reshape(1, 1, 2)), i("M", [5])]),
    "cumsum": ([helper.make_node("CumSum", ["X", "A"], ["Y"], reverse=1)], X, [i("A", 2)]),
    "onehot": ([helper.make_node("OneHot", ["I", "D", "V"], ["Y"])], [("X", [1])], [i("I", [0, 2]), i("D", [3]), f("V", [0, 1])]),
    "scatternd": ([helper.make_node("ScatterND", ["X", "I", "U"], ["Y"])], X, [i("I", [[0, 1]]), f("U", np.ones((1, 4, 4)))]),
    "constant_of_shape": ([helper.make_node("ConstantOfShape", ["S"], ["Y"])], [("X", [1])], [i("S", [2, 3])]),
    "shape_chain": ([helper.make_node("Shape", ["X"], ["S"]), helper.make_node("Gather", ["S", "I"], ["G"]),
                     helper.make_node("Unsqueeze", ["G", "A"], ["U"]), helper.make_node("Concat", ["U", "M"], ["C"], axis=0),
                     helper.make_node("Reshape", ["X", "C"], ["Y"])], X, [i("I", 0), i("A", [0]), i("M", [-1])]),
    "lstm": ([helper.make_node("LSTM", ["S", "W", "R"], ["Y"], hidden_size=2)], [("S", [3, 1, 2])],
             [f("W", np.ones((1, 8, 2)) * 0.1), f("R", np.ones((1, 8, 2)) * 0.1)]),
}
for name, (nodes, ins, inits) in seeds.items():
    write("onnx", name + ".onnx", model(nodes, ins, inits))

# Keras: the ModelZoo's two smallest files.
os.makedirs(os.path.join(OUT, "keras"), exist_ok=True)
for name in ("kz_sequential_mlp", "kz_dot"):
    shutil.copy(os.path.join(ROOT, "ModelZoo", "keras", name + ".json"), os.path.join(OUT, "keras", name + ".json"))

# .npy and .npz.
arrays = {
    "f32": np.arange(6, dtype=np.float32).reshape(2, 3), "f64": np.array([1.5, -2.0]), "f16": np.array([1, 2, 3], np.float16),
    "i64": np.array([[-1, 2]], np.int64), "u8": np.array([0, 255], np.uint8), "bool": np.array([True, False]), "scalar": np.float32(3.5),
    "empty": np.zeros((0, 3), np.float32),
}
for name, a in arrays.items():
    b = io.BytesIO()
    np.save(b, a)
    write("npy", name + ".npy", b.getvalue())
for name, compress in (("stored", zipfile.ZIP_STORED), ("deflated", zipfile.ZIP_DEFLATED)):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", compress) as z:
        for k in ("f32", "i64"):
            m = io.BytesIO()
            np.save(m, arrays[k])
            z.writestr(k + ".npy", m.getvalue())
    write("npy", name + ".npz", b.getvalue())

# TensorProto .pb files.
for name, a in arrays.items():
    if name != "scalar":
        write("pb", name + ".pb", numpy_helper.from_array(np.asarray(a), name).SerializeToString())
t = helper.make_tensor("typed", TensorProto.FLOAT, [2, 2], [1.0, 2.0, 3.0, 4.0])
write("pb", "typed_fields.pb", t.SerializeToString())

# Calibration: TensorRT's text cache, Touchstone's JSON cache, pass 1 and pass 2 parts.
write("calibration", "trt.cache", "TRT-8601-EntropyCalibration2\ninput: 3c010204\nconv1: 3d4ccccd\nout: 3e000000\n")
write("calibration", "cache.json", json.dumps({"format": "touchstone-calibration", "method": "entropy", "algorithm": "EntropyCalibration2",
                                               "version": "8601", "tensors": {"input": {"scale": 0.0078, "amax": 0.99}, "conv1": {"amax": 6.0}}}))
write("calibration", "part1.json", json.dumps({"format": "touchstone-calibration-part", "pass": 1, "samples": 4,
                                               "tensors": {"x": {"max": 3.0}, "y": {"max": 0.5, "non_finite": 2}}}))
write("calibration", "part2.json", json.dumps({"format": "touchstone-calibration-part", "pass": 2, "samples": 4,
                                               "tensors": {"x": {"max": 3.0, "counts": [5, 0, 3, 1] * 64}}}))

# Polygraphy's own JSON: RunResults and an inputs list, written by Polygraphy.
from polygraphy.comparator import RunResults  # noqa: E402
from polygraphy.comparator.struct import IterationResult  # noqa: E402
from polygraphy.json import save_json  # noqa: E402

results = RunResults()
results.append(("onnxrt-runner", [IterationResult({"Y": np.arange(6, dtype=np.float32).reshape(2, 3), "I": np.array([1, 0], np.int64)},
                                                  runner_name="onnxrt-runner")]))
for name, obj in (("run_results.json", results), ("inputs.json", [{"X": np.ones((1, 3), np.float32)}, {"X": np.zeros((1, 3), np.float32)}])):
    path = os.path.join(OUT, "polygraphy", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_json(obj, path)

total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
print(f"wrote {sum(len(fs) for _, _, fs in os.walk(OUT))} seeds, {total} bytes, to {OUT}")
