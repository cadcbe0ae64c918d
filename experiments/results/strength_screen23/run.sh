#!/bin/bash
# Screen 23 (issue 29): the attack planes (`model.attack_planes=true`: the input's planes 44-45
# count each square's attackers by side) at `make run`'s set-up (two ranks, 600 s), seeds 0 and
# 1, one after the other, at the defaults of eb9ed03 on. A 2x32 tower sees five squares each way;
# the default player's material veto adds +200 to +300 to every network by catching what it
# cannot see (a piece attacked more often than defended, a bishop across the board). Controls:
# screen 21's arms (the same defaults without the planes). Continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../../.."
experiments/screen.sh "${OUT:-runs/screen23}" experiments/results/strength_screen23 \
    "att_s0=seed=0 model.attack_planes=true" \
    "att_s1=seed=1 model.attack_planes=true"
