"""Writes ONNX's backend node tests to disk in the classic layout.

Since onnx 1.23 the wheel builds these cases in memory; this script saves each as
OUT/<name>/model.onnx with test_data_set_0/input_<i>.pb and output_<i>.pb (TensorProto).
Sequences and optionals are written as onnx-data.proto's SequenceProto and OptionalProto (as
the graph's declared types say), the way onnx's own runner reads them; cases with other data
(maps) are listed in OUT/not_materialized.txt instead.

    python3 ModelZoo/scripts/materialize_node_tests.py OUT_DIR    (needs onnx==1.23.2)
"""
import os
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")  # the cases' own overflow/divide warnings while they are built

np.random.seed(0)  # some cases draw random data when they are built: keep reruns identical

import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402
from onnx.backend.test.loader import load_model_tests  # noqa: E402


def writable(a, type_proto):
    """Whether a case's value can be written: a tensor, or a sequence or optional of tensors as declared."""
    kind = type_proto.WhichOneof("value")
    if kind == "sequence_type":
        return isinstance(a, list) and all(isinstance(x, (np.ndarray, np.generic)) for x in a)
    if kind == "optional_type":
        return a is None or writable(a, type_proto.optional_type.elem_type)
    return isinstance(a, (np.ndarray, np.generic, onnx.TensorProto))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "node-tests"
    os.makedirs(out, exist_ok=True)
    skipped = []
    written = 0
    for case in load_model_tests(kind="node"):
        inputs, outputs = case.data_sets[0]
        graph_types = [v.type for v in case.model.graph.input], [v.type for v in case.model.graph.output]
        if not all(writable(a, t) for arrays, types in zip((inputs, outputs), graph_types) for a, t in zip(arrays, types)):
            skipped.append(case.name)
            continue
        d = os.path.join(out, case.name)
        data = os.path.join(d, "test_data_set_0")
        os.makedirs(data, exist_ok=True)
        onnx.save(case.model, os.path.join(d, "model.onnx"))
        graph_inputs = [i.name for i in case.model.graph.input]
        graph_outputs = [o.name for o in case.model.graph.output]
        for kind, arrays, names, types in (("input", inputs, graph_inputs, graph_types[0]), ("output", outputs, graph_outputs, graph_types[1])):
            for i, a in enumerate(arrays):
                name = names[i] if i < len(names) else f"{kind}_{i}"
                value_kind = types[i].WhichOneof("value") if i < len(types) else "tensor_type"
                if value_kind == "sequence_type":
                    t = numpy_helper.from_list([np.asarray(x) for x in a], name)
                elif value_kind == "optional_type":
                    inner = types[i].optional_type.elem_type.WhichOneof("value")
                    holds = onnx.OptionalProto.SEQUENCE if inner == "sequence_type" else onnx.OptionalProto.TENSOR
                    value = None if a is None else [np.asarray(x) for x in a] if isinstance(a, list) else np.asarray(a)
                    t = numpy_helper.from_optional(value, name, holds if value is not None else None)
                elif isinstance(a, onnx.TensorProto):
                    t = onnx.TensorProto()
                    t.CopyFrom(a)
                    t.name = name
                else:
                    t = numpy_helper.from_array(np.asarray(a), name)
                with open(os.path.join(data, f"{kind}_{i}.pb"), "wb") as f:
                    f.write(t.SerializeToString())
        written += 1
    with open(os.path.join(out, "not_materialized.txt"), "w") as f:
        f.write("\n".join(skipped) + "\n")
    print(f"wrote {written} node test cases to {out}; {len(skipped)} with non-tensor data listed in not_materialized.txt")


if __name__ == "__main__":
    main()
