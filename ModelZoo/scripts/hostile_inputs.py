"""Writes a set of hostile inputs for the `touchstone` command line and a manifest of how to run each.

Every class the hardening work names is here: attribute and shape arithmetic near Int64.min/max,
data values (NaN, ±inf, 1e30) that a kernel converts to integers, wrong input counts and attribute
types, structural violations, truncated and bit-flipped protobuf, confined external data, Keras JSON
with numbers that are no integers, tensor files (.npy/.npz/.pb) with lying headers and zip bombs,
calibration caches and merge parts with absurd values, Polygraphy JSON files, out-of-range
command-line numbers and a backtracking filter pattern.

    python3 ModelZoo/scripts/hostile_inputs.py OUT_DIR

writes OUT_DIR/cases.json: a list of {name, class, argv, expect} where argv is the command line
after `touchstone` (paths relative to OUT_DIR) and expect is "error" (garbage: the run must exit 2,
or 1 for a failed comparison) or "any" (a hostile but valid input: any clean exit). Run them with
`hostile_run.py`.
"""
import base64
import copy
import io
import json
import os
import random
import struct
import sys
import zipfile
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ZOO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
I64_MAX, I64_MIN = 2**63 - 1, -(2**63)
HOSTILE_INTS = [0, -1, I64_MIN, I64_MAX, 2**31, 2**62, -(2**62)]
HOSTILE_FLOATS = [float("nan"), float("inf"), float("-inf"), 1e30, -1e30, 0.0, -0.0, 1e-30]

out = sys.argv[1] if len(sys.argv) > 1 else "hostile"
os.makedirs(out, exist_ok=True)
cases = []


def add(name, cls, argv, expect="error"):
    cases.append({"name": name, "class": cls, "argv": argv, "expect": expect})


