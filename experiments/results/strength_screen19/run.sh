#!/bin/bash
# Screen 19 (issue 29): the mate in one in self-play (`ppo.mate_in_one=true`) at `make run`'s
# set-up (two ranks, 600 s, the arms one after another in the order mate s0, default s0,
# default s1, mate s1), now that it steps only the moves that may give check (`shogi.may_check`,
# ~8% of them). Screen 3 measured it at 2.2x the cost per sample when every legal move was
# stepped (-338); a 150 s probe with the filter (one rank each, both at once, 2026-12-06) made
# 25 iterations against the default's 33 (1.3x), and its early games ended in mate at a mean 128
# plies where the default's reached the 256-ply cap.
# Then each network as the default player (`RUN`, the material veto) beside compare_algos.py's
# network alone (`RUN@material=0`). Continues where it stopped (finished arms and ladders are
# reused).
set -euo pipefail
cd "$(dirname "$0")/../../.."
experiments/screen.sh "${OUT:-runs/screen19}" experiments/results/strength_screen19 \
    "mate_s0=seed=0 ppo.mate_in_one=true" \
    "default_s0=seed=0" \
    "default_s1=seed=1" \
    "mate_s1=seed=1 ppo.mate_in_one=true"
