#!/bin/bash
# The reference recipe with the attack planes (`model.attack_planes=true`; screen 23: +335 and +5
# for the network alone at 10 minutes on seeds 0 and 1), at the defaults of 2026-12-06 otherwise,
# then the default player's ladder (`RUN`: the material veto, quiet=2); results copied here.
# Compare with reference_mate_s0 and reference_mate_s1 (the same recipe without the planes:
# +2644 and +2611 alone, +2974 and +2887 as played). Each seed takes ~2 h 15 min and must have
# the machine alone (a training run shares nothing well: its two ranks wait for each other).
#     experiments/results/reference_att/run.sh SEED        (0, then 1)
# Continues where it stopped (a stopped leg resumes; finished legs and ladders are skipped).
set -euo pipefail
CONTROLS_FLAGS="avx512_bf16" CONTROLS_MACHINE="reference_mate_s0/_s1: 2-core AMD EPYC, avx512_bf16, bf16" \
    source "$(dirname "$0")/../../controls_machine.sh"
seed=${1:?usage: experiments/results/reference_att/run.sh SEED}
cd "$(dirname "$0")/../../.."
out=runs/ref_att_s$seed
EXTRA="model.attack_planes=true" experiments/reference_recipe.sh "$seed" "$out"
player=$out/s$seed/ladders/s$seed/player_6600s
[ -f "$player/ladder.json" ] || PATH=$PATH:/usr/games .venv/bin/keisei-fn ladder "$out/s$seed" \
    --parallel 2 --out "$player"
keep=experiments/results/reference_att/s$seed
mkdir -p "$keep"
cp "$out/s$seed/config.yaml" "$out/wall.txt" "$out/compare.json" "$keep/"
for leg in 3300 6600; do
  cp "$out/s$seed/ladders/s$seed/argmax_${leg}s/ladder.json" "$keep/ladder_argmax_${leg}s.json"
done
cp "$player/ladder.json" "$keep/ladder_player_6600s.json"