def write(rel, data):
    path = os.path.join(out, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return rel


def vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def model_bytes(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


def onnx_case(name, cls, nodes, inputs, outputs, inits=(), opset=17, expect="any", extra=()):
    rel = write(f"onnx/{cls}/{name}.onnx", model_bytes(nodes, inputs, outputs, inits, opset))
    add(name, cls, ["run", rel, "--threads", "1", *extra], expect)


def lying(name, dims, values=(1.0,)):
    """A float tensor whose dims claim more (or less) than its values."""
    t = helper.make_tensor(name, TensorProto.FLOAT, [len(values)], list(values))
    del t.dims[:]
    t.dims.extend(dims)
    return t


def i64(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def f32(name, values, shape=None):
    a = np.array(values, dtype=np.float32)
    return numpy_helper.from_array(a if shape is None else a.reshape(shape), name)


# --- 1. Attribute arithmetic near the integer limits --------------------------------------------
X4 = [vi("X", [1, 2, 5, 5])]
W = f32("W", np.ones(3 * 2 * 3 * 3), [3, 2, 3, 3])
WT = f32("WT", np.ones(2 * 3 * 3 * 3), [2, 3, 3, 3])
attr_ops = {
    "Conv": (["X", "W"], [W], {"strides": 2, "dilations": 2, "pads": 4, "kernel_shape": 2, "group": 0}, {"kernel_shape": [3, 3]}),
    "ConvTranspose": (["X", "WT"], [WT], {"strides": 2, "dilations": 2, "pads": 4, "output_padding": 2, "output_shape": 2, "group": 0}, {}),
    "MaxPool": (["X"], [], {"kernel_shape": 2, "strides": 2, "dilations": 2, "pads": 4, "ceil_mode": 0, "storage_order": 0}, {"kernel_shape": [2, 2]}),
    "AveragePool": (["X"], [], {"kernel_shape": 2, "strides": 2, "pads": 4, "count_include_pad": 0, "ceil_mode": 0}, {"kernel_shape": [2, 2]}),
    "LpPool": (["X"], [], {"kernel_shape": 2, "p": 0}, {"kernel_shape": [2, 2]}),
    "DepthToSpace": (["X"], [], {"blocksize": 0}, {"blocksize": 1}),
    "SpaceToDepth": (["X"], [], {"blocksize": 0}, {"blocksize": 1}),
    "Flatten": (["X"], [], {"axis": 0}, {}),
    "Softmax": (["X"], [], {"axis": 0}, {}),
    "LogSoftmax": (["X"], [], {"axis": 0}, {}),
    "Hardmax": (["X"], [], {"axis": 0}, {}),
    "Concat": (["X", "X"], [], {"axis": 0}, {"axis": 1}),
    "ArgMax": (["X"], [], {"axis": 0, "keepdims": 0}, {}),
    "Transpose": (["X"], [], {"perm": 4}, {}),
    "LRN": (["X"], [], {"size": 0}, {"size": 3}),
    "LayerNormalization": (["X"], [], {"axis": 0}, {}),
    "Split": (["X"], [], {"axis": 0}, {"axis": 1}),
    "GatherElements": (["X", "IDX"], [i64("IDX", np.zeros((1, 2, 5, 5), np.int64))], {"axis": 0}, {}),
    "CumSum": (["X", "AX"], [i64("AX", 1)], {"exclusive": 0, "reverse": 0}, {}),
    "InstanceNormalization": (["X", "S2", "B2"], [f32("S2", [1, 1]), f32("B2", [0, 0])], {"epsilon": 0}, {}),
    "Trilu": (["X", "K"], [i64("K", 0)], {"upper": 0}, {}),
    "GridSample": (["X", "G"], [f32("G", np.zeros(1 * 5 * 5 * 2), [1, 5, 5, 2])], {"align_corners": 0}, {}),
    "EyeLike": (["E"], [f32("E", np.zeros(9), [3, 3])], {"k": 0}, {}),
    "LpPool": (["X"], [], {"p": 0}, {"kernel_shape": [2, 2]}),
    "NegativeLogLikelihoodLoss": (["X", "T"], [i64("T", np.zeros((1, 5, 5), np.int64))], {"ignore_index": 0}, {}),
    "MaxUnpool": (["X", "IX"], [i64("IX", np.zeros((1, 2, 5, 5), np.int64))], {"kernel_shape": 2, "strides": 2, "pads": 4},
                  {"kernel_shape": [2, 2]}),
    "RoiAlign": (["X", "RO", "BI"], [f32("RO", [0, 0, 4, 4], [1, 4]), i64("BI", [0])],
                 {"output_height": 0, "output_width": 0, "sampling_ratio": 0}, {}),
    "Col2Im": (["X", "IS", "BS"], [i64("IS", [5, 5]), i64("BS", [1, 1])], {"strides": 2, "dilations": 2, "pads": 4}, {}),
    "Compress": (["X", "CO"], [numpy_helper.from_array(np.array([True, False]), "CO")], {"axis": 0}, {}),
    "Unique": (["X"], [], {"axis": 0}, {}),
    "TensorScatter": (["X", "X"], [], {"axis": 0}, {}),
    "DeformConv": (["X", "W", "OF"], [f32("OF", np.zeros(1 * 18 * 3 * 3), [1, 18, 3, 3])],
                   {"strides": 2, "dilations": 2, "pads": 4, "group": 0, "offset_group": 0}, {}),
}
for op, (ins, inits, attrs, base) in attr_ops.items():
    for attr, count in attrs.items():
        for v in HOSTILE_INTS:
            kw = dict(base)
            if attr in ("strides", "dilations", "pads", "kernel_shape", "output_padding", "output_shape", "perm"):
                n = count
                kw[attr] = [v] + [1] * (n - 1)
            else:
                kw[attr] = v
            node = helper.make_node(op, ins, ["Y"], name=f"{op.lower()}_node", **kw)
            onnx_case(f"{op}_{attr}_{v}", "attribute-limits", [node], X4, [vi("Y", None)], inits, opset=18 if op != "GridSample" else 20)

# --- 2. Integer inputs from initializers near the limits ----------------------------------------
def int_input_case(op, slot_values, ins, inits_fn, attrs=None, opset=18, xshape=(1, 2, 5, 5)):
    for v in HOSTILE_INTS:
        for pos in range(slot_values):
            node = helper.make_node(op, ins, ["Y"], name=f"{op.lower()}_node", **(attrs or {}))
            onnx_case(f"{op}_int{pos}_{v}", "input-limits", [node], [vi("X", list(xshape))], [vi("Y", None)], inits_fn(v, pos), opset=opset)


def vec(name, n, v, pos, fill=1):
    a = [fill] * n
    a[pos] = v
    return i64(name, a)


int_input_case("Tile", 4, ["X", "R"], lambda v, p: [vec("R", 4, v, p)])
int_input_case("Reshape", 3, ["X", "S"], lambda v, p: [vec("S", 3, v, p, fill=-1 if p else 1)])
int_input_case("Expand", 4, ["X", "S"], lambda v, p: [vec("S", 4, v, p)])
int_input_case("Slice", 4, ["X", "ST", "EN", "AX", "SP"], lambda v, p: [
    i64("ST", [v if p == 0 else 0]), i64("EN", [v if p == 1 else 3]), i64("AX", [v if p == 2 else 3]), i64("SP", [v if p == 3 else 1])])
int_input_case("Pad", 8, ["X", "P"], lambda v, p: [vec("P", 8, v, p, fill=0)])
int_input_case("TopK", 1, ["X", "K"], lambda v, p: [i64("K", [v])])
int_input_case("Unsqueeze", 1, ["X", "A"], lambda v, p: [i64("A", [v])])
int_input_case("Squeeze", 1, ["X", "A"], lambda v, p: [i64("A", [v])])
int_input_case("ReduceSum", 1, ["X", "A"], lambda v, p: [i64("A", [v])])
int_input_case("Split", 2, ["X", "S"], lambda v, p: [vec("S", 2, v, p)], attrs={"axis": 1})
int_input_case("Gather", 1, ["X", "I"], lambda v, p: [i64("I", [v])])
int_input_case("GatherND", 1, ["X", "I"], lambda v, p: [i64("I", [[0, v]])])
int_input_case("Trilu", 1, ["X", "K"], lambda v, p: [i64("K", v)])
int_input_case("CumSum", 1, ["X", "A"], lambda v, p: [i64("A", v)])
int_input_case("Resize", 4, ["X", "", "", "S"], lambda v, p: [vec("S", 4, v, p, fill=2)])
int_input_case("ConstantOfShape", 3, ["S"], lambda v, p: [vec("S", 3, v, p)])
int_input_case("OneHot", 1, ["I", "D", "V"], lambda v, p: [i64("I", [0, 1]), i64("D", [v]), f32("V", [0, 1])])
int_input_case("ScatterND", 1, ["X", "I", "U"], lambda v, p: [i64("I", [[0, 0, 0, v]]), f32("U", [1])])
int_input_case("ScatterElements", 1, ["X", "I", "U"], lambda v, p: [i64("I", np.full((1, 1, 1, 1), v)), f32("U", [1], [1, 1, 1, 1])])
int_input_case("Range", 3, ["A", "B", "C"], lambda v, p: [i64("A", v if p == 0 else 0), i64("B", v if p == 1 else 10), i64("C", v if p == 2 else 1)])
int_input_case("HannWindow", 1, ["N"], lambda v, p: [i64("N", v)])
int_input_case("CenterCropPad", 1, ["X", "S"], lambda v, p: [i64("S", [1, 2, v, 5])])
int_input_case("ReverseSequence", 1, ["X", "L"], lambda v, p: [i64("L", [v, 1])], xshape=(3, 2))
int_input_case("NegativeLogLikelihoodLoss", 1, ["X", "T"], lambda v, p: [i64("T", np.full((1, 5, 5), v))])
int_input_case("MaxUnpool", 1, ["X", "IX", "OS"], lambda v, p: [i64("IX", np.full((1, 2, 5, 5), v)), i64("OS", [1, 2, 10, 10])],
               attrs={"kernel_shape": [2, 2], "strides": [2, 2]})
int_input_case("Col2Im", 4, ["X", "IS", "BS"], lambda v, p: [vec("IS", 2, v, p % 2, fill=5), vec("BS", 2, v, p // 2, fill=1)], xshape=(1, 2, 25))
int_input_case("TensorScatter", 1, ["X", "U", "WI"], lambda v, p: [f32("U", np.zeros(10), [1, 2, 1, 5]), i64("WI", [v])])
int_input_case("DFT", 2, ["X", "N", "A"], lambda v, p: [i64("N", v if p == 0 else 4), i64("A", v if p == 1 else 1)], opset=20,
               xshape=(1, 5, 1))
int_input_case("STFT", 2, ["X", "ST", "", "FL"], lambda v, p: [i64("ST", v if p == 0 else 2), i64("FL", v if p == 1 else 4)], opset=17,
               xshape=(1, 16, 1))
int_input_case("MelWeightMatrix", 3, ["NM", "DL", "SR", "LO", "HI"], lambda v, p: [
    i64("NM", v if p == 0 else 4), i64("DL", v if p == 1 else 16), i64("SR", v if p == 2 else 8000), f32("LO", 0.0), f32("HI", 4000.0)])
int_input_case("Loop", 1, ["M", "", "X"], lambda v, p: [i64("M", v)], attrs={"body": helper.make_graph(
    [helper.make_node("Identity", ["c"], ["co"]), helper.make_node("Identity", ["x"], ["xo"])], "body",
    [vi("i", [], TensorProto.INT64), vi("c", [], TensorProto.BOOL), vi("x", [1, 2, 5, 5])],
    [vi("co", [], TensorProto.BOOL), vi("xo", [1, 2, 5, 5])])})
int_input_case("NonMaxSuppression", 1, ["BX", "SC", "M"], lambda v, p: [
    f32("BX", [0, 0, 1, 1, 0, 0, 2, 2], [1, 2, 4]), f32("SC", [0.9, 0.8], [1, 1, 2]), i64("M", [v])])
for v in HOSTILE_INTS:
    for op in ("Div", "Mod"):
        node = helper.make_node(op, ["A", "B"], ["Y"], name="arith")
        onnx_case(f"{op}_int64_{v}", "input-limits", [node], [vi("X", [1])], [vi("Y", None)], [i64("A", [I64_MIN, v]), i64("B", [-1, v])])
    node = helper.make_node("BitShift", ["A", "B"], ["Y"], name="shift", direction="LEFT")
    ua = numpy_helper.from_array(np.array([1, 2], np.uint64), "A")
    ub = numpy_helper.from_array(np.array([v & (2**64 - 1), 70], np.uint64), "B")
    onnx_case(f"BitShift_{v}", "input-limits", [node], [vi("X", [1])], [vi("Y", None)], [ua, ub])

# --- 3. Float data values converted to integers or sizes ----------------------------------------
def float_input_case(op, n, ins, inits_fn, attrs=None, opset=18, xshape=(1, 2, 5, 5), cls="float-values"):
    for v in HOSTILE_FLOATS:
        for pos in range(n):
            node = helper.make_node(op, ins, ["Y"], name=f"{op.lower()}_node", **(attrs or {}))
            onnx_case(f"{op}_f{pos}_{v}", cls, [node], [vi("X", list(xshape))], [vi("Y", None)], inits_fn(v, pos), opset=opset)


def fvec(name, n, v, pos, fill=1.0, shape=None):
    a = [fill] * n
    a[pos] = v
    return f32(name, a, shape)


float_input_case("Resize", 4, ["X", "", "S"], lambda v, p: [fvec("S", 4, v, p)], attrs={"mode": "nearest"})
float_input_case("Resize", 2, ["X", "R", "S"], lambda v, p: [fvec("R", 8, v, p * 3, fill=0.5), f32("S", [1, 1, 2, 2])],
                 attrs={"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize"})
float_input_case("Upsample", 4, ["X", "S"], lambda v, p: [fvec("S", 4, v, p)], opset=9)
float_input_case("Range", 3, ["A", "B", "C"], lambda v, p: [f32("A", v if p == 0 else 0.0), f32("B", v if p == 1 else 10.0), f32("C", v if p == 2 else 1.0)])
float_input_case("NonMaxSuppression", 2, ["BX", "SC", "M", "IOU", "ST"], lambda v, p: [
    f32("BX", [0, 0, 1, 1, v, v, 2, 2], [1, 2, 4]), f32("SC", [0.9, v], [1, 1, 2]), i64("M", [10]),
    f32("IOU", [v if p == 0 else 0.5]), f32("ST", [v if p == 1 else 0.0])])
float_input_case("OneHot", 1, ["I", "D", "V"], lambda v, p: [f32("I", [v, 1]), f32("D", [v]), f32("V", [0, 1])])
float_input_case("RoiAlign", 4, ["X", "RO", "BI"], lambda v, p: [fvec("RO", 4, v, p, fill=1.0, shape=[1, 4]), i64("BI", [0])])
float_input_case("DeformConv", 2, ["X", "W", "OF"], lambda v, p: [f32("W", np.ones(3 * 2 * 3 * 3), [3, 2, 3, 3]),
                 fvec("OF", 18 * 9, v, p, fill=0.5, shape=[1, 18, 3, 3])])
float_input_case("AffineGrid", 1, ["TH", "SZ"], lambda v, p: [fvec("TH", 6, v, 0, shape=[1, 2, 3]), i64("SZ", [1, 1, 3, 3])])
float_input_case("GridSample", 2, ["X", "G"], lambda v, p: [fvec("G", 50, v, p, fill=0.0, shape=[1, 5, 5, 2])], opset=20)
float_input_case("Clip", 2, ["X", "LO", "HI"], lambda v, p: [f32("LO", v if p == 0 else -1.0), f32("HI", v if p == 1 else 1.0)])
float_input_case("QuantizeLinear", 1, ["X", "S", "Z"], lambda v, p: [f32("S", v), numpy_helper.from_array(np.array(0, np.int8), "Z")])
float_input_case("DequantizeLinear", 1, ["Q", "S"], lambda v, p: [numpy_helper.from_array(np.array([1, -128], np.int8), "Q"), f32("S", v)])
float_input_case("Pow", 1, ["X", "E"], lambda v, p: [f32("E", v)])
for to in (TensorProto.INT8, TensorProto.UINT8, TensorProto.INT32, TensorProto.INT64, TensorProto.UINT64, TensorProto.BOOL,
           TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.INT16, TensorProto.UINT32):
    node = helper.make_node("Cast", ["C"], ["Y"], name="cast", to=to)
    onnx_case(f"Cast_to_{to}", "float-values", [node], [vi("X", [1])], [vi("Y", None)], [f32("C", HOSTILE_FLOATS + [3e9, -3e9, 1e20])])
    node = helper.make_node("Cast", ["C"], ["Y"], name="cast", to=to)
    onnx_case(f"Cast_i64_to_{to}", "float-values", [node], [vi("X", [1])], [vi("Y", None)], [i64("C", [I64_MIN, I64_MAX, -1, 0])])
# --- 4. Wrong input counts, missing and mistyped attributes -------------------------------------
count_ops = ["Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Relu", "MaxPool", "BatchNormalization", "Concat", "Reshape", "Slice",
             "Gather", "Resize", "Pad", "Clip", "Where", "Split", "TopK", "Range", "Expand", "Tile", "Einsum", "LayerNormalization",
             "QuantizeLinear", "DequantizeLinear", "NonMaxSuppression", "Attention", "GridSample", "OneHot", "ScatterND", "CumSum",
             "LSTM", "GRU", "RNN", "Softmax", "Transpose", "Cast", "Constant", "Identity", "Shape"]
for op in count_ops:
    for n in (0, 7):
        ins = ["X"] * n
        node = helper.make_node(op, ins, ["Y"], name=f"{op.lower()}_n{n}")
        onnx_case(f"{op}_inputs_{n}", "input-counts", [node], X4, [vi("Y", None)], opset=23, expect="error")
    node = helper.make_node(op, ["X"], ["Y", "Z1", "Z2", "Z3", "Z4", "Z5"], name=f"{op.lower()}_outs")
    onnx_case(f"{op}_outputs_6", "input-counts", [node], X4, [vi("Y", None)], opset=23, expect="error")
for op, attr, bad in [("Conv", "strides", "x"), ("Conv", "kernel_shape", 1.5), ("Flatten", "axis", [1, 2]), ("Cast", "to", 999),
                      ("Cast", "to", "float"), ("Softmax", "axis", 1.5), ("Transpose", "perm", [0, 0, 1, 2]), ("Transpose", "perm", [0, 1]),
                      ("Gemm", "transA", 7), ("Resize", "mode", "magic"), ("Resize", "coordinate_transformation_mode", "x"),
                      ("Pad", "mode", "mirror"), ("GridSample", "mode", "x"), ("LeakyRelu", "alpha", "x"), ("Einsum", "equation", "ij,jk->"),
                      ("Einsum", "equation", "...,...->...i"), ("Einsum", "equation", "a" * 100 + "->"), ("Einsum", "equation", "->->"),
                      ("DepthToSpace", "mode", "XYZ"), ("ArgMax", "select_last_index", 5), ("Cast", "saturate", 9)]:
    node = helper.make_node(op, ["X"], ["Y"], name="badattr", **{attr: bad})
    onnx_case(f"{op}_{attr}_{str(bad)[:20]}", "attribute-types", [node], X4, [vi("Y", None)], opset=21, expect="error")
# Constant with two values, none, a sparse value; a tensor attribute with a lying size.
lying_tensor = lying("v", [1000000])
const_cases = {
    "two_values": dict(value_float=1.0, value_int=2),
    "none": {},
    "value_ints_and_floats": dict(value_ints=[1, 2], value_floats=[1.0]),
    "lying_tensor": dict(value=lying_tensor),
    "string": dict(value_string="hello"),
}
for name, kw in const_cases.items():
    node = helper.make_node("Constant", [], ["Y"], name="const", **kw)
    onnx_case(f"Constant_{name}", "structure", [node], [vi("X", [1])], [vi("Y", None)],
              expect="any" if name == "string" else "error")

# --- 5. Structure: graphs ONNX forbids, names, sizes --------------------------------------------
relu = lambda i, o, n="r": helper.make_node("Relu", [i], [o], name=n)
structural = {
    "no_outputs": ([helper.make_node("Relu", ["X"], [], name="silent")], [vi("X", [1])], [vi("X", [1])], []),
    "no_graph_outputs": ([relu("X", "Y")], [vi("X", [1])], [], []),
    "empty_graph": ([], [], [], []),
    "cycle": ([relu("B", "A", "a"), relu("A", "B", "b"), relu("B", "Y", "c")], [vi("X", [1])], [vi("Y", [1])], []),
    "self_loop": ([relu("Y", "Y")], [vi("X", [1])], [vi("Y", [1])], []),
    "ssa_violation": ([relu("X", "Y", "a"), relu("X", "Y", "b")], [vi("X", [1])], [vi("Y", [1])], []),
    "output_redefines_input": ([relu("X", "X")], [vi("X", [1])], [vi("X", [1])], []),
    "duplicate_initializers": ([relu("W", "Y")], [vi("X", [1])], [vi("Y", [1])], [f32("W", [1]), f32("W", [2])]),
    "undefined_output": ([relu("X", "Y")], [vi("X", [1])], [vi("Q", [1])], []),
    "undefined_input": ([relu("nowhere", "Y")], [vi("X", [1])], [vi("Y", [1])], []),
    "empty_op_type": ([helper.make_node("", ["X"], ["Y"], name="e")], [vi("X", [1])], [vi("Y", [1])], []),
    "control_chars": ([helper.make_node("Relu", ["X"], ["Y\x1b[31m\x07\n"], name="n\x1b[2J\r\x00z")], [vi("X", [1])], [vi("Y\x1b[31m\x07\n", [1])], []),
    "unknown_op_control_chars": ([helper.make_node("Fancy\x1b[2J\x07", ["X"], ["Y"], name="\x1b]0;title\x07")], [vi("X", [1])], [vi("Y", [1])], []),
    "long_name": ([helper.make_node("Relu", ["X"], ["Y" * 200000], name="n" * 200000)], [vi("X", [1])], [vi("Y" * 200000, [1])], []),
    "many_unknown_ops": ([helper.make_node(f"Op{i}", ["X"], [f"Y{i}"], name=f"n{i}") for i in range(5000)], [vi("X", [1])], [vi("Y0", [1])], []),
}
for name, (nodes, ins, outs, inits) in structural.items():
    expect = "any" if name in ("control_chars", "long_name") else "error"
    onnx_case(name, "structure", nodes, ins, outs, inits, expect=expect)
for name, dims in {"neg_dim": [-5], "huge_dims": [2**32, 2**32], "int64max_dim": [I64_MAX], "rank_100": [1] * 100, "zero_dim": [0, 3],
                   "many_dims": [2] * 40}.items():
    onnx_case(f"input_{name}", "shapes", [relu("X", "Y")], [vi("X", dims)], [vi("Y", None)], expect="any" if name in ("rank_100", "zero_dim") else "error")
for b in ("1099511627776", "-1", "0", "9223372036854775807"):
    onnx_case(f"batch_{b}", "shapes", [relu("X", "Y")], [vi("X", ["N", 3])], [vi("Y", None)], expect="error", extra=["--batch", b])
onnx_case("symbolic_huge_then_batch", "shapes", [relu("X", "Y")], [vi("X", ["N", 2**31, 4])], [vi("Y", None)], expect="error")
onnx_case("output_rank_100000", "shapes", [helper.make_node("Reshape", ["X", "S"], ["Y"], name="r")], [vi("X", [1])], [vi("Y", None)],
          [i64("S", [1] * 100000)], expect="any", extra=["--out", "scratch/rank"])
onnx_case("initializer_huge_dims", "shapes", [relu("W", "Y")], [vi("X", [1])], [vi("Y", None)],
          [lying("W", [2**31, 2**31])], expect="error")
onnx_case("initializer_neg_dims", "shapes", [relu("W", "Y")], [vi("X", [1])], [vi("Y", None)],
          [lying("W", [-1])], expect="error")
raw = helper.make_tensor("W", TensorProto.FLOAT, [4], [1.0, 2, 3, 4])
raw.raw_data = b"\x00" * 7
onnx_case("initializer_raw_size", "shapes", [relu("W", "Y")], [vi("X", [1])], [vi("Y", None)], [raw], expect="error")
bad_type = helper.make_tensor("W", TensorProto.FLOAT, [1], [1.0])
bad_type.data_type = 999
onnx_case("initializer_data_type_999", "shapes", [relu("W", "Y")], [vi("X", [1])], [vi("Y", None)], [bad_type], expect="error")
# The 16 GiB tensor asked for by a tiny file, in several ways.
big = [2**16, 2**16]
onnx_case("constant_of_shape_16g", "memory", [helper.make_node("ConstantOfShape", ["S"], ["Y"], name="c")], [vi("X", [1])], [vi("Y", None)], [i64("S", big)])
onnx_case("expand_16g", "memory", [helper.make_node("Expand", ["X", "S"], ["Y"], name="e")], [vi("X", [1])], [vi("Y", None)], [i64("S", big)])
onnx_case("tile_16g", "memory", [helper.make_node("Tile", ["X", "S"], ["Y"], name="t")], [vi("X", [1, 1])], [vi("Y", None)], [i64("S", big)])
onnx_case("pad_16g", "memory", [helper.make_node("Pad", ["X", "P"], ["Y"], name="p")], [vi("X", [1, 1])], [vi("Y", None)], [i64("P", [0, 0, 2**16, 2**16])])
onnx_case("resize_16g", "memory", [helper.make_node("Resize", ["X", "", "S"], ["Y"], name="r")], [vi("X", [1, 1, 1, 1])], [vi("Y", None)],
          [f32("S", [1, 1, 2**16, 2**16])])
onnx_case("resize_sizes_16g", "memory", [helper.make_node("Resize", ["X", "", "", "S"], ["Y"], name="r")], [vi("X", [1, 1, 1, 1])], [vi("Y", None)],
          [i64("S", [1, 1, 2**16, 2**16])])
onnx_case("onehot_16g", "memory", [helper.make_node("OneHot", ["I", "D", "V"], ["Y"], name="o")], [vi("X", [1])], [vi("Y", None)],
          [i64("I", np.zeros(2**10, np.int64)), i64("D", [2**24]), f32("V", [0, 1])])
onnx_case("range_16g", "memory", [helper.make_node("Range", ["A", "B", "C"], ["Y"], name="r")], [vi("X", [1])], [vi("Y", None)],
          [f32("A", 0.0), f32("B", 4e9), f32("C", 1.0)])
onnx_case("convtranspose_16g", "memory", [helper.make_node("ConvTranspose", ["X", "WT"], ["Y"], name="ct", strides=[2**16, 2**16])],
          [vi("X", [1, 2, 2, 2])], [vi("Y", None)], [WT])
onnx_case("chain_of_1g", "memory",
          [helper.make_node("Expand", ["X", "S"], ["E0"], name="e0")] + [helper.make_node("Add", [f"E{i}", "X"], [f"E{i + 1}"], name=f"a{i}") for i in range(20)],
          [vi("X", [1])], [vi("E20", None)], [i64("S", [2**28])])
onnx_case("deep_chain_20000", "time", [relu("X" if i == 0 else f"T{i}", f"T{i + 1}", f"r{i}") for i in range(20000)], [vi("X", [1])], [vi("T20000", None)])
onnx_case("inputs_60000", "time", [relu("X", "Y")], [vi("X", [1])] + [vi(f"I{i}", [1]) for i in range(60000)], [vi("Y", None)])

# --- 6. Corrupt protobuf ------------------------------------------------------------------------
base = open(os.path.join(ZOO, "models", "digits_cnn.onnx"), "rb").read()
rng = random.Random(16)
for i in range(60):
    b = bytearray(base)
    for _ in range(1 + i % 8):
        b[rng.randrange(len(b))] = rng.randrange(256)
    add(f"bitflip_{i}", "protobuf", ["run", write(f"protobuf/bitflip_{i}.onnx", bytes(b)), "--threads", "1"], "any")
for i, cut in enumerate([0, 1, 2, 10, 100, 1000, len(base) // 2, len(base) - 1]):
    add(f"truncated_{i}", "protobuf", ["run", write(f"protobuf/truncated_{i}.onnx", base[:cut]), "--threads", "1"])
for i in range(10):
    add(f"random_{i}", "protobuf", ["run", write(f"protobuf/random_{i}.onnx", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5000)))), "--threads", "1"])
# Length fields claiming gigabytes: field 7 (graph), wire type 2, length 2^62.
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)
for i, n in enumerate([2**31, 2**62, 2**63 - 1, 2**64 - 1]):
    add(f"length_{i}", "protobuf", ["run", write(f"protobuf/length_{i}.onnx", b"\x08\x08" + b"\x3a" + varint(n) + b"\x00" * 16), "--threads", "1"])
add("directory_as_model", "protobuf", ["run", "protobuf", "--threads", "1"])
add("missing_model", "protobuf", ["run", "protobuf/nope.onnx", "--threads", "1"])
add("dev_zero_model", "protobuf", ["run", "/dev/zero", "--threads", "1"])
add("dev_null_model", "protobuf", ["run", "/dev/null", "--threads", "1"])

# --- 7. External data ---------------------------------------------------------------------------
os.makedirs(os.path.join(out, "external", "inner"), exist_ok=True)
write("external/secret.bin", b"\x00" * 16)
write("external/inner/w.bin", b"\x00" * 16)
for link, target in [("external/inner/link.bin", "../secret.bin"), ("external/inner/dirlink", "..")]:
    p = os.path.join(out, link)
    if not os.path.lexists(p):
        os.symlink(target, p)
fifo = os.path.join(out, "external", "inner", "fifo.bin")
if not os.path.exists(fifo):
    os.mkfifo(fifo)
os.makedirs(os.path.join(out, "external", "inner", "folder.bin"), exist_ok=True)
for i, entries in enumerate([
    {"location": "../secret.bin"}, {"location": "/etc/passwd"}, {"location": "link.bin"}, {"location": "dirlink/secret.bin"},
    {"location": "fifo.bin"}, {"location": "folder.bin"}, {"location": "/dev/zero"}, {"location": "w.bin", "offset": str(I64_MAX - 4)},
    {"location": "w.bin", "offset": "-8"}, {"location": "w.bin", "length": "99999999999"}, {"location": "w.bin", "offset": "x"},
    {"location": "w.bin", "length": "-1"}, {"location": ""}, {"location": "nope.bin"}, {"location": "w.bin\x00.txt"},
]):
    t = TensorProto()
    t.name, t.data_type = "W", TensorProto.FLOAT
    t.dims.extend([4])
    t.data_location = TensorProto.EXTERNAL
    for k, v in entries.items():
        e = t.external_data.add()
        e.key, e.value = k, v
    rel = write(f"external/inner/m{i}.onnx", model_bytes([helper.make_node("Add", ["X", "W"], ["Y"], name="add")], [vi("X", [4])], [vi("Y", [4])], [t]))
    add(f"external_{i}", "external-data", ["run", rel, "--threads", "1"])

# --- 8. Keras JSON ------------------------------------------------------------------------------
kz = json.load(open(os.path.join(ZOO, "keras", "kz_cnn.json")))
mlp = json.load(open(os.path.join(ZOO, "keras", "kz_sequential_mlp.json")))
KERAS_BAD = [1e300, "NaN", "Infinity", "-Infinity", -1, 2.5, 0, 9223372036854775808, 18446744073709551616, "seven", None, [], {}]


def keras_case(name, doc, expect="error", text=None):
    rel = write(f"keras/{name}.json", (text if text is not None else json.dumps(doc, allow_nan=True)).encode())
    add(name, "keras", ["verify", rel], expect)


def layers(doc):
    return doc["architecture"]["config"]["layers"]


def set_path(obj, path, v):
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = v


def keras_json_with(doc, path, v):
    d = copy.deepcopy(doc)
    set_path(d, path, v)
    s = json.dumps(d)
    marker = "\"__HOSTILE__\""
    return s, d


kinds = {}
for li, layer in enumerate(layers(kz)):
    cls = layer["class_name"]
    for key in ("filters", "kernel_size", "strides", "pool_size", "units", "axis", "dilation_rate", "size", "padding", "batch_shape", "target_shape", "dims", "rate"):
        if key in layer["config"] and (cls, key) not in kinds:
            kinds[(cls, key)] = (li, key)
for li, layer in enumerate(layers(mlp)):
    for key in ("units", "batch_shape"):
        if key in layer["config"] and (layer["class_name"], key) not in kinds:
            kinds[(layer["class_name"], key)] = (li, key)
for (cls, key), (li, k) in kinds.items():
    doc = kz if (cls, key) not in [("Dense", "units")] or "Dense" in [l["class_name"] for l in layers(kz)] else mlp
    for bi, bad in enumerate(KERAS_BAD):
        d = copy.deepcopy(doc)
        cur = d["architecture"]["config"]["layers"][li]["config"][k]
        if isinstance(cur, list) and cur and not isinstance(bad, list):
            cur = list(cur)
            cur[-1] = bad
            d["architecture"]["config"]["layers"][li]["config"][k] = cur
        else:
            d["architecture"]["config"]["layers"][li]["config"][k] = bad
        text = json.dumps(d).replace('"NaN"', "NaN").replace('"Infinity"', "Infinity").replace('"-Infinity"', "-Infinity")
        # Valid: the last axis as -1; null for an axis, a padding or a dimension (the default, unknown).
        valid = (key == "axis" and bad == -1) or (bad is None and key in ("axis", "padding", "batch_shape"))
        keras_case(f"keras_{cls}_{key}_{bi}", None, expect="any" if valid else "error", text=text)
# keras_history indices
for bi, bad in enumerate(KERAS_BAD):
    d = copy.deepcopy(mlp)
    args = d["architecture"]["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"]
    args[1] = bad
    keras_case(f"keras_history_{bi}", None, expect="any" if bad == 0 else "error",
               text=json.dumps(d).replace('"NaN"', "NaN").replace('"Infinity"', "Infinity"))
mlp_text = json.dumps(mlp)
keras_case("keras_trailing_garbage", None, text=mlp_text + " {}garbage")
keras_case("keras_trailing_json", None, text=mlp_text + mlp_text)
for i, cut in enumerate([1, 10, 100, len(mlp_text) // 2, len(mlp_text) - 1]):
    keras_case(f"keras_truncated_{i}", None, text=mlp_text[:cut])
keras_case("keras_empty", None, text="")
keras_case("keras_deep_nesting", None, text="[" * 200000 + "]" * 200000)
keras_case("keras_deep_object", None, text='{"a":' * 100000 + "1" + "}" * 100000)
keras_case("keras_not_object", None, text="[1, 2, 3]")
keras_case("keras_binary", None, text=bytes(range(256)).decode("latin-1"))
for i, field in enumerate(["architecture", "trainable_params", "tests", "input_shapes", "image_data_format"]):
    d = copy.deepcopy(mlp)
    del d[field]
    keras_case(f"keras_missing_{field}", d, expect="any" if field in ("tests", "image_data_format", "input_shapes") else "error")
d = copy.deepcopy(mlp)
d["trainable_params"]["dense"]["weights"][0] = "!!!not base64$$$"
keras_case("keras_bad_base64", d)
d = copy.deepcopy(mlp)
d["trainable_params"]["dense"]["weights"][0] = d["trainable_params"]["dense"]["weights"][0][:8]
keras_case("keras_short_weights", d)
d = copy.deepcopy(mlp)
d["trainable_params"]["dense"]["weights"][0] = base64.b64encode(b"\x00" * 4 * 100000).decode()
keras_case("keras_long_weights", d)
d = copy.deepcopy(mlp)
d["tests"][0]["inputs"][0]["shape"] = [2**40]
keras_case("keras_test_huge_shape", d)
d = copy.deepcopy(mlp)
d["tests"][0]["inputs"][0]["shape"] = [-3]
keras_case("keras_test_negative_shape", d)
d = copy.deepcopy(mlp)
d["tests"][0]["outputs"][0]["values"] = ["AAAA"]
keras_case("keras_test_wrong_output", d)
d = copy.deepcopy(mlp)
ls = layers(d)
ls[0]["config"]["batch_shape"] = [None, 2**31, 2**31]
keras_case("keras_input_16g", d)
d = copy.deepcopy(mlp)
ls = layers(d)
ls[1]["config"]["units"] = 2**40
keras_case("keras_units_2_40", d)
d = copy.deepcopy(mlp)
ls = layers(d)
ls[1]["class_name"] = "Dense\x1b[2J\x07"
keras_case("keras_control_chars", d)
d = copy.deepcopy(mlp)
ls = layers(d)
ls[1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = ls[1]["name"]
keras_case("keras_self_reference", d)
d = copy.deepcopy(mlp)
ls = layers(d)
ls[1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "nowhere"
keras_case("keras_unknown_inbound", d)
# 20,000 layers listed in reverse order: a chain of Activation layers.
d = copy.deepcopy(mlp)
inp = layers(d)[0]
chain = [inp]
prev = inp["name"]
for i in range(20000):
    chain.append({"module": "keras.layers", "class_name": "Activation", "config": {"name": f"act{i}", "activation": "relu"}, "name": f"act{i}",
                  "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [None, 12], "keras_history": [prev, 0, 0]}}], "kwargs": {}}]})
    prev = f"act{i}"
d["architecture"]["config"]["layers"] = [chain[0]] + chain[1:][::-1]
d["architecture"]["config"]["output_layers"] = [[prev, 0, 0]]
d["trainable_params"] = {}
d["output_shapes"] = [[12]]
del d["tests"]
keras_case("keras_reverse_20000", d, expect="any")

# --- 9. Tensor files ----------------------------------------------------------------------------
mlp_onnx = "onnx/base/mlp.onnx"
write(mlp_onnx, model_bytes([helper.make_node("Relu", ["X"], ["Y"], name="r")], [vi("X", [2, 3])], [vi("Y", [2, 3])]))


def npy(header_dict_text, data=b"", version=(1, 0), magic=b"\x93NUMPY"):
    h = header_dict_text.encode("latin-1")
    if version[0] == 1:
        pad = (64 - (10 + len(h) + 1) % 64) % 64
        h = h + b" " * pad + b"\n"
        return magic + bytes(version) + struct.pack("<H", len(h)) + h + data
    pad = (64 - (12 + len(h) + 1) % 64) % 64
    h = h + b" " * pad + b"\n"
    return magic + bytes(version) + struct.pack("<I", len(h)) + h + data


good = np.arange(6, dtype=np.float32).reshape(2, 3)
NPY_CASES = {
    "bad_magic": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", good.tobytes(), magic=b"\x93NUMPX"),
    "huge_shape": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", good.tobytes()),
    "overflow_shape": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 3), }", good.tobytes()),
    "negative_shape": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, -3), }", good.tobytes()),
    "short_data": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", good.tobytes()[:7]),
    "object_dtype": npy("{'descr': '|O', 'fortran_order': False, 'shape': (2, 3), }", good.tobytes()),
    "complex_dtype": npy("{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }", good.tobytes() * 2),
    "big_endian": npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", good.byteswap().tobytes()),
    "fortran": npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", good.T.copy().tobytes()),
    "garbage_header": npy("{'descr': '<f4', 'shape': (2, 3), 'fortran_order': __import__('os')}", good.tobytes()),
    "unterminated_header": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3", good.tobytes()),
    "header_len_beyond_file": b"\x93NUMPY\x01\x00\xff\xff{'descr'",
    "v2_header_len_huge": b"\x93NUMPY\x02\x00\xff\xff\xff\x7f{'descr'",
    "v3": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", good.tobytes(), version=(3, 0)),
    "v9": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", good.tobytes(), version=(9, 0)),
    "nested_shape": npy("{'descr': '<f4', 'fortran_order': False, 'shape': ((2,), 3), }", good.tobytes()),
    "float_shape": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2.0, 3), }", good.tobytes()),
    "nan_values": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", np.array([np.nan, np.inf, -np.inf, 1e30, -0.0, 0], np.float32).tobytes()),
    "empty": b"",
    "wrong_shape": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 1), }", good.tobytes()),
    "wrong_dtype": npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }", np.zeros(6, np.int64).tobytes()),
    "long_header": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), " + " " * 70000 + "}", good.tobytes(), version=(2, 0)),
    "rank_5000": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "1, " * 5000 + "), }", good.tobytes()[:4]),
}
for name, data in NPY_CASES.items():
    rel = write(f"npy/{name}.npy", data)
    # numpy writes versions 2.0 and 3.0 for long or non-Latin-1 headers: valid files.
    expect = "any" if name in ("big_endian", "fortran", "nan_values", "v3", "long_header") else "error"
    add(f"npy_{name}", "tensor-files", ["run", mlp_onnx, "--input", f"X={rel}", "--threads", "1"], expect)
    add(f"npy_{name}_as_labels", "tensor-files", ["report", mlp_onnx, "--data", "npy", "--labels", rel, "--out", f"scratch/lab_{name}", "--precisions", "fp16",
                                                  "--sensitivity-samples", "0"], "error")


