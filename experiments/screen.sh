#!/bin/bash
# One strength screen (issue 29, docs/training.md "The screens"): training arms at `make run`'s
# set-up (two ranks, BUDGET seconds, default 600), one after the other so that each has the
# machine alone; compare_algos.py ladders each network alone (`RUN@material=0`); then each one
# as the default player (`RUN`: the material veto, quiet=2) and the table in RESULTS.
#
#     experiments/screen.sh OUT RESULTS ARM [ARM...]    ARM: "name=key=value key=value ..."
#
# e.g. experiments/screen.sh runs/screen22 experiments/results/strength_screen22 \
#          "tq2_s0=seed=0 ppo.tactics_coef=1 ppo.tactics_quiet=2"
# Continues where it stopped: finished arms and ladders are skipped, a stopped arm resumes.
set -euo pipefail
out=${1:?usage: experiments/screen.sh OUT RESULTS ARM [ARM...]}
results=${2:?usage: experiments/screen.sh OUT RESULTS ARM [ARM...]}
shift 2
[ $# -gt 0 ] || { echo "experiments/screen.sh: no ARM given" >&2; exit 2; }
cd "$(dirname "$0")/.."
arms=() names=()
for arm in "$@"; do
  arms+=(--arm "$arm")
  names+=("${arm%%=*}")
done
.venv/bin/python experiments/compare_algos.py --budget "${BUDGET:-600}" --sims 0 --sequential \
    --out "$out" "${arms[@]}"
for name in "${names[@]}"; do
  dir="$out/$name/ladder_material3"  # screen_table.py reads RUN/ladder_KIND/ladder.json
  [ -f "$dir/ladder.json" ] || PATH=$PATH:/usr/games .venv/bin/python -m keisei_fn.cli ladder \
      "$out/$name" --parallel 2 --out "$dir" > "$dir.log" 2>&1
done
.venv/bin/python experiments/screen_table.py "$out" "$results"
