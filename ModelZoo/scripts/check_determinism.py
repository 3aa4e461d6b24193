"""Checks that `touchstone run` gives the same bits on 1 and 2 threads for each model, in FP32, FP16,
BF16 (each at batch 1 and 3) and FP16 with FP16 accumulation (batch 1).

    python3 ModelZoo/scripts/check_determinism.py TOUCHSTONE_BINARY [MODEL.onnx ...] [--json OUT]

Without models, the ten architectures in ModelZoo/generated/models (make_torchvision.py or
zoo_skeletons.py fill). Inputs are Touchstone's seeded random inputs (seed 0), the same for both
thread counts. Prints one line per model and configuration; exits 1 if any output differs in a bit.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import zoo

CONFIGS = [
    ("fp32", 1, []), ("fp32", 3, []), ("fp16", 1, []), ("fp16", 3, []), ("bf16", 1, []), ("bf16", 3, []),
    ("fp16", 1, ["--accumulation", "fp16"]),
]

ap = argparse.ArgumentParser()
ap.add_argument("binary")
ap.add_argument("models", nargs="*")
ap.add_argument("--json")
args = ap.parse_args()
models = args.models or sorted(glob.glob(os.path.join(zoo.GENERATED, "models", "*.onnx")))
if not models:
    sys.exit("no models: run python3 ModelZoo/scripts/zoo_skeletons.py fill (or make_torchvision.py) first")

rows, failed = [], 0
with tempfile.TemporaryDirectory() as tmp:
    for model in models:
        name = os.path.splitext(os.path.basename(model))[0]
        for precision, batch, extra in CONFIGS:
            label = f"{precision}{' fp16-sums' if extra else ''} batch {batch}"
            outs = []
            start = time.time()
            for threads in (1, 2):
                path = os.path.join(tmp, f"{name}-{threads}.npz")
                cmd = [args.binary, "run", model, "--precision", precision, "--batch", str(batch), "--threads", str(threads),
                       "--save-outputs", path, *extra]
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    sys.exit(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
                with np.load(path) as z:
                    outs.append({k: z[k] for k in z.files})
            same = outs[0].keys() == outs[1].keys() and all(
                outs[0][k].shape == outs[1][k].shape and outs[0][k].tobytes() == outs[1][k].tobytes() for k in outs[0])
            differing = 0 if same else sum(int(np.count_nonzero(outs[0][k].view(np.uint8) != outs[1][k].view(np.uint8))) for k in outs[0])
            failed += not same
            rows.append({"model": name, "config": label, "identical": same, "seconds": round(time.time() - start, 1)})
            print(f"{'same' if same else 'DIFFERENT'}  {name:22} {label:24} ({time.time() - start:.1f} s)"
                  + ("" if same else f" {differing} bytes differ"), flush=True)
if args.json:
    json.dump(rows, open(args.json, "w"), indent=1)
print(f"{len(rows) - failed} of {len(rows)} model × configuration pairs give the same bits on 1 and 2 threads")
sys.exit(1 if failed else 0)
