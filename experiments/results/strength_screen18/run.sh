#!/bin/bash
# Screen 18 (issue 29): playout cap randomization for Gumbel AlphaZero at 10 minutes. The
# defaults (4 simulations every move) against KataGo's scheme: a full search of 16 simulations
# for a quarter of the moves (the only positions stored), one simulation (a sample of the
# policy) otherwise: 0.25 x 16 + 0.75 x 1 = 4.75 simulations a move, about the defaults' cost.
# A seed's two arms train at once, one core each (compare_algos.py's default: equal wall clock and
# equal machine); SEEDS="0 1" by default, one after the other.
# Continues where it stopped (compare_algos.py resumes or skips a finished arm).
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${OUT:-runs/screen18}
for seed in ${SEEDS:-0 1}; do
  .venv/bin/python experiments/compare_algos.py --budget 600 --sims 0 --out "$out" \
      --arm "az_s$seed=seed=$seed eval.every=0 algo=gumbel_az" \
      --arm "pcr_s$seed=seed=$seed eval.every=0 algo=gumbel_az gumbel_az.full_search_prob=0.25 gumbel_az.simulations=16"
done
.venv/bin/python experiments/screen_table.py "$out" experiments/results/strength_screen18
