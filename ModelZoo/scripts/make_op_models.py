"""Small ONNX graphs that exercise each supported op's attributes and per-opset forms.

Each graph is built with onnx.helper at a chosen opset, fed seeded inputs, and run by onnxruntime
for the expected outputs. They are tiny, so they are committed (ModelZoo/ops/).

    python3 ModelZoo/scripts/make_op_models.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import zoo

ROOT = os.path.join(zoo.ZOO, "ops")
F = TensorProto.FLOAT
rng = np.random.default_rng(0)


def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


CASES = []


def case(name, opset, nodes, inputs, outputs, feeds, initializers=(), ir=None):
    CASES.append((name, opset, nodes, inputs, outputs, feeds, list(initializers), ir))


def conv_case(name, opset, x_shape, w_shape, bias=True, **attrs):
    inits = [init("W", rand(*w_shape))]
    ins = ["X", "W"]
    if bias:
        inits.append(init("B", rand(w_shape[0])))
        ins.append("B")
    case(name, opset, [helper.make_node("Conv", ins, ["Y"], **attrs)],
         [vi("X", F, ["N"] + list(x_shape[1:]))], [vi("Y", F, None)], {"X": rand(*x_shape)}, inits)


# Convolution: padding forms, strides, dilations, groups, depthwise with multiplier, 1-D.
conv_case("conv_basic", 17, (2, 3, 9, 11), (4, 3, 3, 3), pads=[1, 1, 1, 1])
conv_case("conv_asym_pads_stride", 13, (1, 3, 10, 9), (5, 3, 3, 2), pads=[0, 1, 2, 0], strides=[2, 3])
conv_case("conv_dilated", 11, (1, 2, 12, 12), (3, 2, 3, 3), dilations=[2, 3], pads=[2, 1, 2, 3])
conv_case("conv_same_upper", 17, (1, 3, 7, 8), (4, 3, 4, 3), auto_pad="SAME_UPPER", strides=[2, 2])
conv_case("conv_same_lower", 9, (1, 3, 7, 8), (4, 3, 4, 3), auto_pad="SAME_LOWER", strides=[2, 1])
conv_case("conv_valid", 7, (1, 3, 7, 8), (4, 3, 3, 3), auto_pad="VALID", bias=False)
conv_case("conv_groups", 17, (2, 6, 8, 8), (9, 2, 3, 3), group=3, pads=[1, 1, 1, 1])
conv_case("conv_depthwise", 17, (1, 8, 9, 9), (8, 1, 3, 3), group=8, pads=[1, 1, 1, 1], strides=[2, 2])
conv_case("conv_depthwise_mult", 13, (1, 4, 7, 7), (8, 1, 5, 5), group=4, pads=[2, 2, 2, 2])
conv_case("conv_pointwise", 17, (3, 16, 5, 5), (8, 16, 1, 1))
conv_case("conv_1d", 17, (2, 4, 15), (6, 4, 3), pads=[1, 2], strides=[2])
conv_case("conv_no_kernel_shape", 17, (1, 2, 5, 5), (3, 2, 2, 2))

# Pooling.
def pool_case(name, opset, op, x_shape, **attrs):
    case(name, opset, [helper.make_node(op, ["X"], ["Y"], **attrs)], [vi("X", F, ["N"] + list(x_shape[1:]))],
         [vi("Y", F, None)], {"X": rand(*x_shape)})


pool_case("maxpool_basic", 17, "MaxPool", (2, 3, 8, 8), kernel_shape=[2, 2], strides=[2, 2])
pool_case("maxpool_pads_ceil", 17, "MaxPool", (1, 2, 9, 10), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)
pool_case("maxpool_dilated", 12, "MaxPool", (1, 2, 10, 10), kernel_shape=[2, 3], dilations=[2, 2])
pool_case("maxpool_same_upper", 8, "MaxPool", (1, 2, 7, 7), kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
pool_case("maxpool_1d", 17, "MaxPool", (1, 3, 11), kernel_shape=[3], strides=[2])
pool_case("avgpool_include_pad", 17, "AveragePool", (1, 3, 7, 7), kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)
pool_case("avgpool_exclude_pad", 17, "AveragePool", (1, 3, 7, 7), kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
pool_case("avgpool_ceil", 10, "AveragePool", (1, 2, 8, 9), kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
pool_case("avgpool_ceil_pad_include", 19, "AveragePool", (1, 2, 8, 9), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1)
pool_case("global_avgpool", 17, "GlobalAveragePool", (2, 5, 6, 7))
pool_case("global_maxpool", 17, "GlobalMaxPool", (2, 5, 6, 7))
pool_case("lrn", 17, "LRN", (1, 7, 4, 4), size=3, alpha=1e-3, beta=0.75, bias=2.0)

# BatchNormalization at several opsets (before 14 and after), with fused-activation chances.
for opset in (7, 9, 14, 15):
    c = 4
    inits = [init("s", rand(c)), init("b", rand(c)), init("m", rand(c)), init("v", np.abs(rand(c)) + 0.5)]
    case(f"batchnorm_opset{opset}", opset,
         [helper.make_node("BatchNormalization", ["X", "s", "b", "m", "v"], ["T"], epsilon=1e-3),
          helper.make_node("Relu", ["T"], ["Y"])],
         [vi("X", F, ["N", c, 5, 5])], [vi("Y", F, None)], {"X": rand(2, c, 5, 5)}, inits)

# Gemm forms; MatMul broadcasting.
case("gemm_trans_bias", 13, [helper.make_node("Gemm", ["A", "B", "C"], ["Y"], transA=1, transB=1, alpha=0.5, beta=2.0)],
     [vi("A", F, [6, 3])], [vi("Y", F, None)], {"A": rand(6, 3)}, [init("B", rand(4, 6)), init("C", rand(4))])
case("gemm_no_c", 11, [helper.make_node("Gemm", ["A", "B"], ["Y"])],
     [vi("A", F, ["N", 5])], [vi("Y", F, None)], {"A": rand(3, 5)}, [init("B", rand(5, 7))])
case("gemm_c_matrix_relu", 7, [helper.make_node("Gemm", ["A", "B", "C"], ["T"], transB=1), helper.make_node("Relu", ["T"], ["Y"])],
     [vi("A", F, [2, 5])], [vi("Y", F, None)], {"A": rand(2, 5)}, [init("B", rand(3, 5)), init("C", rand(2, 3))])
case("matmul_batched", 13, [helper.make_node("MatMul", ["A", "B"], ["Y"])],
     [vi("A", F, [2, 3, 4, 5]), vi("B", F, [3, 5, 6])], [vi("Y", F, None)], {"A": rand(2, 3, 4, 5), "B": rand(3, 5, 6)})
case("matmul_vec", 13, [helper.make_node("MatMul", ["A", "B"], ["Y"])],
     [vi("A", F, [5]), vi("B", F, [2, 5, 3])], [vi("Y", F, None)], {"A": rand(5), "B": rand(2, 5, 3)})
case("matmul_2d_weight", 17, [helper.make_node("MatMul", ["A", "B"], ["Y"])],
     [vi("A", F, ["N", 7, 5])], [vi("Y", F, None)], {"A": rand(3, 7, 5)}, [init("B", rand(5, 4))])

# Activations and elementwise ops.
X = rand(2, 3, 4, 5) * 3
act = [("Relu", {}), ("LeakyRelu", {"alpha": 0.2}), ("Sigmoid", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
       ("HardSwish", {}), ("Tanh", {}), ("Abs", {}), ("Neg", {}), ("Exp", {}), ("Floor", {}), ("Ceil", {}), ("Erf", {})]
for op, attrs in act:
    opset = 14 if op == "HardSwish" else 13
    case(f"act_{op.lower()}", opset, [helper.make_node(op, ["X"], ["Y"], **attrs)], [vi("X", F, ["N", 3, 4, 5])],
         [vi("Y", F, None)], {"X": X})
pos = np.abs(X) + 0.1
for op in ("Sqrt", "Log", "Reciprocal"):
    case(f"act_{op.lower()}", 13, [helper.make_node(op, ["X"], ["Y"])], [vi("X", F, ["N", 3, 4, 5])], [vi("Y", F, None)], {"X": pos})
case("clip_opset7", 7, [helper.make_node("Clip", ["X"], ["Y"], min=-0.5, max=1.5)], [vi("X", F, ["N", 3, 4, 5])], [vi("Y", F, None)], {"X": X})
case("clip_opset13_const", 13, [helper.make_node("Clip", ["X", "lo", "hi"], ["Y"])], [vi("X", F, ["N", 3, 4, 5])], [vi("Y", F, None)],
     {"X": X}, [init("lo", np.float32(-1.0)), init("hi", np.float32(6.0))])
case("clip_opset13_max_only", 13, [helper.make_node("Clip", ["X", "", "hi"], ["Y"])], [vi("X", F, ["N", 3, 4, 5])], [vi("Y", F, None)],
     {"X": X}, [init("hi", np.float32(0.5))])
case("clip_opset12_runtime", 12, [helper.make_node("Clip", ["X", "lo", "hi"], ["Y"])],
     [vi("X", F, ["N", 3, 4, 5]), vi("lo", F, []), vi("hi", F, [])], [vi("Y", F, None)],
     {"X": X, "lo": np.array(-0.25, np.float32), "hi": np.array(0.75, np.float32)})
case("prelu", 16, [helper.make_node("PRelu", ["X", "s"], ["Y"])], [vi("X", F, ["N", 3, 4, 5])], [vi("Y", F, None)],
     {"X": X}, [init("s", rand(3, 1, 1))])
for op in ("Add", "Sub", "Mul", "Div", "Pow"):
    a = np.abs(rand(2, 3, 4, 5)) + 0.5 if op == "Pow" else rand(2, 3, 4, 5)
    case(f"binary_{op.lower()}", 14, [helper.make_node(op, ["A", "B"], ["Y"])], [vi("A", F, ["N", 3, 4, 5]), vi("B", F, [3, 1, 5])],
         [vi("Y", F, None)], {"A": a, "B": rand(3, 1, 5)})
case("binary_add_int64", 14, [helper.make_node("Add", ["A", "B"], ["Y"])],
     [vi("A", TensorProto.INT64, [2, 3]), vi("B", TensorProto.INT64, [3])], [vi("Y", TensorProto.INT64, None)],
     {"A": np.arange(6, dtype=np.int64).reshape(2, 3), "B": np.array([10, -20, 30], np.int64)})
case("sum_three", 13, [helper.make_node("Sum", ["A", "B", "C"], ["Y"])],
     [vi("A", F, [2, 3, 4]), vi("B", F, [3, 1]), vi("C", F, [4])], [vi("Y", F, None)], {"A": rand(2, 3, 4), "B": rand(3, 1), "C": rand(4)})
case("add_relu_fused", 17, [helper.make_node("Add", ["A", "B"], ["T"]), helper.make_node("Relu", ["T"], ["Y"])],
     [vi("A", F, ["N", 3, 4, 5]), vi("B", F, ["N", 3, 4, 5])], [vi("Y", F, None)], {"A": rand(2, 3, 4, 5), "B": rand(2, 3, 4, 5)})
for opset in (11, 13):
    for op in ("Softmax", "LogSoftmax"):
        case(f"{op.lower()}_axis1_opset{opset}", opset, [helper.make_node(op, ["X"], ["Y"], axis=1)],
             [vi("X", F, [2, 3, 4])], [vi("Y", F, None)], {"X": rand(2, 3, 4) * 4})
case("softmax_default_opset13", 13, [helper.make_node("Softmax", ["X"], ["Y"])], [vi("X", F, [2, 3, 4])], [vi("Y", F, None)], {"X": rand(2, 3, 4)})
case("softmax_default_opset9", 9, [helper.make_node("Softmax", ["X"], ["Y"])], [vi("X", F, [2, 3, 4])], [vi("Y", F, None)], {"X": rand(2, 3, 4)})

# Shape ops and their attribute/input forms.
I64 = TensorProto.INT64
case("shape_subgraph_reshape", 13, [
    helper.make_node("Shape", ["X"], ["s"]),
    helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
    helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
    helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
    helper.make_node("Reshape", ["X", "shape"], ["Y"]),
], [vi("X", F, ["N", 3, 4, 5])], [vi("Y", F, None)], {"X": rand(2, 3, 4, 5)},
    [init("zero", np.array(0, np.int64)), init("ax0", np.array([0], np.int64)), init("minus1", np.array([-1], np.int64))])
case("reshape_zero_copy", 13, [helper.make_node("Reshape", ["X", "shape"], ["Y"])], [vi("X", F, [2, 3, 4])], [vi("Y", F, None)],
     {"X": rand(2, 3, 4)}, [init("shape", np.array([0, -1], np.int64))])
case("reshape_allowzero", 14, [helper.make_node("Reshape", ["X", "shape"], ["Y"], allowzero=1)], [vi("X", F, [2, 3, 4])], [vi("Y", F, None)],
     {"X": rand(2, 3, 4)}, [init("shape", np.array([4, 6], np.int64))])
case("flatten_axis2", 13, [helper.make_node("Flatten", ["X"], ["Y"], axis=2)], [vi("X", F, [2, 3, 4, 5])], [vi("Y", F, None)], {"X": rand(2, 3, 4, 5)})
case("flatten_axis0", 9, [helper.make_node("Flatten", ["X"], ["Y"], axis=0)], [vi("X", F, [2, 3, 4])], [vi("Y", F, None)], {"X": rand(2, 3, 4)})
case("squeeze_unsqueeze_opset11", 11, [helper.make_node("Unsqueeze", ["X"], ["T"], axes=[0, 3]), helper.make_node("Squeeze", ["T"], ["Y"], axes=[0])],
     [vi("X", F, [2, 1, 4])], [vi("Y", F, None)], {"X": rand(2, 1, 4)})
case("squeeze_unsqueeze_opset13", 13, [helper.make_node("Unsqueeze", ["X", "a"], ["T"]), helper.make_node("Squeeze", ["T", "b"], ["Y"])],
     [vi("X", F, [2, 1, 4])], [vi("Y", F, None)], {"X": rand(2, 1, 4)}, [init("a", np.array([-1, 0], np.int64)), init("b", np.array([0, 2], np.int64))])
case("squeeze_all", 13, [helper.make_node("Squeeze", ["X"], ["Y"])], [vi("X", F, [1, 3, 1, 2])], [vi("Y", F, None)], {"X": rand(1, 3, 1, 2)})
case("transpose_perm", 13, [helper.make_node("Transpose", ["X"], ["Y"], perm=[0, 2, 3, 1])], [vi("X", F, [2, 3, 4, 5])], [vi("Y", F, None)], {"X": rand(2, 3, 4, 5)})
case("transpose_default", 13, [helper.make_node("Transpose", ["X"], ["Y"])], [vi("X", F, [2, 3, 4])], [vi("Y", F, None)], {"X": rand(2, 3, 4)})
case("concat_neg_axis", 13, [helper.make_node("Concat", ["A", "B", "C"], ["Y"], axis=-2)],
     [vi("A", F, [2, 1, 3]), vi("B", F, [2, 4, 3]), vi("C", F, [2, 2, 3])], [vi("Y", F, None)], {"A": rand(2, 1, 3), "B": rand(2, 4, 3), "C": rand(2, 2, 3)})
case("split_attr_opset11", 11, [helper.make_node("Split", ["X"], ["Y0", "Y1", "Y2"], axis=1, split=[1, 3, 2])],
     [vi("X", F, [2, 6, 3])], [vi("Y0", F, None), vi("Y1", F, None), vi("Y2", F, None)], {"X": rand(2, 6, 3)})
case("split_input_opset13", 13, [helper.make_node("Split", ["X", "s"], ["Y0", "Y1"], axis=-1)],
     [vi("X", F, [2, 6, 5])], [vi("Y0", F, None), vi("Y1", F, None)], {"X": rand(2, 6, 5)}, [init("s", np.array([2, 3], np.int64))])
case("split_equal_opset18", 18, [helper.make_node("Split", ["X"], ["Y0", "Y1", "Y2"], axis=1, num_outputs=3)],
     [vi("X", F, [2, 7])], [vi("Y0", F, None), vi("Y1", F, None), vi("Y2", F, None)], {"X": rand(2, 7)})
case("slice_opset9_attr", 9, [helper.make_node("Slice", ["X"], ["Y"], starts=[1, -3], ends=[3, 100], axes=[0, 2])],
     [vi("X", F, [4, 3, 6])], [vi("Y", F, None)], {"X": rand(4, 3, 6)})
case("slice_opset13_steps", 13, [helper.make_node("Slice", ["X", "st", "en", "ax", "sp"], ["Y"])], [vi("X", F, [5, 6, 7])], [vi("Y", F, None)],
     {"X": rand(5, 6, 7)}, [init("st", np.array([-1, 1], np.int64)), init("en", np.array([-100, 6], np.int64)),
                            init("ax", np.array([0, 2], np.int64)), init("sp", np.array([-2, 2], np.int64))])
case("gather_axis1_neg_idx", 13, [helper.make_node("Gather", ["X", "i"], ["Y"], axis=1)], [vi("X", F, [2, 5, 3])], [vi("Y", F, None)],
     {"X": rand(2, 5, 3)}, [init("i", np.array([[0, -1], [2, 2]], np.int64))])
case("constant_of_shape_cast", 13, [
    helper.make_node("Shape", ["X"], ["s"]),
    helper.make_node("ConstantOfShape", ["s"], ["c"], value=helper.make_tensor("v", TensorProto.INT64, [1], [3])),
    helper.make_node("Cast", ["c"], ["cf"], to=F),
    helper.make_node("Mul", ["X", "cf"], ["Y"]),
], [vi("X", F, ["N", 3])], [vi("Y", F, None)], {"X": rand(2, 3)})
case("constant_node", 13, [
    helper.make_node("Constant", [], ["k"], value=helper.make_tensor("kv", F, [3], [1.0, 2.0, 3.0])),
    helper.make_node("Constant", [], ["k2"], value_float=0.5),
    helper.make_node("Mul", ["X", "k"], ["T"]), helper.make_node("Add", ["T", "k2"], ["Y"]),
], [vi("X", F, ["N", 3])], [vi("Y", F, None)], {"X": rand(4, 3)})
case("cast_to_int_and_back", 13, [helper.make_node("Cast", ["X"], ["T"], to=TensorProto.INT32), helper.make_node("Cast", ["T"], ["Y"], to=F)],
     [vi("X", F, [3, 4])], [vi("Y", F, None)], {"X": rand(3, 4) * 10})
case("dropout_identity", 13, [helper.make_node("Dropout", ["X"], ["T"]), helper.make_node("Identity", ["T"], ["Y"])],
     [vi("X", F, [3, 4])], [vi("Y", F, None)], {"X": rand(3, 4)})
case("dropout_opset7_ratio", 7, [helper.make_node("Dropout", ["X"], ["Y"], ratio=0.3)], [vi("X", F, [3, 4])], [vi("Y", F, None)], {"X": rand(3, 4)})
case("pad_opset7_attr", 7, [helper.make_node("Pad", ["X"], ["Y"], pads=[0, 1, 2, 0, 2, 1], value=1.5)],
     [vi("X", F, [2, 3, 4])], [vi("Y", F, None)], {"X": rand(2, 3, 4)})
for mode in ("constant", "reflect", "edge"):
    case(f"pad_opset13_{mode}", 13, [helper.make_node("Pad", ["X", "p", "v"], ["Y"], mode=mode)],
         [vi("X", F, [1, 2, 4, 5])], [vi("Y", F, None)], {"X": rand(1, 2, 4, 5)},
         [init("p", np.array([0, 0, 1, 2, 0, 0, 3, 1], np.int64)), init("v", np.float32(-2.0))])
case("pad_opset19_wrap", 19, [helper.make_node("Pad", ["X", "p"], ["Y"], mode="wrap")], [vi("X", F, [1, 2, 4, 5])], [vi("Y", F, None)],
     {"X": rand(1, 2, 4, 5)}, [init("p", np.array([0, 0, 1, 2, 0, 0, 3, 1], np.int64))])
case("expand", 13, [helper.make_node("Expand", ["X", "s"], ["Y"])], [vi("X", F, [3, 1])], [vi("Y", F, None)],
     {"X": rand(3, 1)}, [init("s", np.array([2, 1, 4], np.int64))])
case("shape_start_end", 15, [helper.make_node("Shape", ["X"], ["s"], start=1, end=-1), helper.make_node("Cast", ["s"], ["Y"], to=F)],
     [vi("X", F, [2, 3, 4, 5])], [vi("Y", F, None)], {"X": rand(2, 3, 4, 5)})

# Resize and Upsample forms.
def resize_case(name, opset, x_shape, scales=None, sizes=None, roi=None, **attrs):
    inits, ins = [], ["X"]
    if opset < 11:
        inits.append(init("scales", np.array(scales, np.float32)))
        ins.append("scales")
    else:
        if opset == 11:  # roi and scales are required inputs at opset 11: empty tensors stand for "not given"
            roi = [] if roi is None else roi
            scales = [] if scales is None else scales
        ins += ["roi" if roi is not None else "", "scales" if scales is not None else "", "sizes" if sizes is not None else ""]
        if roi is not None:
            inits.append(init("roi", np.array(roi, np.float32)))
        if scales is not None:
            inits.append(init("scales", np.array(scales, np.float32)))
        if sizes is not None:
            inits.append(init("sizes", np.array(sizes, np.int64)))
        while ins[-1] == "":
            ins.pop()
    case(name, opset, [helper.make_node("Resize", ins, ["Y"], **attrs)], [vi("X", F, list(x_shape))], [vi("Y", F, None)],
         {"X": rand(*x_shape)}, inits)


resize_case("resize10_nearest", 10, (1, 2, 3, 4), scales=[1, 1, 2, 1.5])
resize_case("resize10_linear", 10, (1, 2, 3, 4), scales=[1, 1, 2, 2.5], mode="linear")
resize_case("resize11_nearest_half_pixel", 11, (1, 2, 4, 5), scales=[1, 1, 1.7, 0.6])
resize_case("resize11_nearest_ceil_asym", 11, (1, 2, 4, 5), sizes=[1, 2, 7, 3], coordinate_transformation_mode="asymmetric", nearest_mode="ceil")
resize_case("resize11_nearest_prefer_ceil_align", 11, (1, 2, 4, 5), scales=[1, 1, 2, 2], coordinate_transformation_mode="align_corners", nearest_mode="round_prefer_ceil")
resize_case("resize13_nearest_floor", 13, (1, 2, 4, 5), scales=[1, 1, 3, 2], nearest_mode="floor")
resize_case("resize13_linear_half_pixel", 13, (2, 3, 5, 4), scales=[1, 1, 2, 2], mode="linear")
resize_case("resize13_linear_down", 13, (1, 2, 8, 9), sizes=[1, 2, 3, 4], mode="linear")
resize_case("resize13_linear_align_corners", 13, (1, 2, 4, 5), sizes=[1, 2, 7, 9], mode="linear", coordinate_transformation_mode="align_corners")
resize_case("resize13_linear_pytorch", 13, (1, 2, 4, 5), sizes=[1, 2, 1, 9], mode="linear", coordinate_transformation_mode="pytorch_half_pixel")
resize_case("resize13_linear_asymmetric", 13, (1, 2, 4, 5), scales=[1, 1, 1.5, 2.5], mode="linear", coordinate_transformation_mode="asymmetric")
resize_case("resize13_cubic", 13, (1, 2, 5, 6), scales=[1, 1, 2, 1.5], mode="cubic")
resize_case("resize13_cubic_exclude_a05", 13, (1, 2, 5, 6), scales=[1, 1, 0.8, 1.7], mode="cubic", cubic_coeff_a=-0.5, exclude_outside=1)
resize_case("resize13_tf_crop", 13, (1, 1, 6, 7), sizes=[1, 1, 4, 5], roi=[0, 0, 0.2, 0.1, 1, 1, 0.9, 1.2], mode="linear",
            coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=-3.0)
resize_case("resize18_axes", 18, (1, 2, 4, 5), scales=[2.0, 1.5], axes=[2, 3], mode="linear")
resize_case("resize18_antialias_linear", 18, (1, 2, 12, 10), sizes=[1, 2, 5, 4], mode="linear", antialias=1)
resize_case("resize18_antialias_cubic", 18, (1, 2, 12, 10), scales=[1, 1, 0.5, 0.4], mode="cubic", antialias=1)
resize_case("resize18_not_larger", 18, (1, 2, 4, 6), sizes=[7, 9], axes=[2, 3], keep_aspect_ratio_policy="not_larger")
resize_case("resize18_not_smaller", 18, (1, 2, 4, 6), sizes=[7, 9], axes=[2, 3], keep_aspect_ratio_policy="not_smaller", mode="linear")
resize_case("resize19_half_pixel_symmetric", 19, (1, 2, 4, 5), scales=[1, 1, 1.7, 2.3], mode="linear", coordinate_transformation_mode="half_pixel_symmetric")
case("upsample7_nearest", 7, [helper.make_node("Upsample", ["X"], ["Y"], scales=[1.0, 1.0, 2.0, 3.0])], [vi("X", F, [1, 2, 3, 4])],
     [vi("Y", F, None)], {"X": rand(1, 2, 3, 4)})
case("upsample9_linear", 9, [helper.make_node("Upsample", ["X", "s"], ["Y"], mode="linear")], [vi("X", F, [1, 2, 3, 4])],
     [vi("Y", F, None)], {"X": rand(1, 2, 3, 4)}, [init("s", np.array([1, 1, 2, 2], np.float32))])

# A small CNN block chain at opset 7 and 21 (conv-bn-relu, pool, gemm) with dynamic batch.
for opset in (7, 21):
    inits = [init("w1", rand(8, 3, 3, 3) * 0.3), init("b1", rand(8)),
             init("s", rand(8)), init("bb", rand(8)), init("m", rand(8)), init("v", np.abs(rand(8)) + 0.5),
             init("w2", rand(10, 8 * 4 * 4) * 0.1), init("b2", rand(10))]
    case(f"cnn_chain_opset{opset}", opset, [
        helper.make_node("Conv", ["X", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "s", "bb", "m", "v"], ["n1"]),
        helper.make_node("Relu", ["n1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p1"], ["f"]),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["g"], transB=1),
        helper.make_node("Softmax", ["g"], ["Y"], axis=1),
    ], [vi("X", F, ["N", 3, 8, 8])], [vi("Y", F, None)], {"X": rand(3, 3, 8, 8)}, inits)


# Transposed convolution (appended after the earlier cases so their seeded data stay the same).
def conv_transpose_case(name, opset, x_shape, w_shape, bias=True, **attrs):
    inits = [init("W", rand(*w_shape))]
    ins = ["X", "W"]
    if bias:
        inits.append(init("B", rand(w_shape[1] * attrs.get("group", 1))))
        ins.append("B")
    case(name, opset, [helper.make_node("ConvTranspose", ins, ["Y"], **attrs)],
         [vi("X", F, ["N"] + list(x_shape[1:]))], [vi("Y", F, None)], {"X": rand(*x_shape)}, inits)


conv_transpose_case("convtranspose_basic", 17, (2, 3, 5, 6), (3, 4, 3, 3))
conv_transpose_case("convtranspose_stride2_pads", 13, (1, 4, 6, 5), (4, 2, 4, 4), strides=[2, 2], pads=[1, 1, 1, 1])
conv_transpose_case("convtranspose_output_padding", 11, (1, 2, 4, 5), (2, 3, 3, 3), strides=[2, 3], pads=[1, 0, 1, 1], output_padding=[1, 2])
conv_transpose_case("convtranspose_groups_dilations", 17, (2, 6, 5, 5), (6, 2, 3, 2), group=3, dilations=[2, 1], pads=[0, 1, 2, 0])
conv_transpose_case("convtranspose_1d", 17, (2, 3, 7), (3, 5, 4), strides=[3], bias=False)
conv_transpose_case("convtranspose_3d", 17, (1, 2, 3, 4, 3), (2, 3, 2, 3, 2), strides=[2, 1, 2], pads=[0, 1, 0, 1, 0, 1])
conv_transpose_case("convtranspose_output_shape", 17, (1, 2, 4, 4), (2, 2, 3, 3), strides=[2, 2], output_shape=[9, 10])

# Quantization: round half to even at exact ties, saturation, per-axis, int16, blocked, dynamic.
I8, U8, I16 = TensorProto.INT8, TensorProto.UINT8, TensorProto.INT16
ties = (np.array([-300.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 126.5, 127.5, 300.0, 0.25], np.float32) * 0.5).reshape(3, 4)
case("quantize_uint8_ties_saturate", 13, [helper.make_node("QuantizeLinear", ["X", "s", "z"], ["Y"])], [vi("X", F, [3, 4])],
     [vi("Y", U8, None)], {"X": ties}, [init("s", np.float32(0.5)), init("z", np.uint8(128))])
case("quantize_int8_per_axis", 13, [helper.make_node("QuantizeLinear", ["X", "s", "z"], ["Y"], axis=1)], [vi("X", F, [2, 3, 4])],
     [vi("Y", I8, None)], {"X": rand(2, 3, 4) * 40}, [init("s", np.array([0.1, 0.25, 0.3], np.float32)), init("z", np.array([0, -3, 5], np.int8))])
case("dequantize_uint8_per_axis", 13, [helper.make_node("DequantizeLinear", ["X", "s", "z"], ["Y"], axis=-1)], [vi("X", U8, [2, 3, 4])],
     [vi("Y", F, None)], {"X": rng.integers(0, 256, (2, 3, 4)).astype(np.uint8)},
     [init("s", np.array([0.1, 0.25, 0.3, 0.07], np.float32)), init("z", np.array([0, 3, 250, 128], np.uint8))])
case("qdq_int16_chain", 21, [helper.make_node("QuantizeLinear", ["X", "s", "z"], ["Q"]), helper.make_node("DequantizeLinear", ["Q", "s", "z"], ["Y"])],
     [vi("X", F, [2, 5])], [vi("Y", F, None)], {"X": rand(2, 5) * 3000}, [init("s", np.float32(0.05)), init("z", np.int16(-7))])
case("dequantize_int8_blocked", 21, [helper.make_node("DequantizeLinear", ["X", "s", "z"], ["Y"], axis=1, block_size=2)],
     [vi("X", I8, [2, 5])], [vi("Y", F, None)], {"X": rng.integers(-128, 128, (2, 5)).astype(np.int8)},
     [init("s", np.abs(rand(2, 3)) + 0.1), init("z", np.array([[1, -2, 0], [5, 0, -1]], np.int8))])
case("dynamic_quantize", 11, [helper.make_node("DynamicQuantizeLinear", ["X"], ["Y", "S", "Z"])], [vi("X", F, [3, 7])],
     [vi("Y", U8, None), vi("S", F, None), vi("Z", U8, None)], {"X": rand(3, 7) * 2 + 0.7})

# Pooling over three axes and MaxPool's Indices output.
I64 = TensorProto.INT64
for order in (0, 1):
    case(f"maxpool_indices_order{order}", 12, [helper.make_node("MaxPool", ["X"], ["Y", "I"], kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 1],
                                                                storage_order=order)],
         [vi("X", F, [2, 3, 7, 6])], [vi("Y", F, None), vi("I", I64, None)], {"X": rand(2, 3, 7, 6)})
case("maxpool_3d_dilated", 12, [helper.make_node("MaxPool", ["X"], ["Y"], kernel_shape=[2, 3, 2], dilations=[1, 2, 1], pads=[0, 1, 1, 1, 1, 0])],
     [vi("X", F, [1, 2, 5, 6, 5])], [vi("Y", F, None)], {"X": rand(1, 2, 5, 6, 5)})
case("averagepool_3d_ceil_include_pad", 19, [helper.make_node("AveragePool", ["X"], ["Y"], kernel_shape=[3, 3, 2], strides=[2, 2, 2],
                                                              pads=[1, 1, 0, 1, 0, 1], ceil_mode=1, count_include_pad=1)],
     [vi("X", F, [2, 2, 6, 5, 4])], [vi("Y", F, None)], {"X": rand(2, 2, 6, 5, 4)})
case("averagepool_3d_exclude_pad", 11, [helper.make_node("AveragePool", ["X"], ["Y"], kernel_shape=[2, 2, 3], pads=[1, 0, 1, 1, 1, 1])],
     [vi("X", F, [1, 3, 4, 5, 6])], [vi("Y", F, None)], {"X": rand(1, 3, 4, 5, 6)})

# Extended tier: indexing, scatter, top-k, cumulative sums, masks, normalizations, Einsum, integer MatMul.
case("gather_elements_axis1", 13, [helper.make_node("GatherElements", ["X", "i"], ["Y"], axis=1)], [vi("X", F, [3, 4, 2])], [vi("Y", F, None)],
     {"X": rand(3, 4, 2)}, [init("i", rng.integers(-4, 4, (3, 5, 2)).astype(np.int64))])
case("scatter_elements_add", 18, [helper.make_node("ScatterElements", ["X", "i", "u"], ["Y"], axis=0, reduction="add")],
     [vi("X", F, [4, 3])], [vi("Y", F, None)], {"X": rand(4, 3)}, [init("i", rng.integers(0, 4, (5, 3)).astype(np.int64)), init("u", rand(5, 3))])
case("gathernd_batch1", 13, [helper.make_node("GatherND", ["X", "i"], ["Y"], batch_dims=1)], [vi("X", F, [2, 3, 4, 5])], [vi("Y", F, None)],
     {"X": rand(2, 3, 4, 5)}, [init("i", np.stack([rng.integers(0, 3, (2, 6)), rng.integers(-4, 4, (2, 6))], -1).astype(np.int64))])
case("scatternd_slices", 16, [helper.make_node("ScatterND", ["X", "i", "u"], ["Y"], reduction="mul")], [vi("X", F, [4, 3, 2])], [vi("Y", F, None)],
     {"X": rand(4, 3, 2)}, [init("i", np.array([[1], [3], [1]], np.int64)), init("u", rand(3, 3, 2))])
case("topk_smallest_axis1", 11, [helper.make_node("TopK", ["X", "k"], ["V", "I"], axis=1, largest=0)], [vi("X", F, [3, 7, 2])],
     [vi("V", F, None), vi("I", TensorProto.INT64, None)], {"X": rand(3, 7, 2)}, [init("k", np.array([4], np.int64))])
case("cumsum_exclusive_reverse", 14, [helper.make_node("CumSum", ["X", "a"], ["Y"], exclusive=1, reverse=1)], [vi("X", F, [3, 5])],
     [vi("Y", F, None)], {"X": rand(3, 5)}, [init("a", np.array(1, np.int64))])
case("onehot_axis0", 11, [helper.make_node("OneHot", ["i", "d", "v"], ["Y"], axis=0)], [vi("i", TensorProto.INT64, [2, 3])], [vi("Y", F, None)],
     {"i": np.array([[0, -1, 4], [7, 2, -5]], np.int64)}, [init("d", np.array(5, np.int64)), init("v", np.array([-1.0, 2.5], np.float32))])
case("trilu_lower_k", 14, [helper.make_node("Trilu", ["X", "k"], ["Y"], upper=0)], [vi("X", F, [2, 4, 5])], [vi("Y", F, None)],
     {"X": rand(2, 4, 5)}, [init("k", np.array(1, np.int64))])
case("einsum_attention_scores", 12, [helper.make_node("Einsum", ["Q", "K"], ["Y"], equation="bhqd,bhkd->bhqk")],
     [vi("Q", F, [2, 3, 4, 5]), vi("K", F, [2, 3, 6, 5])], [vi("Y", F, None)], {"Q": rand(2, 3, 4, 5), "K": rand(2, 3, 6, 5)})
case("einsum_ellipsis_implicit", 12, [helper.make_node("Einsum", ["A", "B"], ["Y"], equation="...ij,...jk")],
     [vi("A", F, [2, 3, 4]), vi("B", F, [1, 4, 2])], [vi("Y", F, None)], {"A": rand(2, 3, 4), "B": rand(1, 4, 2)})
case("lp_normalization_l1", 13, [helper.make_node("LpNormalization", ["X"], ["Y"], axis=1, p=1)], [vi("X", F, [3, 4, 2])], [vi("Y", F, None)],
     {"X": rand(3, 4, 2)})
case("matmul_integer_zero_points", 10, [helper.make_node("MatMulInteger", ["A", "B", "za", "zb"], ["Y"])],
     [vi("A", U8, [3, 5])], [vi("Y", TensorProto.INT32, None)], {"A": rng.integers(0, 256, (3, 5)).astype(np.uint8)},
     [init("B", rng.integers(0, 256, (5, 4)).astype(np.uint8)), init("za", np.uint8(12)), init("zb", np.uint8(200))])
case("qlinear_matmul_int8", 10, [helper.make_node("QLinearMatMul", ["A", "sa", "za", "B", "sb", "zb", "sy", "zy"], ["Y"])],
     [vi("A", I8, [2, 3, 6])], [vi("Y", I8, None)], {"A": rng.integers(-128, 128, (2, 3, 6)).astype(np.int8)},
     [init("sa", np.float32(0.02)), init("za", np.int8(3)), init("B", rng.integers(-128, 128, (6, 4)).astype(np.int8)), init("sb", np.float32(0.03)),
      init("zb", np.int8(-2)), init("sy", np.float32(0.9)), init("zy", np.int8(-5))])

# Attention (opset 23): grouped key/value heads with a cache and a causal mask; 3-D with a float mask.
case("attention_gqa_causal_past", 23, [helper.make_node("Attention", ["Q", "K", "V", "", "pk", "pv"], ["Y", "PK", "PV"], is_causal=1)],
     [vi("Q", F, [2, 4, 3, 8]), vi("K", F, [2, 2, 3, 8]), vi("V", F, [2, 2, 3, 6])], [vi("Y", F, None), vi("PK", F, None), vi("PV", F, None)],
     {"Q": rand(2, 4, 3, 8), "K": rand(2, 2, 3, 8), "V": rand(2, 2, 3, 6)}, [init("pk", rand(2, 2, 5, 8)), init("pv", rand(2, 2, 5, 6))])
case("attention_3d_float_mask", 23, [helper.make_node("Attention", ["Q", "K", "V", "M"], ["Y"], q_num_heads=3, kv_num_heads=3, scale=0.2)],
     [vi("Q", F, [2, 4, 12]), vi("K", F, [2, 5, 12]), vi("V", F, [2, 5, 9])], [vi("Y", F, None)],
     {"Q": rand(2, 4, 12), "K": rand(2, 5, 12), "V": rand(2, 5, 9)}, [init("M", np.where(rng.random((4, 5)) < 0.3, -np.inf, rand(4, 5)).astype(np.float32))])

# GridSample (opset 16 and 20 names), RotaryEmbedding (opset 23).
case("gridsample_bilinear_reflection", 16, [helper.make_node("GridSample", ["X", "G"], ["Y"], mode="bilinear", padding_mode="reflection")],
     [vi("X", F, [2, 3, 5, 6])], [vi("Y", F, None)], {"X": rand(2, 3, 5, 6)}, [init("G", (rng.random((2, 4, 7, 2)) * 2.6 - 1.3).astype(np.float32))])
case("gridsample_cubic_border_align", 20, [helper.make_node("GridSample", ["X", "G"], ["Y"], mode="cubic", padding_mode="border", align_corners=1)],
     [vi("X", F, [1, 2, 6, 5])], [vi("Y", F, None)], {"X": rand(1, 2, 6, 5)}, [init("G", (rng.random((1, 3, 4, 2)) * 2.4 - 1.2).astype(np.float32))])
case("gridsample_nearest_zeros", 20, [helper.make_node("GridSample", ["X", "G"], ["Y"], mode="nearest")],
     [vi("X", F, [1, 2, 4, 5])], [vi("Y", F, None)], {"X": rand(1, 2, 4, 5)}, [init("G", (rng.random((1, 6, 3, 2)) * 2.4 - 1.2).astype(np.float32))])
angles = rng.random((16, 4)) * 6
case("rotary_embedding_positions", 23, [helper.make_node("RotaryEmbedding", ["X", "c", "s", "p"], ["Y"])],
     [vi("X", F, [2, 3, 5, 8])], [vi("Y", F, None)], {"X": rand(2, 3, 5, 8)},
     [init("c", np.cos(angles).astype(np.float32)), init("s", np.sin(angles).astype(np.float32)), init("p", rng.integers(0, 16, (2, 5)).astype(np.int64))])

# Integer convolutions; NonMaxSuppression on graph inputs (planned from their values).
case("qlinear_conv_per_channel", 10, [helper.make_node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"], ["y"], pads=[1, 1, 1, 1], strides=[2, 1])],
     [vi("x", U8, [1, 3, 7, 6])], [vi("y", U8, None)], {"x": rng.integers(0, 256, (1, 3, 7, 6)).astype(np.uint8)},
     [init("sx", np.float32(0.05)), init("zx", np.uint8(128)), init("w", rng.integers(0, 256, (4, 3, 3, 3)).astype(np.uint8)),
      init("sw", np.array([0.01, 0.02, 0.015, 0.03], np.float32)), init("zw", np.uint8(120)), init("sy", np.float32(0.7)), init("zy", np.uint8(100)),
      init("b", rng.integers(-500, 500, 4).astype(np.int32))])
case("conv_integer_zero_points", 10, [helper.make_node("ConvInteger", ["x", "w", "zx", "zw"], ["y"], pads=[0, 1, 1, 0])],
     [vi("x", U8, [2, 2, 5, 5])], [vi("y", TensorProto.INT32, None)], {"x": rng.integers(0, 256, (2, 2, 5, 5)).astype(np.uint8)},
     [init("w", rng.integers(0, 256, (3, 2, 2, 2)).astype(np.uint8)), init("zx", np.uint8(9)), init("zw", np.uint8(200))])
centers = rng.random((2, 12, 2)) * 10
sizes = rng.random((2, 12, 2)) * 4 + 1
case("nonmaxsuppression_two_batches_classes", 11,
     [helper.make_node("NonMaxSuppression", ["boxes", "scores", "m", "iou", "st"], ["sel"], center_point_box=1)],
     [vi("boxes", F, [2, 12, 4]), vi("scores", F, [2, 3, 12])], [vi("sel", TensorProto.INT64, None)],
     {"boxes": np.concatenate([centers, sizes], -1).astype(np.float32), "scores": rng.random((2, 3, 12)).astype(np.float32)},
     [init("m", np.array([4], np.int64)), init("iou", np.array([0.3], np.float32)), init("st", np.array([0.2], np.float32))])

def main():
    os.makedirs(os.path.join(ROOT, "models"), exist_ok=True)
    entries = []
    for name, opset, nodes, inputs, outputs, feeds, initializers, ir in CASES:
        graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="touchstone-modelzoo")
        model.ir_version = ir or onnx.helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
        path = f"models/{name}.onnx"
        onnx.save(model, os.path.join(ROOT, path))
        entries.append(zoo.write_entry(ROOT, name, path, feeds, opset=opset, tolerance=1e-5))
    zoo.update_manifest(ROOT, entries)
    print(f"wrote {len(entries)} op models to {ROOT}")


if __name__ == "__main__":
    main()
