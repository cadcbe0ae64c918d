#!/bin/bash
# Screen 29 (issue 29): half the learning rate (`optim.lr=5e-4`, default 1e-3) against a control
# trained in the same slot (two arms at once, one rank each, 1,200 s, then each network's last
# three checkpoints on the argmax ladder, pooled). Why: after its first 50 iterations the
# default's KL early stop ends every iteration after one epoch (approx. KL 0.015 against the
# 0.01 target, clip fraction 0.17-0.19, the gradient norm 1.2 clipped to 0.5: screens 27 and 28's
# controls), and networks a minute apart differ by up to 178 Elo ("Snapshots"): steps that may
# be too large. At half the rate the KL stop lets a second epoch run where the first stays
# under the target (more updates on each rollout, fewer env steps). Continues where it stopped.
#     SEED=0 bash experiments/results/strength_screen29/run_paired.sh     (then SEED=1)
set -euo pipefail
seed=${SEED:-0}
cd "$(dirname "$0")/../../.."
exec experiments/screen_paired.sh "${OUT:-runs/screen29_s$seed}" \
    experiments/results/strength_screen29 "$seed" "lr5=optim.lr=5e-4"
