"""Writes ONNX's backend node tests to disk in the classic layout.

Since onnx 1.23 the wheel builds these cases in memory; this script saves each as
OUT/<name>/model.onnx with test_data_set_0/input_<i>.pb and output_<i>.pb (TensorProto).
Cases whose data are not plain tensors (sequences, optionals, maps) are listed in
OUT/not_materialized.txt instead.

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


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "node-tests"
    os.makedirs(out, exist_ok=True)
    skipped = []
    written = 0
    for case in load_model_tests(kind="node"):
        inputs, outputs = case.data_sets[0]
        if not all(isinstance(a, (np.ndarray, np.generic, onnx.TensorProto)) for a in list(inputs) + list(outputs)):
            skipped.append(case.name)
            continue
        d = os.path.join(out, case.name)
        data = os.path.join(d, "test_data_set_0")
        os.makedirs(data, exist_ok=True)
        onnx.save(case.model, os.path.join(d, "model.onnx"))
        graph_inputs = [i.name for i in case.model.graph.input]
        graph_outputs = [o.name for o in case.model.graph.output]
        for kind, arrays, names in (("input", inputs, graph_inputs), ("output", outputs, graph_outputs)):
            for i, a in enumerate(arrays):
                name = names[i] if i < len(names) else f"{kind}_{i}"
                if isinstance(a, onnx.TensorProto):
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
