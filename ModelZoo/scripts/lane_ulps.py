#!/usr/bin/env python3
"""One elementwise op (Sigmoid, Tanh, Exp) in Touchstone's FP32 and onnxruntime's FP32 (CPU
provider, one thread) against float64, in float32 ulps of the exact value: worst and mean per sign
of x and per range, on 2M seeded values (uniform in [-20, 20] and normal with deviation 3).

    python3 ModelZoo/scripts/lane_ulps.py TOUCHSTONE [Sigmoid|Tanh|Exp]
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

EXACT = {"Sigmoid": lambda v: 1 / (1 + np.exp(-v)), "Tanh": np.tanh, "Exp": np.exp}


def main():
    touchstone = sys.argv[1]
    op = sys.argv[2] if len(sys.argv) > 2 else "Sigmoid"
    work = tempfile.mkdtemp(prefix="lane-ulps-")
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-20, 20, 1 << 20), rng.standard_normal(1 << 20) * 3]).astype(np.float32).reshape(1, -1)
    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"])], "g", [helper.make_tensor_value_info("x", 1, list(x.shape))],
                              [helper.make_tensor_value_info("y", 1, None)])
    model = os.path.join(work, "m.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), model)
    np.save(os.path.join(work, "x.npy"), x)
    subprocess.run([touchstone, "run", model, "--input", f"x={os.path.join(work, 'x.npy')}", "--threads", "1", "--out", work],
                   check=True, capture_output=True)
    runs = {"touchstone": np.load(os.path.join(work, "y.npy")).astype(np.float64)}
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    runs["onnxruntime"] = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0].astype(np.float64)
    xd = x.astype(np.float64)
    exact = EXACT[op](xd)
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    runs["correctly rounded"] = exact.astype(np.float32).astype(np.float64)
    for name, y in runs.items():
        e = np.abs(y - exact) / ulp
        for side, mask in (("x<0", xd < 0), ("x>0", xd > 0)):
            print(f"{name:18s} {side}: worst {e[mask].max():.2f} ulp, mean {e[mask].mean():.3f} ulp")
    for lo, hi in ((-17, -8), (-8, -2), (-2, 0), (0, 2), (2, 5), (5, 8), (8, 17)):
        m = (xd >= lo) & (xd < hi)
        row = [f"{n} mean {(np.abs(runs[n] - exact) / ulp)[m].mean():.3f} worst {(np.abs(runs[n] - exact) / ulp)[m].max():.2f}"
               for n in ("touchstone", "onnxruntime")]
        print(f"[{lo}, {hi}): " + " | ".join(row))


if __name__ == "__main__":
    sys.exit(main())
