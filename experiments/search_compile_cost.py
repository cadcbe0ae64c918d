"""What a cold compile of the compiled search costs, and how fast it then runs, under inductor
options: the trade-off behind the test suite's longest tests (docs/testing.md).

    TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) TORCHINDUCTOR_COMPILE_THREADS=1 \\
        .venv/bin/python experiments/search_compile_cost.py '{"cpp.simdlen": 1}'

The argument is JSON: inductor config keys (dotted) and values, set for every program (`{}`:
the package's own options). It compiles what tests/test_search.py's compiled test does (its
13 positions at once with a float64 evaluator, 96 simulations through one considered move and
16 through four), then times three more searches of the first kind. Both figures are CPU time
(this process and its finished children: g++ runs as a child with one compile thread, so a
busy machine changes them less than wall time). Use a fresh cache directory for each run, or
the compile is a cache hit.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def cpu_seconds() -> float:
    own, children = (resource.getrusage(who) for who in
                     (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(options: dict) -> dict:
    for key, value in options.items():
        owner, *path = torch._inductor.config, *key.split(".")
        for name in path[:-1]:
            owner = getattr(owner, name)
        setattr(owner, path[-1], value)
    from test_search import _positions, ours_evaluate

    from keisei_fn.search.gumbel import search
    from keisei_fn.shogi import from_sfen

    torch.set_num_threads(1)
    state = from_sfen(_positions())

    def run(simulations: int, considered: int) -> None:
        search(state, ours_evaluate, torch.Generator().manual_seed(1), impasse=True,
               simulations=simulations, max_considered=considered, compiled=True)

    start = cpu_seconds()
    run(96, 1), run(16, 4)
    compile_cpu = cpu_seconds() - start
    run(96, 1)  # first runs after a compile are slower
    start = cpu_seconds()
    for _ in range(3):
        run(96, 1)
    return {"options": options, "compile_cpu_s": round(compile_cpu, 1),
            "search_cpu_s": round((cpu_seconds() - start) / 3, 3),
            "torch": torch.__version__}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})))
