#!/bin/bash
# Issue 29's search row with the guard (2026-12-05): the packaged `reference` with 512
# simulations, compiled, reading its network's value, and not playing a move that lets the
# opponent mate at once (`guard=1`: the search's next most visited instead). Compare with
# experiments/results/search_row_2026-12-04/sims512_network (+2805: the same player without the
# guard, the same rungs, openings and seeds). The four rungs in two ladders side by side (one
# thread each), then one placement over all of them (`--resume` reads the games back).
#   run.sh                                     the guarded row, ladder seed 0 (sims512_guard)
#   SEED=1 run.sh                              the same at seed 1 (sims512_guard_seed1)
#   SPEC=reference@sims=512,compiled=1 NAME=sims512_seed1 SEED=1 run.sh   its unguarded pair
set -euo pipefail
cd "$(dirname "$0")/../../.."
seed=${SEED:-0}
spec=${SPEC:-reference@sims=512,compiled=1,guard=1}
name=${NAME:-sims512_guard$([ "$seed" = 0 ] || echo "_seed$seed")}
out=${OUT:-runs/guard_row/$name}
rungs="minimax,mix:minimax,gnushogi:1,0.3,mix:minimax,gnushogi:1,0.6,gnushogi:1"
mkdir -p "$out"
run() {  # rungs, dir
  local resume=()
  [ -s "$2/games.jsonl" ] && resume=(--resume)
  [ -f "$2/ladder.json" ] || PATH=$PATH:/usr/games .venv/bin/python -m keisei_fn.cli --threads 1 \
      ladder "$spec" --seed "$seed" --rungs "$1" --parallel 64 --out "$2" "${resume[@]}" \
      > "$2.log" 2>&1
}
run "minimax,mix:minimax,gnushogi:1,0.3" "$out/a" &
run "mix:minimax,gnushogi:1,0.6,gnushogi:1" "$out/b" &
wait
mkdir -p "$out/all"
cat "$out/a/games.jsonl" "$out/b/games.jsonl" > "$out/all/games.jsonl"
.venv/bin/python -m keisei_fn.cli --threads 1 ladder "$spec" --seed "$seed" --resume \
    --out "$out/all" --rungs "$rungs"
results=${RESULTS:-experiments/results/search_guard_2026-12-05}
mkdir -p "$results/$name"
cp "$out/all/ladder.json" "$out/all/games.jsonl" "$results/$name/"
