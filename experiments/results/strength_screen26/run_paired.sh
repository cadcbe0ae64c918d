#!/bin/bash
# Screen 26, paired: `optim.lr_schedule=linear` against a control trained in the same slot (two
# arms at once, one rank each, 1,200 s, then the argmax and 64-simulation ladders), because the
# machine's speed differs from one slot to the next (screen 25's control made 670 env steps/s
# in one slot and 1,040 in the next on the same 2-core AVX2 machine): run.sh's cross-slot control
# is confounded with that. The control `base_s$SEED` here is screen 25's arm again, so the two
# also say how much a slot alone moves the result. Continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../../.."
seed=${SEED:-1}
out=${OUT:-runs/screen26p_s$seed}
.venv/bin/python experiments/compare_algos.py --budget "${BUDGET:-1200}" --sims 64 --out "$out" \
    --arm "base_s$seed=seed=$seed" \
    --arm "lrlin_s$seed=seed=$seed optim.lr_schedule=linear" \
    | tee "$out.table.md"
mkdir -p experiments/results/strength_screen26
cp "$out/compare.json" "experiments/results/strength_screen26/paired_compare_s$seed.json"
cp "$out.table.md" "experiments/results/strength_screen26/paired_table_s$seed.md"
# the networks, for ladders on any machine later (`keisei-fn ladder FILE.pt`)
for arm in base lrlin; do
    .venv/bin/python experiments/keep_network.py "$out/${arm}_s$seed" \
        "experiments/results/strength_screen26/paired_${arm}_s$seed.pt"
done
