"""Small ONNX graphs of the string and classic machine-learning ops, with onnxruntime's outputs:
the modes and attributes the ONNX node tests leave out (TfIdfVectorizer's IDF and TFIDF with
weights and string pools, LabelEncoder's integer, float and string tables, TreeEnsemble's
comparison modes, missing values, aggregations and post-transforms, StringNormalizer on [1, C],
StringSplit on whitespace with maxsplit, RegexFullMatch). Written into ModelZoo/ops beside
make_op_models.py's graphs (merged into its manifest by name).

Where onnxruntime 1.31 departs from ONNX's specification the expected values come from elsewhere,
named in the case: StringSplit on whitespace from onnx's reference evaluator (onnxruntime splits
at spaces only and strips the rest's trailing spaces; the specification and the reference split
as Python's str.split); TreeEnsemble's post-transforms from numpy applied to onnxruntime's raw
scores (post_transform NONE), since onnxruntime numbers them LOGISTIC = 1, SOFTMAX = 2 where the
specification says SOFTMAX = 1, LOGISTIC = 2 (onnxruntime issues 26596, 24862).

    python3 ModelZoo/scripts/make_text_ml_models.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import zoo

ROOT = os.path.join(zoo.ZOO, "ops")
rng = np.random.default_rng(7)
F, D, I64, S = TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64, TensorProto.STRING
CASES = []


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def case(name, node, inputs, outputs, feeds, opset=20, ml=None, expected="onnxruntime"):
    CASES.append((name, node, inputs, outputs, feeds, opset, ml, expected))


words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog"]
case("tfidf_idf_int_weights",
     helper.make_node("TfIdfVectorizer", ["X"], ["Y"], mode="IDF", min_gram_length=1, max_gram_length=3, max_skip_count=2,
                      ngram_counts=[0, 3, 7], ngram_indexes=[6, 0, 3, 1, 2, 5, 4, 7],
                      pool_int64s=[2, 3, 5, 2, 3, 3, 5, 5, 2, 7, 7, 2, 3, 5, 5, 7], weights=[0.5, 2.0, 1.5, 3.0, 0.25, 1.0, 4.0, 2.5]),
     [vi("X", I64, [2, 9])], [vi("Y", F, None)], {"X": rng.integers(2, 8, (2, 9)).astype(np.int64)}, opset=9)
case("tfidf_tfidf_strings",
     helper.make_node("TfIdfVectorizer", ["X"], ["Y"], mode="TFIDF", min_gram_length=1, max_gram_length=2, max_skip_count=1,
                      ngram_counts=[0, 4], ngram_indexes=[0, 1, 2, 3, 4, 5, 6],
                      pool_strings=["the", "fox", "dog", "over", "the", "fox", "quick", "fox", "fox", "the"], weights=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
     [vi("X", S, [12])], [vi("Y", F, None)], {"X": np.array([words[i] for i in rng.integers(0, 8, 12)])}, opset=9)
case("label_encoder_int_to_string",
     helper.make_node("LabelEncoder", ["X"], ["Y"], domain="ai.onnx.ml", keys_int64s=[3, 1, 4, 15, 9], values_strings=["three", "one", "four", "fifteen", "nine"],
                      default_string="none"),
     [vi("X", I64, [3, 4])], [vi("Y", S, None)], {"X": rng.integers(0, 16, (3, 4)).astype(np.int64)}, ml=2)
case("label_encoder_float_to_int",
     helper.make_node("LabelEncoder", ["X"], ["Y"], domain="ai.onnx.ml", keys_floats=[0.5, -1.25, 3.0, 0.0], values_int64s=[10, 20, 30, 40], default_int64=-7),
     [vi("X", F, [8])], [vi("Y", I64, None)], {"X": np.array([0.5, -1.25, 2.0, 3.0, -0.0, 0.0, 7.5, -1.25], np.float32)}, ml=2)
case("label_encoder_string_to_float_tensor",
     helper.make_node("LabelEncoder", ["X"], ["Y"], domain="ai.onnx.ml", keys_tensor=numpy_helper.from_array(np.array(["a", "b", "c"], dtype=object), "keys"),
                      values_tensor=numpy_helper.from_array(np.array([0.5, 1.5, -2.0], np.float32), "values"),
                      default_tensor=numpy_helper.from_array(np.array([9.0], np.float32), "default")),
     [vi("X", S, [2, 3])], [vi("Y", F, None)], {"X": np.array([["a", "x", "c"], ["b", "b", ""]])}, ml=4)


def tree_case(name, aggregate, post, x_type=F):
    # Three trees over 3 features, 3 targets; every comparison mode, a membership set and
    # missing values taking the true branch at node 0.
    nodes = dict(
        nodes_modes=numpy_helper.from_array(np.array([0, 1, 2, 3, 4, 5, 6, 0], np.uint8), "modes"),
        nodes_featureids=[0, 1, 2, 0, 1, 2, 0, 1],
        nodes_splits=numpy_helper.from_array(np.array([0.1, -0.3, 0.0, 0.5, 1.0, -1.0, 0.0, 0.2], np.float32 if x_type == F else np.float64), "splits"),
        nodes_truenodeids=[1, 0, 1, 2, 3, 4, 5, 6], nodes_trueleafs=[0, 1, 1, 1, 1, 1, 1, 1],
        nodes_falsenodeids=[2, 1, 7, 3, 4, 5, 6, 7], nodes_falseleafs=[0, 1, 0, 1, 1, 1, 1, 1],
        nodes_missing_value_tracks_true=[1, 0, 0, 0, 0, 0, 0, 0],
        membership_values=numpy_helper.from_array(np.array([1.0, 2.0, -1.0, np.nan], np.float32 if x_type == F else np.float64), "members"),
        leaf_targetids=[0, 1, 2, 0, 1, 2, 0, 1],
        leaf_weights=numpy_helper.from_array(np.array([1.5, -2.0, 0.75, 3.0, 0.5, -1.0, 2.25, 0.125], np.float32 if x_type == F else np.float64), "weights"),
        tree_roots=[0, 3, 5], n_targets=3, aggregate_function=aggregate, post_transform=post)
    x = rng.standard_normal((10, 3)).astype(np.float32 if x_type == F else np.float64)
    x[2, 0] = np.nan
    x[3] = [1.0, 1.0, -1.0]
    x[4] = [2.0, -0.3, 0.0]
    case(name, helper.make_node("TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", **nodes), [vi("X", x_type, [10, 3])], [vi("Y", x_type, None)], {"X": x}, ml=5,
         expected=("post", post))


def post_transform(y, post):
    """ONNX's TreeEnsemble post-transforms, numbered as its specification numbers them."""
    y = y.astype(np.float64)
    if post == 0:
        return y
    if post == 2:
        return 1 / (1 + np.exp(-y))
    if post in (1, 3):
        keep = np.ones_like(y, bool) if post == 1 else y != 0
        e = np.where(keep, np.exp(y - np.where(keep, y, -np.inf).max(axis=1, keepdims=True)), 0)
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(post)


