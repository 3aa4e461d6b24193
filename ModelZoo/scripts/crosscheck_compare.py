#!/usr/bin/env python3
"""Judges the GPU runs of gpu_crosscheck.py with `touchstone compare`.

For each model in the GPU files: exports the same model (crosscheck_models.build) to ONNX here,
maps the GPU's module outputs to the ONNX tensors by value (onnxruntime's CPU run of the ONNX
model with every tensor marked: each module output takes the tensor of equal shape closest to it,
if within 1e-3 relative L2 and clearly closer than any other), writes each run as a candidate .npz
under ONNX names, and runs `touchstone compare`:
- clean runs (FP32 TF32 off, TF32, FP16) with derived tolerances for their precision and with
  Polygraphy's defaults;
- fault runs with --localize, given about 8 of the tensors and given all of them, checking that
  the named segment holds the faulty node, and that all tensors name the node itself.

    python3 ModelZoo/scripts/crosscheck_compare.py GPU_DIR [--touchstone .build/release/touchstone] [--json summary.json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crosscheck_models as cm  # noqa: E402
import zoo  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, "ModelZoo", "generated", "crosscheck")


def export(name):
    import torch

    path = os.path.join(OUT_DIR, f"{name}.onnx")
    if not os.path.exists(path):
        model = cm.build(name)
        x = torch.from_numpy(cm.inputs(name))

        class Plain(torch.nn.Module):  # segmentation models return a dict
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, x):
                return cm.output_of(self.m(x))

        torch.onnx.export(Plain(model) if name.startswith("lraspp") else model, (x,), path, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"])
    return path


def all_tensors(path, x):
    """onnxruntime's value of every node output (and the graph output)."""
    import onnx
    import onnxruntime as ort

    m = zoo.mark_all(onnx.load(path))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    producer = {o: n.name for n in m.graph.node for o in n.output}
    resizes = [n.name for n in m.graph.node if n.op_type == "Resize"]
    return dict(zip(names, s.run(names, {"input": x}))), producer, resizes


