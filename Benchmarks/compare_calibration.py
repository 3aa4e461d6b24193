"""Times entropy calibration: Touchstone's `calibrate` against onnxruntime's own calibrator
(onnxruntime.quantization, CalibrationMethod.Entropy), on the same model and the same seeded data,
each in its own process, reporting wall time and peak resident memory.

    python3 Benchmarks/compare_calibration.py --model ModelZoo/generated/models/resnet50.onnx \
        --samples 64 --touchstone .build/release/touchstone
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ModelZoo", "scripts"))
import zoo  # noqa: E402

ORT_SCRIPT = r"""
import sys, time, resource, os, numpy as np, onnx
from onnxruntime.quantization.calibrate import CalibrationDataReader, CalibrationMethod, create_calibrator
model, data = sys.argv[1], sys.argv[2]
files = sorted(f for f in os.listdir(data) if f.endswith('.npy'))
name = onnx.load(model, load_external_data=False).graph.input[0].name
class R(CalibrationDataReader):
    def __init__(self): self.it = iter(files)
    def get_next(self):
        f = next(self.it, None)
        return None if f is None else {name: np.load(os.path.join(data, f))[None]}
t = time.time()
c = create_calibrator(model, ["Conv", "ConvTranspose", "Gemm", "MatMul"], augmented_model_path=os.path.join(data, "..", "augmented.onnx"),
                      calibrate_method=CalibrationMethod.Entropy, extra_options={"num_bins": 2048, "num_quantized_bins": 128})
c.collect_data(R())
ranges = c.compute_data()
print(time.time() - t, len(ranges.data), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--touchstone", default=".build/release/touchstone")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    import onnx
    m = onnx.load(args.model, load_external_data=False)
    shape = [d.dim_value or 1 for d in m.graph.input[0].type.tensor_type.shape.dim][1:]
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        for k in range(args.samples):
            np.save(os.path.join(data, f"{k:04d}.npy"), zoo.smooth_image(rng, shape))
        t = time.time()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", args.touchstone, "calibrate", args.model, "--data", data, "--method", "entropy",
                            "--cache", os.path.join(tmp, "t.cache"), "--threads", str(args.threads)], capture_output=True, text=True, check=True)
        ts_seconds = time.time() - t
        ts_rss = int(p.stderr.strip().split("\n")[-1]) / 1024
        tensors = len(open(os.path.join(tmp, "t.cache")).read().strip().split("\n")) - 1
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        t = time.time()
        p = subprocess.run([sys.executable, "-c", ORT_SCRIPT, args.model, data], capture_output=True, text=True, env=env)
        ort_seconds = time.time() - t
        if p.returncode != 0:
            print(p.stderr[-2000:])
            ort = None
        else:
            inner, ort_tensors, ort_rss = p.stdout.strip().split("\n")[-1].split()
            ort = {"seconds": round(ort_seconds, 1), "calibrator_seconds": round(float(inner), 1), "tensors": int(ort_tensors), "peak_rss_mb": round(float(ort_rss))}
        result = {"model": os.path.basename(args.model), "samples": args.samples, "threads": args.threads,
                  "touchstone": {"seconds": round(ts_seconds, 1), "tensors": tensors, "peak_rss_mb": round(ts_rss)}, "onnxruntime": ort}
        print(json.dumps(result))


if __name__ == "__main__":
    main()
