#!/bin/bash
# Screen 21 (issue 29): PPO's loss with the dual clip and the KL over sampled moves only (commit
# eb9ed03), at today's defaults (a mate in one in self-play), at `make run`'s set-up (two ranks,
# 600 s, the arms one after another). Its controls are screen 19's mate arms (the same commands
# before the fix, the same machine, 2026-12-06 morning): their mate-in-one moves, played with
# the policy's own tiny probability, drove the PPO ratio to 1e30 (screen 19 mate s1: 46 skipped
# non-finite updates, gradient norms to 7e16, KL inf in 123 of 427 iterations).
# Then each network as the default player (`RUN`: the material veto with quiet=2) beside
# compare_algos.py's network alone. Continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../../.."
experiments/screen.sh "${OUT:-runs/screen21}" experiments/results/strength_screen21 \
    "fixed_s0=seed=0" \
    "fixed_s1=seed=1"
