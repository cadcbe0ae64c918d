#!/bin/bash
# The reference recipe's seed 0 with ppo.value_search_mix=0.5 (2026-12-05, from commit c7c44ec,
# the 2-core AMD EPYC, bf16), then the default player's ladder. Continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../../.."
EXTRA="ppo.value_search_mix=0.5" experiments/reference_recipe.sh 0 runs/ref_vsm05_s0
.venv/bin/keisei-fn ladder "runs/ref_vsm05_s0/s0@material=3" --parallel 2 \
    --out runs/ref_vsm05_s0/s0/ladders/s0/material3_6600s
