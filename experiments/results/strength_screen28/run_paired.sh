#!/bin/bash
# Screen 28 (issue 29): the auxiliary reply head (`model.reply_head=true`, `ppo.reply_coef=0.15`:
# 2187 more logits from the trunk, trained to predict the opponent's next move, KataGo's
# opponent-policy target) against a control trained in the same slot (two arms at once, one
# rank each, 1,200 s, then the argmax ladders). Why: what the network alone loses to the default
# player's material veto (+200 to +300) is pieces left where the opponent takes them next; the
# reply's target makes the trunk represent the opponent's next move. Continues where it stopped.
#     SEED=0 bash experiments/results/strength_screen28/run_paired.sh     (then SEED=1)
# It ran as experiments/screen_paired.sh with one snapshot and the default checkpoints (the
# pooled snapshots came later, from snapshot_ladders.py).
set -euo pipefail
seed=${SEED:-0}
cd "$(dirname "$0")/../../.."
SNAPSHOTS=${SNAPSHOTS:-1} EVERY=${EVERY:-20} exec experiments/screen_paired.sh \
    "${OUT:-runs/screen28_s$seed}" experiments/results/strength_screen28 "$seed" "reply=model.reply_head=true"
