#!/usr/bin/env bash
# A real Slurm: starts a one-node cluster of its own in a temporary directory (munged with a key
# it generates, slurmctld and slurmd as root on 127.0.0.1 with their own ports, no cgroups, no
# systemd; nothing system-wide is read or changed), then runs examples/slurm/ unchanged:
#   1. submit.sh: a 4-task array (--shard auto) and the merge job that depends on it; the merged
#      summary.json equals a single-process run's byte for byte;
#   2. faults: one running array task cancelled (scancel JOB_1) while its shard is half done; a
#      merge then is refused (exit 7) naming shard 1/4; the task requeued (scontrol requeue)
#      resumes from its journal (its record counts reused jobs); the merge is then byte-identical.
# Every daemon it started is stopped on exit, also on failure (trap). Exit 77 (skipped) when
# Slurm or munge is not installed (scripts/setup.sh --with-slurm).
# Every wait is bounded by wall time and by one budget (LATENTEDIT_SLURM_BUDGET seconds, default
# 780, under CTest's 900), and every Slurm client call by `timeout`: a client whose controller does
# not answer retries for about 10 s per call, so loops bounded by a count of calls could outlast
# CTest and end with no word of why. A failure prints where it was, the daemons' logs and the queue.
# Usage: tests/cluster/slurm.sh LATENTEDIT_BINARY MODEL_DIR SOURCE_DIR
set -euo pipefail
bin=$(realpath "$1") model=$(realpath "$2") src=$(realpath "$3")
for t in munged slurmctld slurmd sbatch squeue scontrol scancel sinfo; do
  if ! command -v "$t" >/dev/null && [[ ! -x /usr/sbin/$t ]]; then
    echo "SKIP: $t is not installed (scripts/setup.sh --with-slurm installs slurm-wlm and munge)"; exit 77
  fi