tree_case("tree_ensemble_average_logistic", 0, 2)
tree_case("tree_ensemble_sum_softmax_double", 1, 1, x_type=D)
tree_case("tree_ensemble_min_none", 2, 0)
tree_case("tree_ensemble_max_softmax_zero", 3, 3)
case("string_normalizer_lower_insensitive_2d",
     helper.make_node("StringNormalizer", ["X"], ["Y"], case_change_action="LOWER", is_case_sensitive=0, stopwords=["The", "OVER"], locale="C.UTF-8"),
     [vi("X", S, [1, 6])], [vi("Y", S, None)], {"X": np.array([["the", "Quick", "BROWN", "over", "Fox", "tHe"]])}, opset=10)
case("string_split_whitespace_maxsplit",
     helper.make_node("StringSplit", ["X"], ["Y", "Z"], maxsplit=2),
     [vi("X", S, [2, 2])], [vi("Y", S, None), vi("Z", I64, None)], {"X": np.array([["  a  b c d ", "one"], ["", "x\ty\nz\u00a0w  "]])},
     expected="reference")
case("string_split_delimiter",
     helper.make_node("StringSplit", ["X"], ["Y", "Z"], delimiter="::"),
     [vi("X", S, [3])], [vi("Y", S, None), vi("Z", I64, None)], {"X": np.array(["a::b::::c", "::", "no delimiter"])})
case("regex_full_match_classes",
     helper.make_node("RegexFullMatch", ["X"], ["Y"], pattern=r"[A-Z][a-z]+(-[A-Z][a-z]+)*\s?\d{2,4}"),
     [vi("X", S, [6])], [vi("Y", TensorProto.BOOL, None)], {"X": np.array(["Paris 75", "Aix-En-Provence 13100", "paris 75", "Lyon-69", "Nice 6", "Brest  29"])})
case("string_concat_broadcast_2d",
     helper.make_node("StringConcat", ["X", "Y"], ["Z"]),
     [vi("X", S, [2, 1]), vi("Y", S, [3])], [vi("Z", S, None)], {"X": np.array([["pre-"], [""]]), "Y": np.array(["a", "é", "😀"])})


def main():
    os.makedirs(os.path.join(ROOT, "models"), exist_ok=True)
    entries = []
    for name, node, inputs, outputs, feeds, opset, ml, expected in CASES:
        imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("ai.onnx.ml", ml)] if ml else [])

        def make(n):
            m = helper.make_model(helper.make_graph([n], name, inputs, outputs), opset_imports=imports, producer_name="touchstone-modelzoo")
            m.ir_version = 10
            return m

        model = make(node)
        path = f"models/{name}.onnx"
        onnx.save(model, os.path.join(ROOT, path))
        if expected == "onnxruntime":
            entries.append(zoo.write_entry(ROOT, name, path, feeds, opset=opset, tolerance=1e-6))
            continue
        if expected == "reference":
            from onnx.reference import ReferenceEvaluator
            values = dict(zip([o.name for o in outputs], ReferenceEvaluator(model).run(None, feeds)))
        else:  # ("post", k): onnxruntime's raw scores, then the post-transform in numpy
            raw = helper.make_node(node.op_type, node.input, node.output, domain=node.domain)
            raw.attribute.extend(a for a in node.attribute if a.name != "post_transform")
            y = zoo.ort_run_model(make(raw).SerializeToString(), feeds)
            values = {k: post_transform(v, expected[1]).astype(v.dtype) for k, v in y.items()}
        entries.append(zoo.write_entry(ROOT, name, path, feeds, opset=opset, tolerance=1e-6, outputs=values,
                                       extra={"expected_by": "onnx reference evaluator" if expected == "reference" else "numpy post-transform of onnxruntime's raw scores"}))
    zoo.update_manifest(ROOT, entries)
    print(f"wrote {len(entries)} op models to {ROOT}")


if __name__ == "__main__":
    main()
