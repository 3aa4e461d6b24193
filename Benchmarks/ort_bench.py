"""Times onnxruntime (CPU provider) the way `touchstone bench` times Touchstone.

    python3 Benchmarks/ort_bench.py MODEL --batch 1 --threads 1 --runs 10 --warmup 3 --warmup-ms 200

Prints one JSON line: {"lat_ms": [...], "load_s": ..., "peak_rss_mb": ...}. Inputs are seeded
random values of each input's declared shape with the first dimension set to the batch, or
--inputs FILE.npz.
"""
import argparse
import json
import time

import numpy as np
import onnxruntime as ort


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3, help="untimed warm-up runs (at least)")
    ap.add_argument("--warmup-ms", type=float, default=200.0,
                    help="warm up for at least this many milliseconds as well, as `touchstone bench --warmup-ms` does")
    ap.add_argument("--inputs", help="an .npz of the inputs (instead of seeded ones; --batch is then the file's)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    load_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    feeds = {}
    types = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32}
    for i in sess.get_inputs() if args.inputs is None else []:
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        if shape:
            shape[0] = args.batch
        feeds[i.name] = rng.standard_normal(shape).astype(types.get(i.type, np.float32))
    if args.inputs is not None:
        feeds = dict(np.load(args.inputs))
    start = time.perf_counter()
    warmed = 0
    while warmed < args.warmup or (time.perf_counter() - start) * 1000 < args.warmup_ms:
        sess.run(None, feeds)
        warmed += 1
    lat = []
    for _ in range(args.runs):
        t = time.perf_counter()
        sess.run(None, feeds)
        lat.append((time.perf_counter() - t) * 1000)
    print(json.dumps({"lat_ms": lat, "load_s": load_s, "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
