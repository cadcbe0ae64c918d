"""What the search's mate depth (`SearchConfig.mate_depth`, `PATH@sims=N,matedepth=D`) costs at
one game, as `keisei-fn usi --compiled` searches: each arm's seconds a move, relative to the
first arm, on the same positions, interleaved.

    .venv/bin/python experiments/mate_depth_cost.py [--arms 512:0,632:0,512:1,512:2]
        [--positions 24] [--out FILE.json]

An arm is SIMULATIONS:DEPTH. Positions: every 23rd ply of the games in
experiments/results/search_guard_2026-12-05/sims512_guard3b (the ladder's own), a spread of
them. The packaged `reference`, compiled search, a mate in one played first, one thread; the
time is the thread's CPU time (`time.thread_time`), so that the ratios hold on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cshogi
import torch

from keisei_fn.agent import SearchConfig, load_agent, resolve_checkpoint
from keisei_fn.agent.decision import Settings, decide
from keisei_fn.shogi import from_sfen

sys.path.insert(0, str(Path(__file__).parent))
from make_reference import machine  # noqa: E402

GAMES = Path(__file__).parent / "results/search_guard_2026-12-05/sims512_guard3b/games.jsonl"


def positions(n: int) -> list[str]:
    sfens = []
    for line in GAMES.read_text().splitlines():
        game = json.loads(line)
        board = cshogi.Board(game["start_sfen"]) if game.get("start_sfen") else cshogi.Board()
        for ply, move in enumerate(game["moves"][:-4]):
            board.push_usi(move)
            if ply % 23 == 11:
                sfens.append(board.sfen())
    return sfens[::7][:n]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arms", default="512:0,632:0,512:1,512:2")
    p.add_argument("--positions", type=int, default=24)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    arms = [tuple(int(x) for x in arm.split(":")) for arm in args.arms.split(",")]
    torch.set_num_threads(1)
    agent, _ = load_agent(resolve_checkpoint("reference"), device="cpu")
    sfens = positions(args.positions)

    def seconds(arm, sfen) -> float:
        sims, depth = arm
        settings = Settings(search="gumbel", top=1, mate_in_one=True,
                            gumbel=SearchConfig(sims, compiled=True, mate_depth=depth))
        state = from_sfen([sfen])
        start = time.thread_time()
        decide(agent, state, settings, torch.Generator().manual_seed(0))
        return time.thread_time() - start

    for arm in arms:  # compile and warm every arm first
        for sfen in sfens[:2]:
            seconds(arm, sfen)
    times = {arm: [] for arm in arms}
    for sfen in sfens:
        for arm in arms:
            times[arm].append(seconds(arm, sfen))
    base = sum(times[arms[0]])
    rows = [{"simulations": s, "mate_depth": d, "median_s": statistics.median(times[(s, d)]),
             "relative": sum(times[(s, d)]) / base} for s, d in arms]
    for row in rows:
        print(f"sims {row['simulations']:>5} mate_depth {row['mate_depth']:>2}: median "
              f"{row['median_s']:.3f} s a move, {row['relative']:.2f}x the first arm")
    result = {"machine": machine(), "threads": 1, "positions": len(sfens), "arms": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
