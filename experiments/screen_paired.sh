#!/bin/bash
# One paired strength screen (issue 29, docs/training.md "The screens"): the control `base` (the
# defaults) and each ARM trained in the same slot (all at once, one rank and one thread each,
# BUDGET seconds, default 1,200: the machine's speed moves between slots, screen 26), then each
# network's last SNAPSHOTS checkpoints (default 3) on the argmax ladder with their games pooled
# (compare_algos.py --snapshots: one network's Elo is not its run's, "Snapshots"). Checkpoints
# every EVERY iterations (default 8), so that the last three span about the last 5% of training.
# What a later session needs (networks, ladders, tables, the trainers' final evaluations) is
# copied to RESULTS. Continues where it stopped.
#
#     experiments/screen_paired.sh OUT RESULTS SEED ARM [ARM...]    ARM: "name=key=value ..."
#
# e.g. experiments/screen_paired.sh runs/screen29_s0 experiments/results/strength_screen29 0 \
#          "lr5=optim.lr=5e-4"
# trains base_s0 and lr5_s0 (seed=0 is added to every arm's overrides).
set -euo pipefail
usage="usage: experiments/screen_paired.sh OUT RESULTS SEED ARM [ARM...]"
out=${1:?$usage}
results=${2:?$usage}
seed=${3:?$usage}
shift 3
[ $# -gt 0 ] || { echo "experiments/screen_paired.sh: no ARM given ($usage)" >&2; exit 2; }
cd "$(dirname "$0")/.."
budget=${BUDGET:-1200}
common="seed=$seed checkpoint_every=${EVERY:-8}"
arms=(--arm "base_s$seed=$common") names=(base)
for arm in "$@"; do
  arms+=(--arm "${arm%%=*}_s$seed=$common ${arm#*=}")
  names+=("${arm%%=*}")
done
mkdir -p "$(dirname "$out")" "$results"
.venv/bin/python experiments/compare_algos.py --budget "$budget" --sims 0 \
    --snapshots "${SNAPSHOTS:-3}" --out "$out" "${arms[@]}" | tee "$out.table.md"
cp "$out/compare.json" "$results/compare_s$seed.json"
cp "$out.table.md" "$results/table_s$seed.md"
for name in "${names[@]}"; do
  arm=${name}_s$seed
  run=$out/$arm
  # the networks, for ladders on any machine later (`keisei-fn ladder FILE.pt`)
  .venv/bin/python experiments/keep_network.py "$run" "$results/$arm.pt"
  cp "$run/ladders/$arm/argmax_${budget}s/ladder.json" "$results/ladder_argmax_$arm.json"
  for ladder in "$run"/ladders/snapshots/ckpt_*/ladder.json; do
    [ -f "$ladder" ] || continue
    snapshot=$(basename "$(dirname "$ladder")")
    cp "$ladder" "$results/ladder_argmax_${arm}_$snapshot.json"
  done
  summary=$run/ladders/snapshots/summary.json
  [ ! -f "$summary" ] || cp "$summary" "$results/snapshots_$arm.json"
  grep -A5 "^final evaluation" "$run.log" > "$results/trainer_$arm.txt" || true
done
