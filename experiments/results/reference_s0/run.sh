#!/bin/bash
# The reference agent's recipe, seed 0: 55 min of training (the 1-hour row), then continued to 110 min (2 hours).
cd /work/wt_ref
export PYTHONPATH=/work/wt_ref
PY=/work/main/.venv/bin/python
for budget in 3300 6600; do
  start=$(date +%s)
  $PY experiments/compare_algos.py --sequential --sims 0 --budget $budget --out /work/exp/reference/out \
      --arm "s0=seed=0 eval.every=0" || exit 1
  echo "budget $budget: $(( $(date +%s) - start )) s wall" >> /work/exp/reference/wall.txt
done
