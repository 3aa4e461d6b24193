"""Summarises a `touchstone conformance --json` result by op and by tier.

    python3 ModelZoo/scripts/conformance_report.py NODE_TESTS_DIR RESULT.json [--failures]

A case belongs to the op of its model's first non-Constant node; a function-expanded case
(`*_expanded`, `*_expanded_ver18`) belongs to the op of the case it expands. A case is
"float32" when every graph input and output is float32. The core and extended tiers are the op
sets of the conformance issue. Prints, per tier: float32 cases passed / total, all cases
passed / total, and each op's non-passing cases with their result (with --failures).
"""
import json
import os
import sys
from collections import defaultdict

import onnx

CORE = """Conv ConvTranspose Gemm MatMul BatchNormalization InstanceNormalization LayerNormalization
GroupNormalization LRN MaxPool AveragePool GlobalAveragePool GlobalMaxPool Relu LeakyRelu PRelu
Sigmoid HardSigmoid HardSwish Tanh Elu Selu Softplus Clip Gelu Erf Mish Add Sub Mul Div Pow Sqrt
Exp Log Neg Abs Reciprocal Max Min Sum Mean Floor Ceil Equal Less Greater Where Not Concat Reshape
Flatten Transpose Squeeze Unsqueeze Slice Split Gather Expand Tile Pad Shape Constant
ConstantOfShape Cast Identity Dropout Range DepthToSpace SpaceToDepth Resize Upsample Softmax
LogSoftmax ReduceMean ReduceSum ReduceMax ReduceMin ArgMax QuantizeLinear DequantizeLinear""".split()
EXTENDED = """Attention RMSNormalization RotaryEmbedding Einsum Trilu CumSum TopK ArgMin Softsign
ThresholdedRelu Celu Shrink Hardmax LpNormalization MeanVarianceNormalization GatherElements
GatherND ScatterND ScatterElements OneHot NonZero Sin Cos Tan Atan Round Sign Mod And Or Xor
LessOrEqual GreaterOrEqual ReduceProd ReduceL1 ReduceL2 ReduceLogSumExp ReduceSumSquare
ReduceLogSum CastLike Size IsNaN IsInf GridSample NonMaxSuppression QLinearConv QLinearMatMul
MatMulInteger ConvInteger DynamicQuantizeLinear""".split()
RANDOM = ("test_training_dropout", "test_bernoulli")


def classify(path):
    m = onnx.load(os.path.join(path, "model.onnx"), load_external_data=False)
    ops = [n.op_type for n in m.graph.node if n.op_type != "Constant"] or ["Constant"]
    types = [v.type.tensor_type.elem_type for v in list(m.graph.input) + list(m.graph.output)]
    return ops[0], all(t == onnx.TensorProto.FLOAT for t in types)


def main():
    root, result = sys.argv[1], sys.argv[2]
    cases = json.load(open(result))["cases"]
    tiers = {"core": defaultdict(list), "extended": defaultdict(list), "other": defaultdict(list)}
    random_cases = 0
    for name, status in sorted(cases.items()):
        if name.startswith(RANDOM):
            random_cases += 1
            continue
        base = name.split("_expanded")[0]
        op, f32 = classify(os.path.join(root, name))
        if base != name and os.path.isdir(os.path.join(root, base)):
            op = classify(os.path.join(root, base))[0]
        tier = "core" if op in CORE else "extended" if op in EXTENDED else "other"
        tiers[tier][op].append((name, status, f32))
    total = sum(1 for s in cases.values() if s == "pass")
    print(f"whole suite: {total} / {len(cases)} pass ({random_cases} random-by-definition cases skipped)")
    for tier, ops in tiers.items():
        rows = [r for rs in ops.values() for r in rs]
        f32 = [r for r in rows if r[2]]
        print(f"{tier}: float32 {sum(r[1] == 'pass' for r in f32)} / {len(f32)}, "
              f"all dtypes {sum(r[1] == 'pass' for r in rows)} / {len(rows)}")
        if "--failures" in sys.argv:
            for op, rs in sorted(ops.items()):
                bad = [r for r in rs if r[1] != "pass"]
                if bad:
                    print(f"  {op}: {len(rs) - len(bad)}/{len(rs)}; " + ", ".join(
                        f"{n[5:]}={s}{'' if f else '*'}" for n, s, f in bad))


if __name__ == "__main__":
    main()