def npz(members, compress=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as z:
        for k, v in members:
            z.writestr(k, v)
    return buf.getvalue()


good_npy = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", good.tobytes())
bomb_npy = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", b"\x00" * (1 << 30))
bomb = npz([("X.npy", bomb_npy)], zipfile.ZIP_DEFLATED)
# Rewrite the declared uncompressed size of the member (local and central headers) to 24 + header.
bomb = bytearray(bomb)
declared = len(good_npy)
for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
    i = bomb.find(sig)
    struct.pack_into("<I", bomb, i + off, declared)
NPZ_CASES = {
    "good": npz([("X.npy", good_npy)]),
    "zip_bomb_declared_small": bytes(bomb),
    "zip_bomb_honest": npz([("X.npy", bomb_npy)], zipfile.ZIP_DEFLATED),
    "duplicate_members": npz([("X.npy", good_npy), ("X.npy", good_npy)]),
    "truncated": npz([("X.npy", good_npy)])[:40],
    "not_zip": b"PK\x05\x06" + b"\xff" * 18,
    "member_bad_npy": npz([("X.npy", b"\x93NUMPY garbage")]),
    "member_huge_shape": npz([("X.npy", NPY_CASES["huge_shape"])]),
    "crc_wrong": bytes(bytearray(npz([("X.npy", good_npy)])).replace(struct.pack("<I", zlib.crc32(good_npy)), b"\x00\x00\x00\x00")),
    "many_members": npz([(f"m{i}.npy", good_npy) for i in range(3000)]),
    "name_control_chars": npz([("X\x1b[2J\x07.npy", good_npy)]),
    "unknown_compression": bytes(bytearray(npz([("X.npy", good_npy)])).replace(b"PK\x03\x04\x14\x00\x00\x00\x00\x00", b"PK\x03\x04\x14\x00\x00\x00\x63\x00", 1)),
}
for name, data in NPZ_CASES.items():
    rel = write(f"npz/{name}.npz", data)
    add(f"npz_{name}", "tensor-files", ["run", mlp_onnx, "--load-inputs", rel, "--threads", "1"],
        # A local header that disagrees with the central directory: Python's zipfile, like
        # Touchstone, reads the central one.
        "any" if name in ("good", "crc_wrong", "unknown_compression") else "error")
os.makedirs(os.path.join(out, "scratch"), exist_ok=True)
# TensorProto .pb files in a folder.
pb_cases = {}
t = numpy_helper.from_array(good, "X")
pb_cases["good"] = t.SerializeToString()
t2 = copy.deepcopy(t)
del t2.dims[:]
t2.dims.extend([2**40, 2**40])
pb_cases["huge_dims"] = t2.SerializeToString()
t3 = copy.deepcopy(t)
t3.raw_data = t3.raw_data[:5]
pb_cases["short_raw"] = t3.SerializeToString()
t4 = copy.deepcopy(t)
t4.data_type = 77
pb_cases["bad_type"] = t4.SerializeToString()
t5 = copy.deepcopy(t)
del t5.dims[:]
t5.dims.extend([-1, -6])
pb_cases["negative_dims"] = t5.SerializeToString()
pb_cases["garbage"] = b"\xff" * 40
for name, data in pb_cases.items():
    write(f"pb/{name}/input_0.pb", data)
    add(f"pb_{name}", "tensor-files", ["run", mlp_onnx, "--load-inputs", f"pb/{name}", "--threads", "1"], "any" if name == "good" else "error")

# --- 10. Polygraphy JSON -------------------------------------------------------------------------
def poly_array(arr_bytes):
    return {"array": base64.b64encode(arr_bytes).decode(), "polygraphy_class": "ndarray"}


good_feed = [{"X": poly_array(good_npy)}]
JSON_CASES = {
    "inputs_good": good_feed,
    "inputs_not_list": {"X": 1},
    "inputs_empty_list": [],
    "inputs_bad_base64": [{"X": {"array": "!!!$$", "polygraphy_class": "ndarray"}}],
    "inputs_huge_shape": [{"X": poly_array(NPY_CASES["huge_shape"])}],
    "inputs_wrong_class": [{"X": {"array": 5, "polygraphy_class": "ndarray"}}],
    "inputs_nested_deep": [{"X": json.loads("[" * 500 + "]" * 500)}],
    "results_garbage": {"lst": [["runner", [{"outputs": {"X": 1}}]]], "polygraphy_class": "RunResults"},
    "results_bad_iter": {"lst": [["runner", {"not": "a list"}]], "polygraphy_class": "RunResults"},
    "results_huge": {"lst": [["runner", [{"outputs": {"X": poly_array(NPY_CASES["overflow_shape"])}, "polygraphy_class": "IterationResult"}]]],
                     "polygraphy_class": "RunResults"},
}
for name, doc in JSON_CASES.items():
    rel = write(f"json/{name}.json", json.dumps(doc).encode())
    add(f"json_{name}_load", "polygraphy-json", ["run", mlp_onnx, "--load-inputs", rel, "--threads", "1"], "any" if name == "inputs_good" else "error")
    add(f"json_{name}_compare", "polygraphy-json", ["compare", mlp_onnx, "--candidate", rel, "--threads", "1"], "error")
write("json/not_json.json", b"{\"lst\": [")
add("json_truncated", "polygraphy-json", ["compare", mlp_onnx, "--candidate", "json/not_json.json"])

# --- 11. Calibration caches and merge parts ----------------------------------------------------
trt = {
    "nan_scale": "TRT-8601-EntropyCalibration2\nX: 7fc00000\nY: 3c010204\n",
    "inf_scale": "TRT-8601-EntropyCalibration2\nX: 7f800000\nY: 3c010204\n",
    "neg_scale": "TRT-8601-EntropyCalibration2\nX: bf800000\nY: 3c010204\n",
    "zero_scale": "TRT-8601-EntropyCalibration2\nX: 00000000\nY: 00000000\n",
    "denormal_scale": "TRT-8601-EntropyCalibration2\nX: 00000001\nY: 00000001\n",
    "garbage_hex": "TRT-8601-EntropyCalibration2\nX: zzzz\n",
    "long_hex": "TRT-8601-EntropyCalibration2\nX: " + "f" * 100000 + "\n",
    "no_header": "X: 3c010204\n",
    "empty": "",
    "binary": "\x00\xff" * 100,
    "json_nan": '{"method": "entropy", "ranges": {"X": NaN, "Y": Infinity}}',
    "json_strings": '{"method": "entropy", "ranges": {"X": "one"}}',
    "json_neg": '{"method": "entropy", "ranges": {"X": -1e300}}',
}
for name, text in trt.items():
    ext = "json" if name.startswith("json") else "cache"
    rel = write(f"calib/{name}.{ext}", text.encode("latin-1"))
    add(f"calib_{name}", "calibration", ["run", mlp_onnx, "--precision", "int8", "--calibration", rel, "--threads", "1"],
        # A zero scale is what a calibrator writes for an all-zero tensor.
        "any" if name in ("denormal_scale", "zero_scale") else "error")
# Samples with ±inf and NaN for calibrate run, every method.
for vals_name, vals in {"inf": [np.inf, -np.inf, 1, 2, 3, 4], "nan": [np.nan, 1, 2, 3, 4, 5], "huge": [3e38, -3e38, 1, 2, 3, 4]}.items():
    d = f"samples_{vals_name}"
    for k in range(3):
        buf = io.BytesIO()
        np.save(buf, np.array(vals, np.float32).reshape(2, 3) * (k + 1))
        write(f"{d}/s{k}.npy", buf.getvalue())
    for method in ("minmax", "percentile", "entropy", "mse"):
        add(f"calibrate_{vals_name}_{method}", "calibration", ["calibrate", "run", mlp_onnx, "--data", d, "--method", method,
                                                                "--cache", f"scratch/c_{vals_name}_{method}.cache"], "any")
    add(f"report_{vals_name}", "calibration", ["report", mlp_onnx, "--data", d, "--out", f"scratch/r_{vals_name}", "--sensitivity-samples", "2"], "any")
for p in ("nan", "200", "-1", "inf", "0"):
    add(f"percentile_{p}", "arguments", ["calibrate", "run", mlp_onnx, "--data", "samples_huge", "--method", "percentile", "--percentile", p,
                                        "--cache", "scratch/p.cache"], "error" if p != "0" else "any")
    add(f"report_percentile_{p}", "arguments", ["report", mlp_onnx, "--data", "samples_huge", "--method", "percentile", "--percentile", p,
                                               "--out", "scratch/rp"], "error" if p != "0" else "any")
# Merge parts: first write a real part with the CLI would need the binary; write parts by hand.
part_base = {"format": "touchstone-calibration-part", "version": 1, "method": "entropy", "samples": 3, "maxima": {"X": 3.0, "Y": 3.0}}
parts = {
    "absurd_samples": dict(part_base, samples=2**62),
    "negative_samples": dict(part_base, samples=-5),
    "nan_maximum": dict(part_base, maxima={"X": "NaN"}),
    "float_samples": dict(part_base, samples=2.5),
    "huge_histogram": dict(part_base, histograms={"X": {"bins": 2**40, "counts": [1, 2]}}),
    "counts_overflow": dict(part_base, histograms={"X": {"bins": 2, "maximum": 3.0, "counts": [2**63 - 1, 2**63 - 1]}}),
    "not_object": [1, 2, 3],
}
for name, doc in parts.items():
    text = json.dumps(doc).replace('"NaN"', "NaN")
    rel = write(f"parts/{name}.json", text.encode())
    rel2 = write(f"parts/{name}_b.json", text.encode())
    add(f"merge_{name}", "calibration", ["calibrate", "merge", rel, rel2, "--cache", f"scratch/m_{name}.cache"])

# --- 12. Command-line numbers and patterns ----------------------------------------------------
for flag, vals, sub in [
    ("--threads", ["0", "-1", "100000", "x", "9223372036854775808"], ["run", mlp_onnx]),
    ("--batch", ["0", "-1", "1099511627776"], ["run", mlp_onnx]),
    ("--seed", ["-1", "18446744073709551615", "1e3"], ["run", mlp_onnx]),
    ("--atol", ["nan", "-1", "inf"], ["compare", mlp_onnx, "--candidate", "json/inputs_good.json"]),
    ("--rtol", ["nan", "-1"], ["compare", mlp_onnx, "--candidate", "json/inputs_good.json"]),
    ("--top-k", ["0", "-1", "1099511627776"], ["compare", mlp_onnx, "--candidate", "json/inputs_good.json"]),
    ("--error-quantile", ["nan", "2", "-1"], ["compare", mlp_onnx, "--candidate", "json/inputs_good.json", "--check-error-stat", "quantile"]),
    ("--derived-factor", ["nan", "0", "-4", "inf"], ["compare", mlp_onnx, "--candidate", "json/inputs_good.json", "--tolerance", "derived"]),
    ("--limit", ["-1", "0"], ["report", mlp_onnx, "--data", "samples_huge", "--out", "scratch/lim"]),
    ("--sensitivity-samples", ["-1"], ["report", mlp_onnx, "--data", "samples_huge", "--out", "scratch/sens"]),
    ("--shard", ["0/0", "5/2", "-1/2", "x", "1/9223372036854775807"], ["calibrate", "run", mlp_onnx, "--data", "samples_huge", "--cache", "scratch/s.json"]),
    ("--trt-version", ["-1", "x"], ["calibrate", "run", mlp_onnx, "--data", "samples_huge", "--cache", "scratch/t.cache"]),
    ("--node-precision", ["r=fp99", "=fp16", "nowhere=fp16"], ["run", mlp_onnx]),
    ("--precision", ["fp99", ""], ["run", mlp_onnx]),
    ("--save-tensors", ["nowhere"], ["run", mlp_onnx, "--save-outputs", "scratch/o.json"]),
]:
    for v in vals:
        # --batch only sizes a symbolic first dimension (this model has none); shard 1 of 2^63 − 1
        # is a valid, nearly empty shard.
        valid = {("--seed", "18446744073709551615"), ("--limit", "0"), ("--batch", "1099511627776"), ("--shard", "1/9223372036854775807")}
        expect = "any" if (flag, v) in valid else "error"
        add(f"arg{flag}_{v}", "arguments", [*sub, flag, v], expect)
add("arg_max_memory_bad", "arguments", ["run", mlp_onnx, "--max-memory", "lots"])
add("arg_max_memory_tiny", "arguments", ["run", mlp_onnx, "--max-memory", "1"])
# A filter pattern that backtracks exponentially in a regex engine, on a long test name.
os.makedirs(os.path.join(out, "nodetests", "test_" + "a" * 40 + "b"), exist_ok=True)
write("nodetests/test_" + "a" * 40 + "b/model.onnx", open(os.path.join(out, mlp_onnx), "rb").read())
for pat in ["(a+)+$", "(a|aa)+$", "(a*)*c", "([a-z]+)*$"]:
    add(f"filter_{pat}", "time", ["conformance", "nodetests", "--filter", pat], "any")

# --- Sequences, optionals, strings and the ONNX-ML ops: positions out of range, sizes a small
# file asks for, patterns that backtrack, trees that loop, tables that do not pair up.
def ml_case(name, nodes, inputs, outputs, inits=(), opset=21, ml=5, expect="error"):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("ai.onnx.ml", ml),
                                            helper.make_opsetid("ai.onnx.preview", 1)])
    m.ir_version = 10
    add(name, "sequences-strings", ["run", write(f"onnx/sequences-strings/{name}.onnx", m.SerializeToString()), "--threads", "1"], expect)


