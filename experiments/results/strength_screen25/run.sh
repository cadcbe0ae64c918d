#!/bin/bash
# Screen 25 (issue 29): a stronger material prior in the value (`ppo.material_shaping=0.05`,
# default 0.02 per pawn). PPO's potential-based shaping makes the value head learn V - Phi and
# every reader (search, insight) adds Phi = coef x material back (agent/network.py,
# with_value_prior), so the coefficient is also how much of a material count the search reads.
# In the +3293 row's games a material count ranked positions better than the network's value at
# every distance from the end (docs/training.md, "Search at state N"); the coefficient was last
# chosen on 2026-11-22 by win rate against random (docs/results.md). Both arms at once, one rank
# each (compare_algos.py's default protocol: equal shares of the machine, whatever else runs),
# 1,200 s, seed 0; then each network on the ladder alone (argmax) and with 64 simulations of its
# own search (the value's effect). Runs on any machine: the control arm is in the screen.
# Continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${OUT:-runs/screen25}
seed=${SEED:-0}
.venv/bin/python experiments/compare_algos.py --budget "${BUDGET:-1200}" --sims 64 --out "$out" \
    --arm "base_s$seed=seed=$seed" \
    --arm "shape05_s$seed=seed=$seed ppo.material_shaping=0.05" \
    | tee "$out.s$seed.table.md"  # one per seed: both seeds may share OUT
mkdir -p experiments/results/strength_screen25
cp "$out/compare.json" "experiments/results/strength_screen25/compare_s$seed.json"
cp "$out.s$seed.table.md" "experiments/results/strength_screen25/table_s$seed.md"
# the networks, for ladders on any machine later (`keisei-fn ladder FILE.pt`)
.venv/bin/python experiments/keep_network.py "$out/base_s$seed" "experiments/results/strength_screen25/base_s$seed.pt"
.venv/bin/python experiments/keep_network.py "$out/shape05_s$seed" "experiments/results/strength_screen25/shape05_s$seed.pt"
