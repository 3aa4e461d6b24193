#!/bin/bash
# Starts a one-node Slurm cluster on this machine from Debian's packages (slurm-wlm, munge;
# installed when missing), runs Examples/slurm/submit.sh on the bundled digits CNN with 3 shards,
# and checks that the merged report equals the one process makes with the same options
# (report.json with its timing aside, layers.csv and report.html byte for byte). Needs root (it
# starts munged, slurmctld and slurmd) and a release build of touchstone (TOUCHSTONE, default
# .build/release/touchstone). Everything it starts is stopped on exit.
#
#   Examples/slurm/test-local-cluster.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ts=$(realpath "${TOUCHSTONE:-.build/release/touchstone}")
[ -x "$ts" ] || { echo "no touchstone binary at $ts (swift build -c release --product touchstone)" >&2; exit 1; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null
fi
work=$(mktemp -d /tmp/touchstone-slurm.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/munged.pid" ] && kill "$(cat "$work/munged.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

# munge: its own key and socket in the work folder.
mkdir -p "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
socket="$work/munge/munge.socket"
munged --force --key-file="$work/munge/munge.key" --socket="$socket" --pid-file="$work/munged.pid" \
  --log-file="$work/munged.log" --seed-file="$work/munge/seed"
host=$(hostname -s)
mem=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
mkdir -p "$work/state" "$work/spool"
cat > "$work/slurm.conf" <<CONF
ClusterName=touchstone
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobCompType=jobcomp/none
NodeName=$host CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" >"$work/slurmctld.out" 2>&1 & pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$work/slurmd.out" 2>&1 & pids+=($!)
for _ in $(seq 60); do
  sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && break
  sleep 1
done
sinfo -h -o %T | grep -qE '^(idle|mixed|allocated)' || { echo "the Slurm node did not come up" >&2; tail -20 "$work"/slurm*.log "$work"/*.out >&2; exit 1; }

model=ModelZoo/models/digits_cnn.onnx data=ModelZoo/data/digits_samples
options=(--labels ModelZoo/data/digits_labels.txt --precisions fp16,int8,fp8 --limit 90 --sensitivity-samples 8 --target "top1_drop<=0")
final=$(TOUCHSTONE=$ts Examples/slurm/submit.sh "$model" "$data" "$work/run" 3 -- "${options[@]}")
echo "submitted; the last job is $final"
for _ in $(seq 600); do
  [ -z "$(squeue -h 2>/dev/null)" ] && break
  sleep 1
done
[ -z "$(squeue -h)" ] || { echo "jobs still queued after 10 minutes" >&2; squeue >&2; exit 1; }
[ -f "$work/run/report/report.json" ] || { echo "the merged report is missing" >&2; tail -n 20 "$work"/run/logs/* >&2; exit 1; }

# The same report from one process, with the cache the cluster made.
"$ts" report "$model" --data "$data" --calibration "$work/run/cache.json" "${options[@]}" --out "$work/single" >/dev/null
python3 - "$work/single" "$work/run/report" <<'PY'
import json, sys
a, b = (json.load(open(f"{d}/report.json")) for d in sys.argv[1:3])
a.pop("seconds"); b.pop("seconds")
same = a == b and all(open(f"{sys.argv[1]}/{f}", "rb").read() == open(f"{sys.argv[2]}/{f}", "rb").read() for f in ("layers.csv", "report.html"))
print("the merged report equals one process's" if same else "the merged report DIFFERS from one process's")
sys.exit(0 if same else 1)
PY
echo "jobs: $(ls "$work/run/logs" | wc -l) job logs; Slurm test passed"