S = TensorProto.STRING
seq_out = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)]
ml_case("split_to_sequence_16M_items", [helper.make_node("SplitToSequence", ["X"], ["S"]), helper.make_node("ConcatFromSequence", ["S"], ["Y"], axis=0)],
        [vi("X", [1 << 24])], seq_out, expect="any")
ml_case("sequence_at_out_of_range", [helper.make_node("SplitToSequence", ["X"], ["S"]), helper.make_node("SequenceAt", ["S", "P"], ["Y"])],
        [vi("X", [3, 2])], seq_out, [i64("P", [99])])
ml_case("sequence_insert_int64_max", [helper.make_node("SequenceEmpty", [], ["S"]), helper.make_node("SequenceInsert", ["S", "X", "P"], ["T"]),
                                      helper.make_node("ConcatFromSequence", ["T"], ["Y"], axis=0)], [vi("X", [2])], seq_out, [i64("P", [I64_MAX])])
ml_case("concat_from_empty_sequence", [helper.make_node("SequenceEmpty", [], ["S"]), helper.make_node("ConcatFromSequence", ["S"], ["Y"], axis=0)],
        [vi("X", [2])], seq_out)
# A loop that inserts one item per iteration, a million times: refused at the item limit.
body = helper.make_graph(
    [helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("SequenceInsert", ["s", "x"], ["s_out"])], "body",
    [vi("i", [], TensorProto.INT64), vi("c", [], TensorProto.BOOL), helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, None)],
    [vi("c_out", [], TensorProto.BOOL), helper.make_tensor_sequence_value_info("s_out", TensorProto.FLOAT, None)])
