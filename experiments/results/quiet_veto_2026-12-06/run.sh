#!/bin/bash
# The material veto with a capture quiescence (`PATH@quiet=Q`, search/minimax.py) against the
# default player's static last ply (`PATH`, material=3), argmax players, `keisei-fn ladder` at its
# defaults (ladder seed 0): the packaged reference, the 2026-12-06 `make run` network and, when
# screen 19 has run, its four 10-minute networks. Waits for screen 19 (it needs both cores), then
# continues where it stopped (finished ladders are kept). The results are copied here.
set -euo pipefail
cd "$(dirname "$0")/../../.."
here=experiments/results/quiet_veto_2026-12-06
out=${OUT:-runs/quiet_veto}
mkdir -p "$out"
while [ ! -f experiments/results/strength_screen19/table.md ] && [ -z "${NO_WAIT:-}" ]; do
  sleep 60
done
ladder() {  # NAME SPEC
  local dir="$out/$1"
  if [ ! -f "$dir/ladder.json" ]; then
    PATH=$PATH:/usr/games .venv/bin/python -m keisei_fn.cli ladder "$2" --parallel 2 \
        --out "$dir" > "$dir.log" 2>&1
  fi
  python3 -c "import json,sys; d=json.load(open(sys.argv[1]));
d.pop('games', None); json.dump(d, open(sys.argv[2], 'w'), indent=1)" \
      "$dir/ladder.json" "$here/$1.json"
}
mr=${MAKE_RUN:-runs/20261206-003537}
ladder reference reference
ladder reference_quiet2 reference@quiet=2
ladder reference_quiet1 reference@quiet=1
[ -d "$mr" ] && ladder makerun "$mr" && ladder makerun_quiet2 "$mr@quiet=2"
for arm in mate_s0 default_s0 default_s1 mate_s1; do
  [ -d "runs/screen19/$arm" ] && ladder "screen19_${arm}_quiet2" "runs/screen19/$arm@quiet=2"
done
ladder reference_quiet4 reference@quiet=4
echo done
