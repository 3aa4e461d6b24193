#!/usr/bin/env bash
# Builds the libFuzzer harnesses (AddressSanitizer on) and runs each target RUNS times from its
# committed seed corpus; fails on the first crash, leak, time-out (20 s) or 2 GB of memory, and
# leaves the input that caused it in the printed folder.
#
#   Fuzz/run.sh [RUNS] [TARGET ...]      RUNS defaults to 1,000,000; targets to all six
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1000000}
shift || true
targets=${*:-onnx keras npy pb calibration polygraphy}
TOUCHSTONE_FUZZ=1 swift build -c release --build-path .build/fuzz --product touchstone-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld
work=$(mktemp -d)
for t in $targets; do
  mkdir -p "$work/$t"
  start=$(date +%s)
  if ! TOUCHSTONE_FUZZ_TARGET=$t .build/fuzz/release/touchstone-fuzz "$work/$t" "Fuzz/corpus/$t" -runs="$runs" -max_len=16384 \
      -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/$t-" >"$work/$t.log" 2>&1; then
    grep -E "ERROR|SUMMARY|in \\$" "$work/$t.log" | head -20 >&2
    echo "fuzz target $t failed; the input and log are in $work" >&2
    exit 1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
  echo "fuzz $t: $execs executions in $(( $(date +%s) - start )) s, no crash"
done
rm -rf "$work"
