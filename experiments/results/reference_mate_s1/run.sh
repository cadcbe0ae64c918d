#!/bin/bash
# The reference recipe at the defaults of 2026-12-06 (a mate in one in self-play, PPO's dual clip
# and the KL of sampled moves: commit eb9ed03 on), seed 1, the packaged agent's seed, on the
# 2-core AMD EPYC (bf16), then the default player's ladder (`RUN`: the material veto, quiet=2).
# Compare with the packaged `reference` (the defaults of 2026-12-04, seed 1, the same kind of
# machine). Continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../../.."
experiments/reference_recipe.sh 1 runs/ref_fix_s1
PATH=$PATH:/usr/games .venv/bin/keisei-fn ladder runs/ref_fix_s1/s1 --parallel 2 \
    --out runs/ref_fix_s1/s1/ladders/s1/player_6600s
