#!/bin/bash
# Issue 29's search row with the guard (2026-12-05): the packaged `reference` with 512
# simulations, compiled, reading its network's value, and not playing a move that lets the
# opponent mate at once (`guard=1`: the search's next most visited instead). Compare with
# experiments/results/search_row_2026-12-04/sims512_network (+2805: the same player without the
# guard, the same rungs, openings and seeds). The four rungs in two ladders side by side (one
# thread each), then one placement over all of them (`--resume` reads the games back).
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${OUT:-runs/guard_row}
spec="reference@sims=512,compiled=1,guard=1"
mkdir -p "$out"
run() {  # rungs, dir
  local resume=()
  [ -s "$2/games.jsonl" ] && resume=(--resume)
  [ -f "$2/ladder.json" ] || PATH=$PATH:/usr/games .venv/bin/python -m keisei_fn.cli --threads 1 \
      ladder "$spec" --rungs "$1" --parallel 64 --out "$2" "${resume[@]}" > "$2.log" 2>&1
}
run "minimax,mix:minimax,gnushogi:1,0.3" "$out/a" &
run "mix:minimax,gnushogi:1,0.6,gnushogi:1" "$out/b" &
wait
mkdir -p "$out/all"
cat "$out/a/games.jsonl" "$out/b/games.jsonl" > "$out/all/games.jsonl"
.venv/bin/python -m keisei_fn.cli --threads 1 ladder "$spec" --resume --out "$out/all" \
    --rungs "minimax,mix:minimax,gnushogi:1,0.3,mix:minimax,gnushogi:1,0.6,gnushogi:1"
mkdir -p experiments/results/search_guard_2026-12-05/sims512_guard
cp "$out/all/ladder.json" "$out/all/games.jsonl" experiments/results/search_guard_2026-12-05/sims512_guard/
