#!/bin/bash
# Screen 28 (issue 29): the auxiliary reply head (`model.reply_head=true`, `ppo.reply_coef=0.15`:
# 2187 more logits from the trunk, trained to predict the opponent's next move, KataGo's
# opponent-policy target) against a control trained in the same slot (two arms at once, one
# rank each, 1,200 s, then the argmax ladders). Why: what the network alone loses to the default
# player's material veto (+200 to +300) is pieces left where the opponent takes them next; the
# reply's target makes the trunk represent the opponent's next move. Continues where it stopped.
#     SEED=0 bash experiments/results/strength_screen28/run_paired.sh     (then SEED=1)
set -euo pipefail
cd "$(dirname "$0")/../../.."
seed=${SEED:-0}
budget=${BUDGET:-1200}
out=${OUT:-runs/screen28_s$seed}
keep=experiments/results/strength_screen28
.venv/bin/python experiments/compare_algos.py --budget "$budget" --sims 0 --out "$out" \
    --arm "base_s$seed=seed=$seed" \
    --arm "reply_s$seed=seed=$seed model.reply_head=true" \
    | tee "$out.table.md"
cp "$out/compare.json" "$keep/compare_s$seed.json"
cp "$out.table.md" "$keep/table_s$seed.md"
for arm in base reply; do
    .venv/bin/python experiments/keep_network.py "$out/${arm}_s$seed" "$keep/${arm}_s$seed.pt"
    cp "$out/${arm}_s$seed/ladders/${arm}_s$seed/argmax_${budget}s/ladder.json" \
        "$keep/ladder_argmax_${arm}_s$seed.json"
    grep -A5 "^final evaluation" "$out/${arm}_s$seed.log" > "$keep/trainer_${arm}_s$seed.txt" || true
done
