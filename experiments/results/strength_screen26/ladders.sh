#!/bin/bash
# The ladders of screens 25 and 26 from their kept networks (*.pt here and in
# ../strength_screen25), on any machine: each network alone (`@material=0`, argmax with the mate
# in one) and with 64 simulations of its own search (`@sims=64`), the argmax ladders first, two
# at a time (one per core), each continuing where it stopped (`--resume`). On the machine that
# trained them, compare_algos.py places the run directories instead (the same networks).
# Writes ladder_{argmax,sims64}_NAME.json beside the networks.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export PATH="$PATH:/usr/games"
out=${OUT:-runs/screen2526_ladders}
jobs=()
for kind in argmax sims64; do
    for net in experiments/results/strength_screen25/*.pt experiments/results/strength_screen26/*.pt; do
        jobs+=("$kind $net")
    done
done
one() {
    kind=$1 net=$2
    name=$(basename "$net" .pt)
    spec=$([ "$kind" = argmax ] && echo "$net@material=0" || echo "$net@sims=64")
    dir=$out/$(basename "$(dirname "$net")")_$name/$kind
    [ -f "$dir/ladder.json" ] || .venv/bin/keisei-fn --threads 1 ladder "$spec" --parallel 1 \
        --out "$dir" $([ -f "$dir/games.jsonl" ] && echo --resume) > /dev/null
    cp "$dir/ladder.json" "$(dirname "$net")/ladder_${kind}_$name.json"
}
export -f one
export out
printf '%s\n' "${jobs[@]}" | xargs -P "${PARALLEL:-2}" -L 1 bash -c 'one $0 $1'