done
PATH=$PATH:/usr/sbin
deadline=$((SECONDS + ${LATENTEDIT_SLURM_BUDGET:-780}))
say() { echo "[$(date -u +%H:%M:%S) ${SECONDS} s] $*"; }
# The Slurm clients, each bounded (a controller that does not answer costs ~10 s per call).
for t in sinfo squeue scontrol scancel sbatch; do eval "$t() { timeout 30 $(command -v $t) \"\$@\"; }"; done
# left N: N, or the seconds left of the budget when fewer (at least 1: `timeout 0` would never end).
left() { local l=$((deadline - SECONDS)); l=$((l < $1 ? l : $1)); echo $((l < 1 ? 1 : l)); }
D=$(mktemp -d /tmp/latentedit-slurm.XXXXXX)
chmod 711 "$D"  # munged wants its socket's directory searchable by all
export SLURM_CONF=$D/slurm.conf
stop() {
  # Cancel what is left, then stop the daemons this test started (by their pid files), newest first.
  if alive slurmctld; then
    timeout 10 scancel --quiet --full "--user=$(id -un)" 2>/dev/null || true
  fi
  stop_daemons slurmd slurmctld munged
}
# alive NAME: the daemon this test started is running (its pid file names a live process).
alive() { [[ -s $D/$1.pid ]] && kill -0 "$(cat "$D/$1.pid")" 2>/dev/null; }
# stop_daemons NAME...: each daemon this test started, by its pid file (TERM, then KILL after 5 s).
stop_daemons() {
  local p pid
  for p in "$@"; do
    if [[ -s $D/$p.pid ]]; then
      pid=$(cat "$D/$p.pid")
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$D/$p.pid"
    fi
  done
}
# show_logs NAME...: the last lines of each daemon's log.
show_logs() { local l; for l in "$@"; do echo "--- $l.log (last lines)"; tail -25 "$D/$l.log" 2>/dev/null || true; done; }
fail() {
  say "FAIL: $*"
  for p in munged slurmctld slurmd; do
    if alive "$p"; then echo "$p: running"; else echo "$p: NOT running"; fi
  done
  echo "squeue: $(timeout 15 squeue -h -o '%i %j %T %r' 2>&1 | tr '\n' ';')"
  echo "sinfo: $(timeout 15 sinfo -h -o '%P %a %D %T %E %N' 2>&1 | tr '\n' ';')"
  show_logs munged slurmctld slurmd
  for l in "$D"/logs/*.log; do [[ -f $l ]] && { echo "--- $l"; tail -5 "$l"; }; done
  exit 1
}
trap 'stop; rm -rf "$D"' EXIT

# munge, with its own key, socket and files.
head -c 1024 /dev/urandom >"$D/munge.key"
chmod 400 "$D/munge.key"
munged --socket="$D/munge.sock" --key-file="$D/munge.key" --pid-file="$D/munged.pid" \
  --log-file="$D/munged.log" --seed-file="$D/munge.seed" || fail "munged did not start"

# Free ports on 127.0.0.1, below the kernel's range for outgoing connections (whose ports another
# test's client may hold at any moment).
eph_lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
  local p
  while :; do
    p=$((10000 + RANDOM % (eph_lo - 10000)))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }
  done
}
host=$(hostname -s)
# The node as slurmd sees it (a configured node larger than the machine would be drained).
node_cpus=$(slurmd -C 2>/dev/null | grep -o 'CPUs=[0-9]*' | head -1 | cut -d= -f2 || true)
node_cpus=${node_cpus:-$(nproc)}
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)  # the examples ask for --mem
mkdir -p "$D/state" "$D/spool" "$D/logs"
# start_cluster: slurmctld and slurmd on fresh ports; 0 once the node is idle, 1 (logs kept) when
# the controller does not answer within 30 s or the node is not idle within 60 s.
start_cluster() {
  local ctld_port slurmd_port t0
  ctld_port=$(free_port) slurmd_port=$(free_port)
  while [[ $slurmd_port == "$ctld_port" ]]; do slurmd_port=$(free_port); done
  cat >"$SLURM_CONF" <<EOF
ClusterName=latentedit-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge.sock
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$node_cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  say "starting slurmctld on port $ctld_port, slurmd on $slurmd_port ($host, $node_cpus CPUs)"
  command slurmctld -f "$SLURM_CONF" || { say "slurmctld did not start"; return 1; }
  t0=$SECONDS
  until scontrol ping 2>/dev/null | grep -q 'is UP'; do
    if ((SECONDS - t0 > 2)) && ! alive slurmctld; then say "slurmctld exited"; return 1; fi
    ((SECONDS - t0 < 30)) || { say "slurmctld does not answer after 30 s"; return 1; }
    sleep 0.2
  done
  command slurmd -f "$SLURM_CONF" || { say "slurmd did not start"; return 1; }
  t0=$SECONDS
  until sinfo -h -o '%T' 2>/dev/null | grep -qx idle; do
    if ((SECONDS - t0 > 2)) && ! alive slurmd; then say "slurmd exited"; return 1; fi
    ((SECONDS - t0 < 60)) || { say "the node is not idle after 60 s: $(sinfo -h -o '%T %E' 2>&1)"; return 1; }
    sleep 0.2
  done
}
for attempt in 1 2 3; do
  start_cluster && break
  show_logs slurmctld slurmd
  ((attempt < 3)) || fail "no working one-node cluster after 3 attempts"
  stop_daemons slurmd slurmctld
  rm -rf "${D:?}/state" "${D:?}/spool" && mkdir -p "$D/state" "$D/spool"
done
say "sinfo: $(sinfo -h -o '%P %a %D %T %N %c')"

# wait_done JOB SECONDS: until the job (every task of an array) has left the queue (a squeue that
# fails is not taken for an empty queue).
wait_done() {
  local t0=$SECONDS lim out=
  lim=$(left "$2")
  while :; do
    if out=$(squeue -h -j "$1" -o '%i %T %r' 2>&1); then [[ -z $out ]] && return 0; fi
    ((SECONDS - t0 < lim)) || fail "job $1 did not finish within $lim s: ${out//$'\n'/; }"
    sleep 0.5
  done
}
state() { scontrol show job "$1" -o 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }

# A job file of 16 jobs, each its own batch (distinct step sizes): 4 per shard, each long enough
# that a shard can be cancelled half way.
jobs=$D/jobs.json
{
  printf '{"defaults": {"steps": 40, "count": 8, "method": "gradient", "eot": 0}, "model": "%s", "jobs": [' "$model"
  for i in $(seq 0 15); do
    ((i)) && printf ','
    printf '{"id": "j%02d", "seed": %d, "add": ["Smiling"], "step_size": %s}' "$i" "$i" "0.0$((10 + i))"
  done
  printf ']}\n'
} >"$jobs"
export LATENTEDIT=$bin OMP_NUM_THREADS=1
timeout "$(left 300)" "$bin" batch "$jobs" --out "$D/single" -q --threads 1 >/dev/null || fail "the single-process run failed"
say "single-process run done"

# 1. The examples as they are: the array and the dependent merge.
cd "$D/logs"
read -r _ array _ merge < <(timeout 60 "$src/examples/slurm/submit.sh" "$jobs" "$D/sharded" 4) || true
[[ -n ${merge:-} ]] || fail "submit.sh did not print the two job ids"
say "submitted array $array, merge $merge (afterok)"
sleep 1
echo "squeue: $(squeue -h -o '%i %j %T %r' | tr '\n' ';')"
wait_done "$array" 300
wait_done "$merge" 120
[[ $(state "$merge") == COMPLETED ]] || fail "the merge job ended $(state "$merge")"
cmp "$D/single/summary.json" "$D/sharded/summary.json" || fail "the merged summary differs from the single run's"
for i in 0 1 2 3; do
  grep -q '"engine": "slurm"' "$D/sharded/.shards/$i-of-4.json" || fail "shard $i's record does not name Slurm"
done
say "ok: 4-task array + afterok merge, summary byte-identical to the single run"

# 2. Faults: shard 1 cancelled half way, a merge too early, the task requeued.
read -r _ array2 _ merge2 < <(timeout 60 "$src/examples/slurm/submit.sh" "$jobs" "$D/fault" 4) || true
[[ -n ${merge2:-} ]] || fail "submit.sh did not print the two job ids"
t0=$SECONDS lim=$(left 300)
while :; do  # shard 1 running with at least one of its jobs journaled (j01, j05, j09, j13)
  n=$(ls "$D/fault/.journal" 2>/dev/null | grep -cE '^j(01|05|09|13)\.json$' || true)
  [[ $(state "${array2}_1") == RUNNING && $n -ge 1 ]] && break
  [[ $(state "${array2}_1") == COMPLETED ]] && fail "shard 1 finished before it could be cancelled; make its jobs longer"
  [[ $(state "${array2}_1") == FAILED ]] && fail "shard 1 failed before it could be cancelled (its log below)"
  ((SECONDS - t0 < lim)) || fail "shard 1 did not start a job within $lim s"
  sleep 0.05
done
scancel "${array2}_1"
t0=$SECONDS
until [[ $(state "${array2}_1") == CANCELLED ]] || ((SECONDS - t0 >= 10)); do sleep 0.1; done
[[ $(state "${array2}_1") == CANCELLED ]] || fail "scancel left shard 1 $(state "${array2}_1")"
say "cancelled ${array2}_1 with $n of its jobs journaled"
wait_done "$array2" 300  # the other three finish
set +e
"$bin" batch merge "$D/fault" >/dev/null 2>"$D/merge_err"
rc=$?
set -e
[[ $rc == 7 ]] || fail "a merge with shard 1 unfinished exited $rc, not 7: $(cat "$D/merge_err")"
grep -q "shards 1/4 running or killed" "$D/merge_err" || fail "the refused merge does not name shard 1/4: $(cat "$D/merge_err")"
[[ ! -e $D/fault/summary.json ]] || fail "a refused merge left a summary.json"
say "ok: early merge refused: $(cat "$D/merge_err")"
scontrol requeue "${array2}_1" || fail "scontrol requeue ${array2}_1 failed"
# Slurm holds a requeued job back for about two minutes (its begin time); let it start now.
scontrol update JobId="${array2}_1" StartTime=now || fail "could not move the requeued task's start time"
say "requeued: $(squeue -h -j "${array2}_1" -o '%i %T %r')"
sleep 1
wait_done "$array2" 300
[[ $(state "${array2}_1") == COMPLETED ]] || fail "the requeued shard 1 ended $(state "${array2}_1")"
reused=$(grep -o '"reused": [0-9]*' "$D/fault/.shards/1-of-4.json" | grep -o '[0-9]*$')
((reused >= 1)) || fail "the requeued shard redid every job (reused $reused)"
say "ok: requeued shard 1 resumed ($reused finished jobs reused)"
# The merge submitted with afterok was left waiting on a dependency the cancel broke: Slurm
# keeps it pending (DependencyNeverSatisfied) or drops it. The user submits the merge again.
echo "first merge job: $(squeue -h -j "$merge2" -o '%T %r' 2>/dev/null || true)"
scancel "$merge2" 2>/dev/null || true
merge3=$(sbatch --parsable "$src/examples/slurm/latentedit-merge.sbatch" "$D/fault")
wait_done "$merge3" 120
[[ $(state "$merge3") == COMPLETED ]] || fail "the second merge job ended $(state "$merge3")"
cmp "$D/single/summary.json" "$D/fault/summary.json" || fail "after the requeue the merged summary differs from the single run's"
say "ok: merge after the requeue byte-identical"
say "PASS"
