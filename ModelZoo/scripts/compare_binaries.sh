#!/bin/bash
# Runs two touchstone binaries (say, before and after a refactoring) on the same models, inputs and
# calibration under every precision policy that existed before the precision lab's new formats,
# and reports whether their outputs are byte for byte the same.
#
#   ModelZoo/scripts/compare_binaries.sh OLD NEW MODEL.onnx…
#
# Exit code 1 when any output differs or a run fails.
set -uo pipefail
old=$1 new=$2; shift 2
work=$(mktemp -d /tmp/compare-binaries.XXXXXX)
status=0
for model in "$@"; do
  name=$(basename "$model" .onnx)
  # ONNX's node tests are all model.onnx: name them by their folder.
  [ "$name" = model ] && name=$(basename "$(dirname "$model")")
  "$old" run "$model" --save-inputs "$work/$name.npz" --out "$work/$name-inputs" >/dev/null 2>&1
  mkdir -p "$work/$name-data" && cp "$work/$name.npz" "$work/$name-data/s0.npz"
  "$old" calibrate "$model" --data "$work/$name-data" --method minmax --cache "$work/$name.cache.json" >/dev/null 2>&1
  for config in "fp32" "fp64" "fp16" "fp16 --accumulation fp16" "bf16" "tf32" "int8 --calibration $work/$name.cache.json"; do
    tag=$(echo "$config" | tr ' /' '__')
    for which in old new; do
      binary=$old; [ $which = new ] && binary=$new
      # shellcheck disable=SC2086
      if ! "$binary" run "$model" --load-inputs "$work/$name.npz" --precision $config --out "$work/$name-$tag-$which" >/dev/null 2>"$work/err"; then
        echo "FAILED $which $name $config: $(tail -1 "$work/err")"; status=1
      fi
    done
    if [ -n "$(ls -A "$work/$name-$tag-old" 2>/dev/null)" ] && diff -rq "$work/$name-$tag-old" "$work/$name-$tag-new" >/dev/null; then
      echo "same    $name $config"
    else
      echo "DIFFERS $name $config"; status=1
    fi
  done
done
rm -rf "$work"
exit $status
