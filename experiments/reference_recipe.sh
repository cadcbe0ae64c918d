#!/bin/bash
# The reference agent's recipe (docs/training.md, "The reference recipe"): PPO at the defaults on
# every core (make run's ranks, bf16 where the CPU has it), 3,300 s of training (the 1-hour row),
# then continued to 6,600 s (the 2-hour row), each leg followed by `keisei-fn ladder`.
#
#     experiments/reference_recipe.sh SEED [OUT]      (OUT defaults to runs/reference_sSEED)
#
# EXTRA="key=value ..." adds overrides to the recipe, e.g. the 2-hour model size comparison:
# EXTRA="model.blocks=3 model.channels=48" experiments/reference_recipe.sh 1 runs/ref_3x48
#
# BUDGETS="6600" trains in one leg: a learning-rate schedule (optim.lr_schedule=linear) follows
# the leg's budget, so two legs would anneal to 0 at 3,300 s and then start again from half:
# BUDGETS=6600 EXTRA="optim.lr_schedule=linear" experiments/reference_recipe.sh 1 runs/ref_lrlin
#
# It continues where it stopped (compare_algos.py resumes a leg, skips a finished one). OUT/wall.txt
# gets each leg's wall clock (ladder included); then package the run with
# experiments/make_reference.py OUT/sSEED --ladder OUT/sSEED/ladders/sSEED/argmax_6600s \
#     --player-ladder DIR --recipe-out OUT --command ... --commit ...
set -euo pipefail
seed=${1:?usage: experiments/reference_recipe.sh SEED [OUT]}
out=${2:-runs/reference_s$seed}
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
mkdir -p "$out"
for budget in ${BUDGETS:-3300 6600}; do
  start=$(date +%s)
  "$py" experiments/compare_algos.py --sequential --sims 0 --budget "$budget" --out "$out" \
      --arm "s$seed=seed=$seed eval.every=0${EXTRA:+ $EXTRA}"
  echo "budget $budget: $(( $(date +%s) - start )) s wall" >> "$out/wall.txt"
done
