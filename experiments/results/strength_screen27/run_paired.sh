#!/bin/bash
# Screen 27 (issue 29): the attack planes (`model.attack_planes=true`) once more, a third seed
# after screen 23's +335 (seed 0) and +5 (seed 1) at `make run`'s set-up, here against a control
# trained in the same slot (two arms at once, one rank each, 1,200 s, then the argmax ladders),
# on whatever machine this runs: the machine's speed moves between slots (screen 26). Since
# 2026-12-07 the rollout keeps the planes' counts, so this arm pays only the collection's share
# of their cost (screen 23's paid both). Continues where it stopped.
# It ran as experiments/screen_paired.sh with one snapshot and the default checkpoints (the
# pooled snapshots came later, from snapshot_ladders.py).
set -euo pipefail
seed=${SEED:-2}
cd "$(dirname "$0")/../../.."
SNAPSHOTS=${SNAPSHOTS:-1} EVERY=${EVERY:-20} exec experiments/screen_paired.sh \
    "${OUT:-runs/screen27_s$seed}" experiments/results/strength_screen27 "$seed" "att=model.attack_planes=true"
