#!/bin/bash
# The reference recipe at the defaults of 2026-12-06 (a mate in one in self-play, PPO's dual clip
# and the KL of sampled moves: commit eb9ed03 on), seed 0, the second seed, on the
# 2-core AMD EPYC (bf16), then the default player's ladder (`RUN`: the material veto, quiet=2).
# Compare with the packaged `reference` (the defaults of 2026-12-04, seed 1, the same kind of
# machine) and with seed 1 (reference_mate_s1). Continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../../.."
experiments/reference_recipe.sh 0 runs/ref_fix_s0
PATH=$PATH:/usr/games .venv/bin/keisei-fn ladder runs/ref_fix_s0/s0 --parallel 2 \
    --out runs/ref_fix_s0/s0/ladders/s0/player_6600s
