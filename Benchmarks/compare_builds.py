"""Latency of several Touchstone builds (or kernel choices) on the same models, interleaved.

    python3 Benchmarks/compare_builds.py LABEL=BINARY[,ENV=VALUE...] LABEL=BINARY ... \
        [--models resnet18,...] [--batch 1] [--threads 1] [--runs 10] [--warmup 3] [--warmup-ms 200] [--rounds 3]

Each configuration is a label, a `touchstone` binary and optional environment settings, e.g.
`avx2-tiles=/tmp/haswell/release/touchstone` or `avx2-blas=/tmp/haswell/release/touchstone,
TOUCHSTONE_CONV_KERNEL=blas,OPENBLAS_CORETYPE=Haswell`. For every model the configurations run in
turn, `rounds` times (a fresh `touchstone bench --json` process each, the order rotated every
round); the table gives each one's median over all timed runs and the median over rounds of its
ratio to the first configuration's run of the same round ("paired", robust to the machine's speed
drifting), then the geometric mean of the paired ratios. Models come from ModelZoo/generated
(python3 ModelZoo/scripts/make_torchvision.py).
"""
import argparse
import json
import math
import os
import statistics
import sys

from compare_onnxruntime import run

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def parse_config(text):
    label, _, rest = text.partition("=")
    parts = rest.split(",")
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    for setting in parts[1:]:
        key, _, value = setting.partition("=")
        env[key] = value
    if not label or not parts[0]:
        sys.exit(f"expected LABEL=BINARY[,ENV=VALUE...], got {text!r}")
    return label, parts[0], env


def bench(binary, env, path, args):
    cmd = [binary, "bench", path, "--json", "--batch", str(args.batch), "--threads", str(args.threads),
           "--runs", str(args.runs), "--warmup", str(args.warmup),
                          "--warmup-ms", str(args.warmup_ms)]
    return run(cmd, env)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("configs", nargs="+")
    ap.add_argument("--models", default="resnet18,resnet50,mobilenet_v2,mobilenet_v3_small,squeezenet1_1,googlenet,"
                    "densenet121,shufflenet_v2_x1_0,efficientnet_b0,vgg11")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--warmup-ms", type=float, default=200.0,
                    help="each process also warms up for at least this long before timing (steady state, as trtexec's --warmUp)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(HERE, "out", "compare_builds.json"))
    args = ap.parse_args()
    configs = [parse_config(c) for c in args.configs]
    results = []
    for model in args.models.split(","):
        path = os.path.join(REPO, "ModelZoo", "generated", "models", model + ".onnx")
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: run python3 ModelZoo/scripts/make_torchvision.py")
        times = {label: [] for label, _, _ in configs}
        ratios = {label: [] for label, _, _ in configs}
        for r in range(args.rounds):
            order = configs[r % len(configs):] + configs[:r % len(configs)]
            medians = {}
            for label, binary, env in order:
                lat = bench(binary, env, path, args)["lat_ms"]
                times[label] += lat
                medians[label] = statistics.median(lat)
            first = configs[0][0]
            for label in medians:
                ratios[label].append(medians[label] / medians[first])
        row = {"model": model, "ms": {k: statistics.median(v) for k, v in times.items()},
               "paired_ratio": {k: statistics.median(v) for k, v in ratios.items()}}
        results.append(row)
        print(model, "  ".join(f"{k} {row['ms'][k]:.2f} ms ({row['paired_ratio'][k]:.2f})" for k in row["ms"]), flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    labels = [c[0] for c in configs]
    print()
    print("| model | " + " | ".join(f"{l} ms (paired ratio)" for l in labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for row in results:
        print(f"| {row['model']} | " + " | ".join(f"{row['ms'][l]:.2f} ({row['paired_ratio'][l]:.2f})" for l in labels) + " |")
    print()
    for l in labels:
        g = math.exp(sum(math.log(r["paired_ratio"][l]) for r in results) / len(results))
        print(f"{l}: geometric mean of paired ratios to {labels[0]} {g:.3f}")


if __name__ == "__main__":
    main()