ml_case("loop_inserting_a_million_items",
        [helper.make_node("SequenceEmpty", [], ["s0"]), helper.make_node("Loop", ["M", "", "s0"], ["S"], body=body),
         helper.make_node("ConcatFromSequence", ["S"], ["Y"], axis=0)], [vi("x", [1])], seq_out, [i64("M", [1000000])])
ml_case("sequence_to_relu", [helper.make_node("SplitToSequence", ["X"], ["S"]), helper.make_node("Relu", ["S"], ["Y"])], [vi("X", [3])], seq_out)
ml_case("split_to_sequence_bad_split", [helper.make_node("SplitToSequence", ["X", "P"], ["S"]), helper.make_node("ConcatFromSequence", ["S"], ["Y"], axis=0)],
        [vi("X", [4])], seq_out, [i64("P", [I64_MAX, I64_MIN, 4])])
ml_case("optional_of_map_type", [helper.make_node("Optional", [], ["Y"], type=helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, [1])))],
        [vi("X", [1])], seq_out)
long_a = numpy_helper.from_array(np.array(["a" * 100000], dtype=object), "T")
for pat in ["(a*)*b", "(a|aa)+$", "((a+)+)+c", "(x+x+)+y"]:
    ml_case(f"regex_backtracking_{pat}", [helper.make_node("RegexFullMatch", ["T"], ["Y"], pattern=pat)], [vi("X", [1])],
            [helper.make_tensor_value_info("Y", TensorProto.BOOL, None)], [long_a], expect="any")
