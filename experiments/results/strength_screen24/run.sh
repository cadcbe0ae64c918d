#!/bin/bash
# Screen 24 (issue 29): the learning rate annealed linearly to 0 over the run's budget
# (`optim.lr_schedule=linear`) at `make run`'s set-up (two ranks, 600 s), seeds 0 and 1, one
# after the other, at the defaults of eb9ed03 on. Screen 7 measured +74 on one seed at 1,200 s
# with one rank, within the intervals, before the KL early stop; a 2-hour recipe would anneal over
# one 6,600 s leg (BUDGETS=6600 in experiments/reference_recipe.sh). Controls: screen 21's arms
# (the same defaults at a constant 1e-3). Continues where it stopped.
set -euo pipefail
CONTROLS_FLAGS="avx512_bf16" CONTROLS_MACHINE="screen 21: 2-core AMD EPYC, avx512_bf16, bf16" \
    source "$(dirname "$0")/../../controls_machine.sh"
cd "$(dirname "$0")/../../.."
experiments/screen.sh "${OUT:-runs/screen24}" experiments/results/strength_screen24 \
    "lrlin_s0=seed=0 optim.lr_schedule=linear" \
    "lrlin_s1=seed=1 optim.lr_schedule=linear"
