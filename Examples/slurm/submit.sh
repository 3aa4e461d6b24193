#!/bin/bash
# Submits a sharded calibration and precision report to Slurm as array jobs chained by
# dependencies: calibrate pass 1 (array) → merge → pass 2 (array) → merge → report shards (array)
# → merge. Prints the id of the last job; the report is OUT/report/report.html.
#
#   Examples/slurm/submit.sh MODEL DATA OUT [SHARDS] [-- REPORT OPTIONS…]
#
# MODEL and DATA must be visible to every node at the same path (a shared file system), as must
# OUT. TOUCHSTONE names the binary (default: touchstone on the PATH); METHOD the calibration method
# (default entropy); SBATCH_OPTIONS extra sbatch options for every job (a partition, an account,
# time limits). Report options after `--` (e.g. --labels FILE --precisions fp16,int8,fp8).
set -euo pipefail
if [ $# -lt 3 ]; then sed -n 2,12p "$0" >&2; exit 2; fi
model=$(realpath "$1"); data=$(realpath "$2"); out=$(realpath -m "$3"); shift 3
shards=3
if [ $# -gt 0 ] && [ "$1" != "--" ]; then shards=$1; shift; fi
[ "${1:-}" = "--" ] && shift
report_options=$(printf ' %q' "$@")
ts=${TOUCHSTONE:-touchstone}
method=${METHOD:-entropy}
last=$((shards - 1))
mkdir -p "$out/logs"
submit() { sbatch --parsable ${SBATCH_OPTIONS:-} --output="$out/logs/%x-%a.log" "$@"; }

# Pass 1: each shard's largest magnitudes.
pass1=$(submit --job-name=ts-calibrate-1 --array=0-$last \
  --wrap "$ts calibrate $model --data $data --method $method --shard \$SLURM_ARRAY_TASK_ID/$shards --cache $out/pass1-\$SLURM_ARRAY_TASK_ID.json")
if [ "$method" = minmax ]; then
  # minmax needs no histograms: the merge of pass 1 is the cache.
  cache_job=$(submit --job-name=ts-merge-1 --dependency=afterok:$pass1 \
    --wrap "$ts calibrate merge $out/pass1-*.json --method $method --cache $out/cache.json")
else
  # The ranges of every tensor over all samples.
  merge1=$(submit --job-name=ts-merge-1 --dependency=afterok:$pass1 \
    --wrap "$ts calibrate merge $out/pass1-*.json --method $method --cache $out/ranges.json")
  # Pass 2: each shard's histograms up to the merged ranges; their merge is the cache.
  pass2=$(submit --job-name=ts-calibrate-2 --array=0-$last --dependency=afterok:$merge1 \
    --wrap "$ts calibrate $model --data $data --method $method --shard \$SLURM_ARRAY_TASK_ID/$shards --ranges $out/ranges.json --cache $out/pass2-\$SLURM_ARRAY_TASK_ID.json")
  cache_job=$(submit --job-name=ts-merge-2 --dependency=afterok:$pass2 \
    --wrap "$ts calibrate merge $out/pass2-*.json --method $method --cache $out/cache.json")
fi
# The report's shards, with the cache, then their merge.
parts=$(submit --job-name=ts-report --array=0-$last --dependency=afterok:$cache_job \
  --wrap "$ts report $model --data $data --calibration $out/cache.json --shard \$SLURM_ARRAY_TASK_ID/$shards --out $out/part-\$SLURM_ARRAY_TASK_ID$report_options")
final=$(submit --job-name=ts-report-merge --dependency=afterok:$parts \
  --wrap "$ts report merge $out/part-* --out $out/report")
echo "$final"