def rel_l2(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def map_names(captures, onnx_values):
    """module label -> ONNX tensor name, from a clean FP32 capture."""
    by_shape = {}
    for n, v in onnx_values.items():
        by_shape.setdefault(tuple(v.shape), []).append(n)
    mapping = {}
    for label, v in captures.items():
        if label == "__output__":
            mapping[label] = "output"
            continue
        if not np.all(np.isfinite(v)):
            continue
        scored = sorted((rel_l2(v, onnx_values[n]), n) for n in by_shape.get(tuple(v.shape), []))
        if scored and scored[0][0] < 1e-3 and (len(scored) == 1 or scored[1][0] > 10 * scored[0][0] or scored[1][0] > 1e-2):
            mapping[label] = scored[0][1]
    return mapping


def candidate(captures, mapping, keep=None):
    """The run's tensors under ONNX names (each ONNX tensor once: the first module giving it)."""
    out = {}
    for label, v in captures.items():
        n = mapping.get(label)
        if n is None or n in out or (keep is not None and n not in keep):
            continue
        out[n] = v
    return out


def compare(touchstone, model, cand, inputs, args, tmp):
    path = os.path.join(tmp, "cand.npz")
    np.savez(path, **cand)
    verdict = os.path.join(tmp, "verdict.json")
    if os.path.exists(verdict):
        os.remove(verdict)
    p = subprocess.run([touchstone, "compare", model, "--candidate", path, "--load-inputs", inputs, "--json", verdict, "--threads", "2"] + args,
                       capture_output=True, text=True, timeout=1200)
    if p.returncode == 2 or not os.path.exists(verdict):
        raise RuntimeError(f"touchstone compare failed: {p.stdout[-2000:]} {p.stderr[-2000:]}")
    with open(verdict) as f:
        return p.returncode, json.load(f)


def num(x):
    return float(x) if not isinstance(x, str) else float(x.replace("inf", "Infinity")) if x != "nan" else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gpu_dir")
    ap.add_argument("--touchstone", default=os.path.join(ROOT, ".build", "release", "touchstone"))
    ap.add_argument("--json", help="write the summary here")
    ap.add_argument("--models", help="only these")
    ap.add_argument("--markdown", help="write the tables (for Benchmarks/RESULTS.md) here")
    args = ap.parse_args()
    os.makedirs(OUT_DIR, exist_ok=True)
    arrays = {}
    for f in sorted(os.listdir(args.gpu_dir)):
        if f.startswith("gpu_") and f.endswith(".npz"):
            z = np.load(os.path.join(args.gpu_dir, f))
            for k in z.files:
                model, run, label = k.split("|", 2)
                arrays.setdefault(model, {}).setdefault(run, {})[label] = z[k]
    meta = json.load(open(os.path.join(args.gpu_dir, "gpu_meta.json")))
    summary = {"gpu": meta, "models": {}}
    tmp = tempfile.mkdtemp()
    wanted = args.models.split(",") if args.models else list(arrays)
    for name in wanted:
        runs = arrays[name]
        path = export(name)
        x = cm.inputs(name)
        inputs = os.path.join(tmp, "inputs.npz")
        np.savez(inputs, input=x)
        values, producer, resizes = all_tensors(path, x)
        mapping = map_names(runs.get("full", runs["fp32"]), values)
        result = {"mapped": len(set(mapping.values()))}
        for run, precision in (("fp32", "fp32"), ("tf32", "tf32"), ("fp16", "fp16")):
            cand = candidate(runs[run], mapping)
            code_d, derived = compare(args.touchstone, path, cand, inputs, ["--tolerance", "derived", "--candidate-precision", precision], tmp)
            code_p, poly = compare(args.touchstone, path, cand, inputs, [], tmp)
            worst_margin, worst_ratio = 0.0, 0.0
            for t in derived["tensors"].values():
                atol = num(t["atol"])
                err = num(t["max_abs"])
                worst_margin = max(worst_margin, err / atol if atol > 0 else (0 if err == 0 else float("inf")))
            # How far the real error is from the simulated one: max |candidate − touchstone| over
            # (max |simulated − fp64| + max |touchstone − fp64|), the factor a tolerance needs.
            for tname, how in derived.get("derivations", {}).items():
                t = derived["tensors"][tname]
                base = num(t["atol"]) / 4.0 if "× 4 →" in how else None  # the error bound before the factor
                if base:
                    worst_ratio = max(worst_ratio, num(t["max_abs"]) / base)
            result[run] = {
                "tensors": len(cand), "derived_passed": derived["passed"], "exit": code_d,
                "worst_error_over_atol": worst_margin, "worst_error_over_simulated": worst_ratio,
                "polygraphy_defaults_passed": poly["passed"],
            }
            print(f"{name} {run}: {len(cand)} tensors; derived {'PASS' if derived['passed'] else 'FAIL'} "
                  f"(worst error/atol {worst_margin:.3f}, error/simulated {worst_ratio:.2f}); Polygraphy defaults {'PASS' if poly['passed'] else 'FAIL'}", flush=True)
        for kind, target in cm.FAULTS.get(name, []):
            run = f"fault-{kind}"
            caps = runs[run]
            # The ONNX node the fault is in: the first mapped tensor at or after the module.
            labels = list(runs.get("full", runs["fp32"]).keys())
            if kind == "nearest":  # the first bilinear Resize in graph order
                expected_tensor = next(o for o, n in producer.items() if n == resizes[0])
            else:
                start = labels.index(target)
                expected_tensor = next(mapping[l] for l in labels[start:] if l in mapping)
            expected_node = producer.get(expected_tensor, expected_tensor)
            precision = "fp16" if kind == "overflow" else "fp32"
            full = candidate(caps, mapping)
            order = [n for n in values if n in full]  # graph order of the mapped tensors
            few_names = set(order[round(i * (len(order) - 1) / 7)] for i in range(8)) | {"output"}
            few = candidate(caps, mapping, keep=few_names)
            entry = {"expected_node": expected_node}
            for label, cand in (("8 tensors", few), ("all tensors", full)):
                code, v = compare(args.touchstone, path, cand, inputs, ["--tolerance", "derived", "--candidate-precision", precision, "--localize"], tmp)
                loc = v.get("localization") or {}
                segment = loc.get("segment") or []
                entry[label] = {
                    "tensors": len(cand), "failed": not v["passed"], "exit": code,
                    "first_divergent": loc.get("first_divergent"), "segment_size": len(segment),
                    "segment_holds_fault": expected_node in segment, "named_the_node": segment == [expected_node],
                }
                print(f"{name} {run} ({label}, {len(cand)}): {'FAIL' if not v['passed'] else 'pass'}; first divergent "
                      f"{loc.get('first_divergent')} (segment of {len(segment)}; holds {expected_node}: {expected_node in segment})", flush=True)
            result[run] = entry
        summary["models"][name] = result
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(summary))


def markdown(summary):
    def yes(b):
        return "pass" if b else "FAIL"
    out = ["| model | tensors | FP32: derived / Polygraphy | worst err/atol | err/sim | TF32: derived / Polygraphy | worst err/atol | err/sim | FP16: derived / Polygraphy | worst err/atol | err/sim |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m, r in summary["models"].items():
        cells = [m, str(r["fp32"]["tensors"])]
        for run in ("fp32", "tf32", "fp16"):
            x = r[run]
            cells += [f"{yes(x['derived_passed'])} / {yes(x['polygraphy_defaults_passed'])}", f"{x['worst_error_over_atol']:.3f}", f"{x['worst_error_over_simulated']:.2f}"]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "| model | planted fault | run | tensors given | verdict | first divergent (segment size) | segment holds the fault | the node itself |", "|---|---|---|---|---|---|---|---|"]
    for m, r in summary["models"].items():
        for run, e in r.items():
            if not run.startswith("fault-"):
                continue
            for label in ("8 tensors", "all tensors"):
                x = e[label]
                out.append(f"| {m} | {run[6:]} ({e['expected_node']}) | {'FP16' if run == 'fault-overflow' else 'FP32'} | {x['tensors']} | {yes(not x['failed'])} | "
                           f"{x['first_divergent']} ({x['segment_size']}) | {'yes' if x['segment_holds_fault'] else 'no'} | {'yes' if x['named_the_node'] else 'no'} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