for pat in ["(?i)x", "a{1000}{1000}", "[[:alpha:]]", "(", "a**", "\\p{L}"]:
    ml_case(f"regex_bad_{pat}", [helper.make_node("RegexFullMatch", ["T"], ["Y"], pattern=pat)], [vi("X", [1])],
            [helper.make_tensor_value_info("Y", TensorProto.BOOL, None)], [long_a])
ml_case("string_to_add", [helper.make_node("Add", ["T", "T"], ["Y"])], [vi("X", [1])], seq_out, [long_a])
ml_case("string_split_huge_maxsplit", [helper.make_node("StringSplit", ["T"], ["Y", "Z"], maxsplit=I64_MAX)], [vi("X", [1])],
        [helper.make_tensor_value_info("Y", S, None), helper.make_tensor_value_info("Z", TensorProto.INT64, None)], [long_a], expect="any")
# Small inputs whose products would be huge: FlexAttention's scores over 200,000 one-wide positions,
# LinearAttention's state for 65,536-wide heads.
ml_case("flexattention_long_scores", [helper.make_node("FlexAttention", ["Q", "Q", "Q"], ["Y"], domain="ai.onnx.preview")],
        [vi("Q", [1, 1, 200000, 1])], seq_out, opset=27)
ml_case("linear_attention_huge_state", [helper.make_node("LinearAttention", ["Q", "Q", "Q"], ["Y", "S"], q_num_heads=1, kv_num_heads=1, update_rule="linear")],
        [vi("Q", [1, 1, 65536])], seq_out, opset=27)
