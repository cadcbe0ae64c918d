#!/bin/bash
# Screen 26 (issue 29): screens 24 and 22 under screen 25's protocol, so that they run on any
# machine: two arms at once, one rank each (compare_algos.py's default: equal shares of the
# machine), 1,200 s, then the argmax and 64-simulation ladders. The arms:
# - `optim.lr_schedule=linear`: the learning rate annealed to 0 over the budget (screen 7: +74 on
#   one seed, within the intervals, before the KL early stop);
# - `ppo.tactics_coef=1 ppo.tactics_quiet=2`: the search-labelled policy loss with the veto's
#   quiescence (screens 9 and 10 measured the static labels: +66, -36).
# The control is screen 25's `base_s$SEED` arm (the defaults, the same protocol, on the same
# machine: run both screens on one machine). Continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${OUT:-runs/screen26}
seed=${SEED:-0}
.venv/bin/python experiments/compare_algos.py --budget "${BUDGET:-1200}" --sims 64 --out "$out" \
    --arm "lrlin_s$seed=seed=$seed optim.lr_schedule=linear" \
    --arm "tactq2_s$seed=seed=$seed ppo.tactics_coef=1 ppo.tactics_quiet=2" \
    | tee "$out.s$seed.table.md"  # one per seed: both seeds may share OUT
mkdir -p experiments/results/strength_screen26
cp "$out/compare.json" "experiments/results/strength_screen26/compare_s$seed.json"
cp "$out.s$seed.table.md" "experiments/results/strength_screen26/table_s$seed.md"
# the networks, for ladders on any machine later (`keisei-fn ladder FILE.pt`)
.venv/bin/python experiments/keep_network.py "$out/lrlin_s$seed" "experiments/results/strength_screen26/lrlin_s$seed.pt"
.venv/bin/python experiments/keep_network.py "$out/tactq2_s$seed" "experiments/results/strength_screen26/tactq2_s$seed.pt"
