#!/bin/bash
# Screen 22 (issue 29): the search-labelled policy loss with the veto's quiescence
# (`ppo.tactics_coef=1 ppo.tactics_quiet=2`) at `make run`'s set-up (two ranks, 600 s), seeds 0
# and 1, one after the other, at the defaults of eb9ed03 on (a mate in one in self-play, the
# dual-clipped loss). Screens 9 and 10 measured the static labels (a move onto a defended square
# read as losing its piece): no gain. The quiescence removed that bias at play time (+48 to +156
# on six networks). Controls: screen 21's arms (the same defaults without the loss).
# Then each network as the default player and alone. Continues where it stopped.
set -euo pipefail
CONTROLS_FLAGS="avx512_bf16" CONTROLS_MACHINE="screen 21: 2-core AMD EPYC, avx512_bf16, bf16" \
    source "$(dirname "$0")/../../controls_machine.sh"
cd "$(dirname "$0")/../../.."
experiments/screen.sh "${OUT:-runs/screen22}" experiments/results/strength_screen22 \
    "tq2_s0=seed=0 ppo.tactics_coef=1 ppo.tactics_quiet=2" \
    "tq2_s1=seed=1 ppo.tactics_coef=1 ppo.tactics_quiet=2"
