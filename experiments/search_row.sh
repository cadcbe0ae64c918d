#!/bin/bash
# Issue 29's search row: the packaged agent's Gumbel search at N simulations (state N,
# experiments/state_n.py) on the ladder's top rungs, reading its network's value, and its control
# reading a material count (and any other `value=` given), each ladder on one thread, side by
# side. It continues where it stopped (`keisei-fn ladder --resume`: a finished rung is read back
# from OUT/LABEL/games.jsonl) and skips a finished ladder (OUT/LABEL/ladder.json).
#
#     experiments/search_row.sh OUT [N] [VALUE ...]     (N: 512; VALUEs: network material)
#
# AGENT=PATH (a checkpoint or run directory; default: the packaged `reference`) searches another
# network, e.g. AGENT=runs/vsm05_2h/s1 experiments/search_row.sh runs/vsm05_row 512.
#
# RUNGS=a,b plays only those rungs (default: the four below); a later run with the default
# RUNGS continues the same ladder once OUT/LABEL/ladder.json is moved away (--resume reads
# the finished rungs back from games.jsonl).
#
# e.g. experiments/search_row.sh runs/search_row 512 network material blend:0.5
# The rungs are the informative ones for a player above minimax; the lower rungs can be added
# later with `keisei-fn ladder SPEC --out OUT/LABEL --resume` (the default climb), which reads
# these back.
set -euo pipefail
out=${1:?usage: experiments/search_row.sh OUT [N] [VALUE ...]}
n=${2:-512}
shift $(( $# >= 2 ? 2 : 1 ))
values=("$@")
[ ${#values[@]} -eq 0 ] && values=(network material)
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
rungs=${RUNGS:-minimax,mix:minimax,gnushogi:1,0.3,mix:minimax,gnushogi:1,0.6,gnushogi:1}
mkdir -p "$out"
for value in "${values[@]}"; do
  label="sims${n}_${value/:/}"
  dir="$out/$label"
  if [ -f "$dir/ladder.json" ]; then
    echo "$label: finished ($dir/ladder.json)"
    continue
  fi
  resume=()
  [ -s "$dir/games.jsonl" ] && resume=(--resume)
  spec="${AGENT:-reference}@sims=$n,compiled=1"
  [ "$value" != network ] && spec="$spec,value=$value"
  echo "$label: $spec -> $dir"
  PATH=$PATH:/usr/games setsid "$py" -m keisei_fn.cli --threads 1 ladder "$spec" \
      --rungs "$rungs" --parallel 64 --out "$dir" "${resume[@]}" > "$out/$label.log" 2>&1 &
done
wait
