#!/bin/bash
# Issue 29's search row at equal time, head to head (2026-12-06): the packaged `reference` in
# Sequential Halving's batched rounds at its state N (1663 simulations, `rounds=batched`) against
# mctx's order at its state N (1100), both compiled with `guard=3` (state N by CPU time on the
# 2-core AMD EPYC: experiments/results/state_n_batched_cputime_2026-12-06.json and
# state_n_cputime_2026-12-06.json). The default suite's first 32 openings, each with both
# colours (64 games), in two processes of 16 openings (one thread each). A finished half is kept.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
here=experiments/results/search_guard_2026-12-05/h2h
a=${A:-reference@sims=1663,compiled=1,guard=3,rounds=batched}
b=${B:-reference@sims=1100,compiled=1,guard=3}
out=${OUT:-runs/h2h_batched}
half() {  # openings file, out dir
  [ -f "$2/summary.json" ] || PATH=$PATH:/usr/games .venv/bin/python -m keisei_fn.cli \
      --threads 1 eval --agent "$a" --opponent "$b" --games 32 --openings "$1" \
      --parallel 32 --out "$2" > "$2.log" 2>&1
}
mkdir -p "$out"
half "$here/openings_a.txt" "$out/a" &
half "$here/openings_b.txt" "$out/b" &
wait
for h in a b; do mkdir -p "$here/$h"; cp "$out/$h/summary.json" "$out/$h/games.jsonl" "$here/$h/"; done
