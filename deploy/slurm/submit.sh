#!/usr/bin/env bash
# Submits a Spark Eval plan as N shards on Slurm: an array job (one task per shard, deploy/slurm/shard.sbatch) and a
# merge job that runs once every shard succeeded (deploy/slurm/merge.sbatch). See docs/nightly.md.
#
#   deploy/slurm/submit.sh N OUT [spark-eval run flags…]
#   e.g. deploy/slurm/submit.sh 4 /shared/nightly/$(date +%F) --config nightly.yaml
#
# OUT must be on a file system every node sees: shard i writes OUT/shard-i, the merge writes OUT/merged, logs go to OUT/logs.
# SPARK_EVAL is the command to run (default: spark-eval on PATH; e.g. "dotnet /opt/spark-eval/spark-eval.dll").
# sbatch's own settings come from its environment (SBATCH_PARTITION, SBATCH_TIMELIMIT, SBATCH_ACCOUNT, …).
# Prints the two job ids, "SHARDS_JOB MERGE_JOB", on stdout.
set -euo pipefail
usage="usage: $0 N OUT [spark-eval run flags…] (N shards, N ≥ 1; OUT on a shared file system)"
n=${1:?$usage}
out=${2:?$usage}
shift 2
if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then
  echo "$0: N '$n' is not a positive whole number. Fix: $usage" >&2
  exit 2
fi

for flag in "$@"; do
  case "$flag" in
    --shard|--shard=*|--out|--out=*|-o|--resume|--resume=*)
      echo "$0: $flag is set per shard by this script. Fix: drop it (OUT is the second argument)" >&2
      exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)
export SPARK_EVAL_SHARDS="$n" SPARK_EVAL_OUT="$out"

# The array job: task i runs shard i/N. --parsable prints "jobid" or "jobid;cluster".
shards=$(sbatch --parsable --job-name=spark-eval-shard --array="0-$((n - 1))" --export=ALL \
  --output="$out/logs/shard-%a.out" "$here/shard.sbatch" "$@")
shards=${shards%%;*}
# The merge: after every array task succeeded (afterok on an array job waits for all of its tasks); a failed shard
# cancels it (--kill-on-invalid-dep): re-run that shard alone, then merge (docs/nightly.md).
merge=$(sbatch --parsable --job-name=spark-eval-merge --dependency="afterok:$shards" --kill-on-invalid-dep=yes --export=ALL \
  --output="$out/logs/merge.out" "$here/merge.sbatch")
merge=${merge%%;*}
echo "submitted: shards job $shards (array 0-$((n - 1))), merge job $merge after all succeed → $out/merged" >&2
echo "$shards $merge"