tree = dict(nodes_modes=numpy_helper.from_array(np.array([0, 0], np.uint8), "m"), nodes_featureids=[0, 0],
            nodes_splits=numpy_helper.from_array(np.array([0.0, 0.0], np.float32), "s"), nodes_truenodeids=[1, 0], nodes_trueleafs=[0, 0],
            nodes_falsenodeids=[1, 0], nodes_falseleafs=[0, 0], leaf_targetids=[0], leaf_weights=numpy_helper.from_array(np.array([1.0], np.float32), "w"),
            tree_roots=[0], n_targets=1)
ml_case("tree_ensemble_cycle", [helper.make_node("TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", **tree)], [vi("X", [2, 1])], seq_out)
ml_case("tree_ensemble_leaf_out_of_range", [helper.make_node("TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", **{**tree, "nodes_trueleafs": [1, 1], "nodes_truenodeids": [5, 9]})],
        [vi("X", [2, 1])], seq_out)
ml_case("tree_ensemble_feature_beyond_x", [helper.make_node("TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", **{**tree, "nodes_featureids": [7, 7]})],
        [vi("X", [2, 1])], seq_out)
ml_case("tree_ensemble_targets_int64_max", [helper.make_node("TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", **{**tree, "n_targets": I64_MAX})],
        [vi("X", [2, 1])], seq_out)
ml_case("label_encoder_unpaired", [helper.make_node("LabelEncoder", ["X"], ["Y"], domain="ai.onnx.ml", keys_floats=[1.0, 2.0], values_int64s=[1])],
        [vi("X", [2])], seq_out, ml=2)
for name, attrs in {"skip_huge": dict(max_skip_count=I64_MAX), "gram_1000": dict(max_gram_length=1000), "counts_backwards": dict(ngram_counts=[0, 5, 2]),
                    "indexes_huge": dict(ngram_indexes=[I64_MAX, 0])}.items():
    base = dict(mode="TF", min_gram_length=1, max_gram_length=2, max_skip_count=1, ngram_counts=[0, 2], ngram_indexes=[0, 1], pool_int64s=[1, 2])
    ml_case(f"tfidf_{name}", [helper.make_node("TfIdfVectorizer", ["I"], ["Y"], **{**base, **attrs})], [vi("X", [1])], seq_out,
            [i64("I", [1, 2, 1])])

with open(os.path.join(out, "cases.json"), "w") as f:
    json.dump(cases, f, indent=0)
from collections import Counter

print(f"wrote {len(cases)} cases to {out}/cases.json:", dict(Counter(c["class"] for c in cases)))
