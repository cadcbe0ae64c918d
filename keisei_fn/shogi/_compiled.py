"""`step` compiled with torch.compile for small batches, where eager `step` is bound by the
per-operation overhead of its few thousand tensor operations (one position takes ~4 ms eager).

    compiled_step(state, action, impasse=False)   # the same result as step(...)

Batches are padded to the next power of two up to MAX_BUCKET (the padding repeats the first
game; its results are dropped), so at most log2(MAX_BUCKET) + 1 graphs are compiled per
`impasse` value; larger batches take the eager `step`. The compiled graphs are
torch.compile's own cache (the one place this module keeps state); inductor keeps the
generated code on disk, so a later process compiles much faster. The first call of a bucket
compiles it: tens of seconds on a CPU.
"""

from __future__ import annotations

import functools
from functools import partial

import torch
from tensordict import TensorDictBase

from ._step import step

MAX_BUCKET = 64
# Inductor's vectorised CPU code for `step` reads out of bounds in the tails of its batch loops
# on some batches (torch 2.13: "index out of bounds: 0 <= tmp < 9" where eager reads no index
# outside its tensor, or a segfault without the check; e.g. 15 positions of the search tests,
# tests/test_search.py). Scalar code is correct, and at these batch sizes the cost is dispatch,
# not arithmetic.
SCALAR_CODE = {"cpp.simdlen": 1}
# ... and with inductor's C++ wrapper, which enters a compiled graph with less host work than
# its Python one: a step at one game 152 us against 209 us, at 64 games 1.31 ms against 1.36 ms
# (CPU time, the AMD EPYC of docs/search.md, 2026-12-05).
COMPILE_OPTIONS = {**SCALAR_CODE, "cpp_wrapper": True}


def _step_impasse(state, action):
    return step(state, action, impasse=True)


def _step_plain(state, action):
    return step(state, action, impasse=False)


@functools.cache
def _compiled(impasse: bool):
    """One code object per rule set, each with its own compiled variants (one per bucket);
    made on first use (importing torch's compiler costs a second)."""
    return torch.compile(_step_impasse if impasse else _step_plain, dynamic=False,
                         fullgraph=True, options=COMPILE_OPTIONS)


def largest_bucket() -> int:
    """The most positions a compiled function runs at (MAX_BUCKET, read at call time:
    experiments/search_speed.py --max-bucket changes it)."""
    return MAX_BUCKET


def bucket(n: int) -> int:
    """The padded batch a compiled step runs at for `n` positions (0 when eager)."""
    if n > MAX_BUCKET:
        return 0
    return 1 << max(0, (n - 1).bit_length())


def call_padded(fn, eager, state: TensorDictBase, *rest: torch.Tensor):
    """`fn(state, *rest)` with the batch padded to its bucket (the padding repeats the first
    game; its rows are dropped from the output, a TensorDict or a tuple of tensors), or
    `eager(state, *rest)` above MAX_BUCKET: how every compiled-per-bucket function is called."""
    n = state.batch_size[0]
    size = bucket(n)
    if size == 0 or n == 0:
        return eager(state, *rest)
    if size > n:
        pad = size - n
        state = torch.cat([state, state[:1].expand(pad)], 0)
        rest = tuple(torch.cat([r, r[:1].expand(pad, *r.shape[1:])]) for r in rest)
    out = fn(state, *rest)
    if size == n:
        return out
    return tuple(o[:n] for o in out) if isinstance(out, tuple) else out[:n]


def compiled_step(state: TensorDictBase, action: torch.Tensor, *,
                  impasse: bool = False) -> TensorDictBase:
    """`step(state, action, impasse=impasse)`, compiled for batches up to MAX_BUCKET."""
    action = action.to(device=state.device, dtype=torch.long)
    return call_padded(_compiled(impasse), partial(step, impasse=impasse), state, action)
