#!/usr/bin/env python3
"""Touchstone against onnxruntime on the detectors of make_detectors.py, as sets of detections.

A detector's post-processing is discontinuous: two boxes whose scores differ in the last bit swap
places in TopK and NonMaxSuppression, and a box whose score sits on a threshold may enter or
leave. Comparing outputs position by position then fails on a correct run. Here each reference
detection must be found among the candidate's with the same label, a score within --tol of the
largest score and a box within --tol of the largest coordinate (masks likewise); detections left
over on either side must be near-ties: a score within --tie of the score of a detection of the same
side or of that side's lowest kept score, which a last-bit difference can reorder. The run fails otherwise.

    python3 ModelZoo/scripts/check_detectors.py .build/release/touchstone [--tol 2e-5] [--tie 1e-6]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoo  # noqa: E402


def match(ref, cand, tol):
    """Greedy matching by label, score and box; returns the unmatched indices on each side."""
    rb, rs, rl = ref["boxes"], ref["scores"], ref["labels"]
    cb, cs, cl = cand["boxes"], cand["scores"], cand["labels"]
    score_tol = tol * max(np.abs(rs).max(initial=0), 1e-30)
    box_tol = tol * max(np.abs(rb).max(initial=0), 1e-30)
    used = np.zeros(len(cs), bool)
    left = []
    for j in np.argsort(-rs, kind="stable"):
        ok = (~used) & (cl == rl[j]) & (np.abs(cs - rs[j]) <= score_tol) & (np.abs(cb - rb[j]).max(axis=1, initial=0) <= box_tol)
        if "masks" in ref:
            mt = tol * max(np.abs(ref["masks"]).max(initial=0), 1e-30)
            ok &= np.array([np.abs(cand["masks"][k] - ref["masks"][j]).max() <= mt if ok[k] else False for k in range(len(cs))], bool)
        hits = np.nonzero(ok)[0]
        if len(hits) == 0:
            left.append(int(j))
        else:
            used[hits[np.argmin(np.abs(cs[hits] - rs[j]))]] = True
    return left, [int(k) for k in np.nonzero(~used)[0]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("touchstone")
    ap.add_argument("--root", default=os.path.join(zoo.GENERATED, "detectors"))
    ap.add_argument("--tol", type=float, default=2e-5)
    ap.add_argument("--tie", type=float, default=1e-6)
    args = ap.parse_args()
    manifest = json.load(open(os.path.join(args.root, "manifest.json")))
    failed = 0
    for entry in manifest["models"]:
        ref = {k: np.load(os.path.join(args.root, v)) for k, v in entry["outputs"].items()}
        with tempfile.TemporaryDirectory() as out:
            feeds = [f"{k}={os.path.join(args.root, v)}" for k, v in entry["inputs"].items()]
            cmd = [args.touchstone, "run", os.path.join(args.root, entry["file"]), "--threads", "2", "--out", out]
            for f in feeds:
                cmd += ["--input", f]
            subprocess.run(cmd, check=True, capture_output=True)
            cand = {k: np.load(os.path.join(out, zoo.safe_name(k) + ".npy")) for k in ref}
        left_ref, left_cand = match(ref, cand, args.tol)
        # A leftover must be a near-tie on its own side: another of that side's scores (a pair a
        # last-bit difference reorders), or the lowest kept score (the cut-off). A box or mask
        # wrong under a right score is not excused, since its score ties nothing on its side.
        peak = max(np.abs(ref["scores"]).max(initial=0), 1e-30)

        def near_tie(s, own):
            gaps = np.sort(np.abs(own - s))
            return (len(gaps) > 1 and gaps[1] <= args.tie * peak) or abs(s - own.min()) <= args.tie * peak
        bad = [s for s in ref["scores"][left_ref] if not near_tie(s, ref["scores"])]
        bad += [s for s in cand["scores"][left_cand] if not near_tie(s, cand["scores"])]
        ok = not bad
        failed += not ok
        print(f"{'pass' if ok else 'FAIL'} {entry['name']}: {len(ref['scores'])} reference detections, {len(cand['scores'])} candidate; "
              f"{len(ref['scores']) - len(left_ref)} matched within {args.tol:g} of the peaks; unmatched {len(left_ref)} + {len(left_cand)}, "
              f"{len(bad)} of them not near-ties (within {args.tie:g} of the peak score of another)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
