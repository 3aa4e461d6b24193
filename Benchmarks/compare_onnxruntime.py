"""Side-by-side latency of Touchstone and onnxruntime, interleaved in one run.

    python3 Benchmarks/compare_onnxruntime.py [--models resnet18,...] [--batches 1,8] [--threads 1,2]
        [--runs 10] [--warmup 3] [--warmup-ms 200] [--rounds 3] [--out Benchmarks/out/compare.json]

For every model × batch × threads it alternates the two runtimes `rounds` times (each a fresh
process: `touchstone bench --json` and Benchmarks/ort_bench.py, the first of the pair alternating),
pools the timed runs, and reports median latencies, their ratio, the median of the rounds' own
ratios ("paired", robust to the machine's speed drifting between rounds), load time and peak RSS,
then the geometric mean of each ratio.
Models come from ModelZoo/generated/models (python3 ModelZoo/scripts/make_torchvision.py), or
--model-dir (ModelZoo/generated/broader: python3 ModelZoo/scripts/make_broader.py;
ModelZoo/generated/transformers with --feeds: make_transformers.py). Touchstone
must be built first: swift build -c release -Xswiftc -target-cpu -Xswiftc native.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1",
          "googlenet", "densenet121", "shufflenet_v2_x1_0", "efficientnet_b0", "vgg11"]


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("no JSON line in output:\n" + text)


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return last_json(p.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--model-dir", default=os.path.join(REPO, "ModelZoo", "generated", "models"),
                    help="where MODEL.onnx is (ModelZoo/generated/broader for make_broader.py's set)")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--warmup-ms", type=float, default=200.0,
                    help="each process also warms up for at least this long before timing (steady state, as trtexec's --warmUp)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--feeds", action="store_true",
                    help="time both on MODEL_bBATCH.npz beside the model (make_transformers.py's valid token ids and masks) instead of seeded inputs")
    ap.add_argument("--touchstone", default=os.path.join(REPO, ".build", "release", "touchstone"))
    ap.add_argument("--out", default=os.path.join(HERE, "out", "compare.json"))
    args = ap.parse_args()
    env = dict(os.environ)
    results = []
    for model in args.models.split(","):
        path = os.path.join(args.model_dir, model + ".onnx")
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: run python3 ModelZoo/scripts/make_torchvision.py (or make_broader.py)")
        for batch in map(int, args.batches.split(",")):
            for threads in map(int, args.threads.split(",")):
                common = ["--batch", str(batch), "--threads", str(threads), "--runs", str(args.runs), "--warmup", str(args.warmup),
                          "--warmup-ms", str(args.warmup_ms)]
                ts_inputs, ort_inputs = [], []
                if args.feeds:
                    feeds = os.path.join(args.model_dir, f"{model}_b{batch}.npz")
                    if not os.path.exists(feeds):
                        sys.exit(f"{feeds} is missing: run python3 ModelZoo/scripts/make_transformers.py")
                    ts_inputs, ort_inputs = ["--load-inputs", feeds], ["--inputs", feeds]
                ts, ort = [], []
                ts_meta, ort_meta = [], []
                round_ratios = []
                for r in range(args.rounds):
                    # Alternate which runtime goes first, so that neither always meets a warmer machine.
                    def touchstone():
                        return run([args.touchstone, "bench", path, "--json"] + common + ts_inputs, env)

                    def onnxruntime():
                        return run([sys.executable, os.path.join(HERE, "ort_bench.py"), path] + common + ort_inputs)
                    if r % 2 == 0:
                        a = touchstone()
                        b = onnxruntime()
                    else:
                        b = onnxruntime()
                        a = touchstone()
                    ts += a["lat_ms"]
                    ort += b["lat_ms"]
                    ts_meta.append(a)
                    ort_meta.append(b)
                    round_ratios.append(statistics.median(a["lat_ms"]) / statistics.median(b["lat_ms"]))
                row = {
                    "model": model, "batch": batch, "threads": threads,
                    "touchstone_ms": statistics.median(ts), "onnxruntime_ms": statistics.median(ort),
                    "touchstone_load_s": statistics.median(m["load_s"] for m in ts_meta),
                    "onnxruntime_load_s": statistics.median(m["load_s"] for m in ort_meta),
                    "touchstone_rss_mb": max(m["peak_rss_mb"] for m in ts_meta),
                    "onnxruntime_rss_mb": max(m["peak_rss_mb"] for m in ort_meta),
                }
                row["ratio"] = row["touchstone_ms"] / row["onnxruntime_ms"]
                # The median of the rounds' own ratios: each round's two runs are seconds apart, so
                # a drift of the machine's speed between rounds cancels in it.
                row["paired_ratio"] = statistics.median(round_ratios)
                results.append(row)
                print(f"{model:20s} b{batch} t{threads}: touchstone {row['touchstone_ms']:8.2f} ms  onnxruntime {row['onnxruntime_ms']:8.2f} ms"
                      f"  ratio {row['ratio']:.2f} (paired {row['paired_ratio']:.2f})  rss {row['touchstone_rss_mb']:.0f}/{row['onnxruntime_rss_mb']:.0f} MB", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print()
    print("| model | batch | threads | Touchstone ms | onnxruntime ms | ratio | paired ratio | load s (T / ORT) | peak RSS MB (T / ORT) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['model']} | {r['batch']} | {r['threads']} | {r['touchstone_ms']:.2f} | {r['onnxruntime_ms']:.2f} | {r['ratio']:.2f} | {r['paired_ratio']:.2f} |"
              f" {r['touchstone_load_s']:.2f} / {r['onnxruntime_load_s']:.2f} | {r['touchstone_rss_mb']:.0f} / {r['onnxruntime_rss_mb']:.0f} |")
    print()
    for batch in map(int, args.batches.split(",")):
        for threads in map(int, args.threads.split(",")):
            rows = [r for r in results if r["batch"] == batch and r["threads"] == threads]
            if rows:
                def geomean(key):
                    return math.exp(sum(math.log(r[key]) for r in rows) / len(rows))
                worst, worst_paired = max(r["ratio"] for r in rows), max(r["paired_ratio"] for r in rows)
                print(f"batch {batch}, {threads} thread(s): geometric mean ratio {geomean('ratio'):.3f} (paired {geomean('paired_ratio'):.3f}),"
                      f" worst {worst:.2f} (paired {worst_paired:.2f}) over {len(rows)} models")


if __name__ == "__main__":
    main()
