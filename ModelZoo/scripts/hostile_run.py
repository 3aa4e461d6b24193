"""Runs the hostile inputs of `hostile_inputs.py` through a `touchstone` binary and tallies the outcomes.

    python3 ModelZoo/scripts/hostile_run.py TOUCHSTONE_BINARY CASE_DIR [--timeout 20] [--jobs 2] [--filter TEXT]

Each case runs in CASE_DIR with the given timeout; its peak resident memory comes from the kernel
(wait4's ru_maxrss). A case fails the check when the process dies of a signal (a trap), outlives the
timeout, peaks over 2 GB, exits 0 on garbage (expect "error"), or exits with a code other than 0, 1, 2.
Prints one line per failing case and a summary; writes CASE_DIR/results.json; exits 1 if any case failed.
"""
import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ap = argparse.ArgumentParser()
ap.add_argument("binary")
ap.add_argument("cases")
ap.add_argument("--timeout", type=float, default=20)
ap.add_argument("--jobs", type=int, default=2)
ap.add_argument("--filter", default="")
ap.add_argument("--memory-limit-gb", type=float, default=2.0)
args = ap.parse_args()
binary = os.path.abspath(args.binary)
cases = [c for c in json.load(open(os.path.join(args.cases, "cases.json"))) if args.filter in c["name"] or args.filter in c["class"]]


def run_measured(case):
    # One process per call through os.wait4, for the peak memory of exactly this child.
    start = time.monotonic()
    with open(os.devnull, "rb") as stdin, open(os.devnull, "wb") as devnull:
        errpath = os.path.join(args.cases, "scratch", f".err-{os.getpid()}-{id(case)}")
        os.makedirs(os.path.dirname(errpath), exist_ok=True)
        with open(errpath, "wb") as errf:
            p = subprocess.Popen([binary, *case["argv"]], cwd=args.cases, stdin=stdin, stdout=devnull, stderr=errf, start_new_session=True)
            timed_out = False
            status = None
            while True:
                pid, st, ru = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    status, rusage = st, ru
                    break
                if time.monotonic() - start > args.timeout:
                    timed_out = True
                    os.killpg(p.pid, signal.SIGKILL)
                    pid, st, ru = os.wait4(p.pid, 0)
                    status, rusage = st, ru
                    break
                time.sleep(0.01)
    p.returncode = 0  # reaped by wait4; keep Popen from waiting again
    err = open(errpath, "rb").read()[-4000:].decode("utf-8", "replace")
    os.remove(errpath)
    code = os.waitstatus_to_exitcode(status)
    return case, code, timed_out, time.monotonic() - start, rusage.ru_maxrss * 1024, err


failures = []
results = []
with ThreadPoolExecutor(args.jobs) as pool:
    for case, code, timed_out, seconds, rss, err in pool.map(run_measured, cases):
        why = []
        if timed_out:
            why.append(f"timeout after {args.timeout:g} s")
        elif code < 0:
            why.append(f"signal {-code}")
        elif code not in (0, 1, 2):
            why.append(f"exit {code}")
        elif code == 0 and case["expect"] == "error":
            why.append("exit 0 on garbage")
        if rss > args.memory_limit_gb * 1e9:
            why.append(f"peak memory {rss / 1e9:.2f} GB")
        last = err.strip().splitlines()[-1][:300] if err.strip() else ""
        results.append({**case, "exit": code, "seconds": round(seconds, 3), "peak_bytes": rss, "failure": "; ".join(why), "stderr": last})
        if why:
            failures.append(case["name"])
            print(f"FAIL {case['class']:16} {case['name'][:60]:60} {'; '.join(why)} | {last[:200]}", flush=True)
json.dump(results, open(os.path.join(args.cases, "results.json"), "w"), indent=0)
from collections import Counter

codes = Counter(r["exit"] for r in results)
worst_rss = max((r["peak_bytes"] for r in results), default=0)
slowest = max(results, key=lambda r: r["seconds"], default=None)
print(f"{len(results)} cases: {len(failures)} failed; exit codes {dict(sorted(codes.items()))}; "
      f"peak memory {worst_rss / 1e6:.0f} MB; slowest {slowest['seconds'] if slowest else 0:.1f} s ({slowest['name'] if slowest else '-'})")
sys.exit(1 if failures else 0)
