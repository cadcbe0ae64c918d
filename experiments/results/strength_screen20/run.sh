#!/bin/bash
# Screen 20 (issue 29): the value target mixed with a quiescence's material value
# (`ppo.value_search_mix=0.5 ppo.value_search_quiet=1`) at `make run`'s set-up (two ranks, 600 s),
# seeds 0 and 1, one after the other. Screens 14 and 17 mixed in the static 1-ply value (the
# mover's best capture as if it were free: -24, -55, -13, -124); with one ply of quiescence the
# opponent's best reply capture counts too. Its arms train at the defaults of the day they run:
# since eb9ed03 (2026-12-06) a mate in one in self-play and the dual-clipped loss, so the
# controls are screen 21's arms. Continues where it stopped.
set -euo pipefail
CONTROLS_FLAGS="avx512_bf16" CONTROLS_MACHINE="screen 21: 2-core AMD EPYC, avx512_bf16, bf16" \
    source "$(dirname "$0")/../../controls_machine.sh"
cd "$(dirname "$0")/../../.."
experiments/screen.sh "${OUT:-runs/screen20}" experiments/results/strength_screen20 \
    "vsmq_s0=seed=0 ppo.value_search_mix=0.5 ppo.value_search_quiet=1" \
    "vsmq_s1=seed=1 ppo.value_search_mix=0.5 ppo.value_search_quiet=1"
