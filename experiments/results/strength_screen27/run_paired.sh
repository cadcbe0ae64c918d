#!/bin/bash
# Screen 27 (issue 29): the attack planes (`model.attack_planes=true`) once more, a third seed
# after screen 23's +335 (seed 0) and +5 (seed 1) at `make run`'s set-up, here against a control
# trained in the same slot (two arms at once, one rank each, 1,200 s, then the argmax ladders),
# on whatever machine this runs: the machine's speed moves between slots (screen 26). Since
# 2026-12-07 the rollout keeps the planes' counts, so this arm pays only the collection's share
# of their cost (screen 23's paid both). Continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../../.."
seed=${SEED:-2}
out=${OUT:-runs/screen27_s$seed}
keep=experiments/results/strength_screen27
.venv/bin/python experiments/compare_algos.py --budget "${BUDGET:-1200}" --sims 0 --out "$out" \
    --arm "base_s$seed=seed=$seed" \
    --arm "att_s$seed=seed=$seed model.attack_planes=true" \
    | tee "$out.table.md"
cp "$out/compare.json" "$keep/compare_s$seed.json"
cp "$out.table.md" "$keep/table_s$seed.md"
for arm in base att; do
    .venv/bin/python experiments/keep_network.py "$out/${arm}_s$seed" "$keep/${arm}_s$seed.pt"
    cp "$out/${arm}_s$seed/ladders/${arm}_s$seed/argmax_${BUDGET:-1200}s/ladder.json" \
        "$keep/ladder_argmax_${arm}_s$seed.json"
    grep -A5 "^final evaluation" "$out/${arm}_s$seed.log" > "$keep/trainer_${arm}_s$seed.txt" || true
done
