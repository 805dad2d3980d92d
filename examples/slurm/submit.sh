#!/bin/bash
# Submits a latentedit batch as a Slurm array of N shards plus the merge that runs when every
# shard ended well; prints the two job ids. Extra arguments go to both sbatch calls
# (e.g. --partition=cpu --chdir=/shared/logs).
#   examples/slurm/submit.sh JOBS.json /shared/edits 16 [SBATCH OPTIONS...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
jobs=${1:?usage: submit.sh JOBS.json OUT N [sbatch options]} out=${2:?OUT} n=${3:?N (shards)}
shift 3
array=$(sbatch --parsable --array=0-$((n - 1)) "$@" "$here/latentedit-array.sbatch" "$jobs" "$out")
merge=$(sbatch --parsable --dependency=afterok:"${array%%;*}" "$@" "$here/latentedit-merge.sbatch" "$out")
echo "array ${array%%;*} merge ${merge%%;*}"
