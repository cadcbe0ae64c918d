#!/bin/bash
# Screen 19 (issue 29): the mate in one in self-play (`ppo.mate_in_one=true`) at `make run`'s
# set-up (two ranks, 600 s, the arms one after another in the order mate s0, default s0,
# default s1, mate s1), now that it steps only the moves that may give check (`shogi.may_check`,
# ~8% of them). Screen 3 measured it at 2.2x the cost per sample when every legal move was
# stepped (-338); a 150 s probe with the filter (one rank each, both at once, 2026-12-06) made
# 25 iterations against the default's 33 (1.3x), and its early games ended in mate at a mean 128
# plies where the default's reached the 256-ply cap.
# Then each network as the default player (`RUN`, the material veto) beside compare_algos.py's
# network alone (`RUN@material=0`). Continues where it stopped (finished arms and ladders are
# reused).
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${OUT:-runs/screen19}
.venv/bin/python experiments/compare_algos.py --budget 600 --sims 0 --sequential --out "$out" \
    --arm "mate_s0=seed=0 ppo.mate_in_one=true" --arm "default_s0=seed=0" \
    --arm "default_s1=seed=1" --arm "mate_s1=seed=1 ppo.mate_in_one=true"
for arm in mate_s0 default_s0 default_s1 mate_s1; do
  dir="$out/$arm/ladder_material3"  # screen_table.py reads RUN/ladder_KIND/ladder.json
  [ -f "$dir/ladder.json" ] || PATH=$PATH:/usr/games .venv/bin/python -m keisei_fn.cli ladder \
      "$out/$arm" --parallel 2 --out "$dir" > "$dir.log" 2>&1
done
.venv/bin/python experiments/screen_table.py "$out" experiments/results/strength_screen19
