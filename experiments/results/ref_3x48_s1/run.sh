#!/bin/bash
# Issue 29's model size at the recipe's length: the reference recipe's seed 1 with a 3x48 tower
# (2026-12-05, from commit 4b900db, the 2-core AMD EPYC, bf16), then the default player's ladder.
# Compare with the packaged `reference` (the defaults' seed 1, 2x32). Continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../../.."
EXTRA="model.blocks=3 model.channels=48" experiments/reference_recipe.sh 1 runs/ref_3x48
.venv/bin/keisei-fn ladder "runs/ref_3x48/s1@material=3" --parallel 2 \
    --out runs/ref_3x48/s1/ladders/s1/material3_6600s
