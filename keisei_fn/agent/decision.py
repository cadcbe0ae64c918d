"""How an agent picks its moves: one function from (agent, B positions, settings) to decisions.

`decide` is the decision layer of every player: the USI engine, `play`, `analyze` and the batched
players of `eval`/`ladder` (all the games of a match at once). Its settings say how to choose
(`Settings`: the policy's move, a 1-ply search over the value, or Gumbel search with a
`SearchConfig`); its output (`Decisions`) holds the move, the value, the ranked candidates with
what the search saw of each, the principal variations and what the search proved by the rules.
Turning a decision into protocol text (USI `info` lines, the terminal's hints) is the callers'.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import torch
from tensordict import TensorDictBase

from ..models import gumbel_sample, masked_log_softmax
from ..search.gumbel import search
from ..search.mate import find_mates, mate_in_one  # noqa: F401  (mate_in_one: API)
from ..search.proof import UNVISITED, principal_variation, proven_moves
from ..shogi import step
from .network import Agent, compiled_evaluator, evaluate, evaluator
from .vetoes import (PLAY_MATERIAL_MARGIN, PLAY_MATERIAL_QUIET, by_prior, first_then, guarded,
                     material_checked, material_vetted, ranked)

# Whether players (`PATH@sims=N`, `keisei-fn usi`, `play`, `analyze`) search each Sequential
# Halving round's visits side by side by default (docs/search.md, "Batched rounds").
PLAY_BATCHED_ROUNDS = False
SEARCHES = ("none", "1ply", "gumbel")
ONE_PLY_CHUNK = 64  # successors evaluated per network call; the deadline is checked between calls


@dataclass(frozen=True)
class SearchConfig:
    """Gumbel search's settings (search/gumbel.py)."""
    simulations: int = 64
    considered: int = 16
    """moves Sequential Halving considers at the root (max_num_considered_actions)"""
    gumbel_scale: float = 0.0
    """0: the search's best move, without noise (play); 1: a sample of its improved policy
    (self-play's exploration)"""
    batched_rounds: bool = PLAY_BATCHED_ROUNDS
    impasse: bool = True
    """the entering-king declaration ends games inside the tree (the arena referee's rule)"""
    compiled: bool = False
    """each simulation as compiled programs, with the compiled network (search/compiled.py,
    `compiled_evaluator`): the same search, ~3-4x faster at one game once compiled, which takes
    a minute or more per batch size the first time (seconds from inductor's disk cache)"""
    q_range: float = 0.0
    """the smallest range sigma rescales the q-values by (search/select.py): 0 is mctx's
    min-max, which stretches any spread of the values to [0, 1]; 2 never stretches one"""
    mate_depth: int = 0
    """each position the search expands within this many plies of the root is searched for its
    mover's mate in one, which then counts as a win (search/gumbel.py, `search.mate.score_mates`):
    at 1, the opponent's mating replies are seen at the first visit of the root move that allows
    them; 0: off"""


@dataclass(frozen=True)
class Settings:
    """How `decide` chooses."""
    search: str = "none"
    """'none': the policy's move; '1ply': the successor with the best value (exact where the
    move ends the game); 'gumbel': Gumbel search (`gumbel`)"""
    temperature: float = 0.0
    """0: the best move; > 0: a sample (the policy's at this temperature, or the 1-ply scores')"""
    gumbel: SearchConfig = field(default_factory=SearchConfig)
    top: int = 5
    """ranked candidates reported per position (0: every legal move)"""
    lines: int = 1
    """principal variations computed, for the first `lines` candidates (USI's MultiPV)"""
    mate_in_one: bool = False
    """take a move that wins at once by the rules where there is one (found by one batched step
    of every legal move), before any search or the policy's choice"""
    mate_plies: int = 1
    """with `mate_in_one`: how deep the mate search looks, 1 or 3 plies (mate in three by checks,
    search/mate.py: a few hundred steps per position)"""
    guard: int = 0
    """1: not a move that lets the opponent mate at once; 3: nor one that allows a mate in
    three by checks (search/mate.py; 0: off). The chosen move, then the policy's favourites
    (search 'none'), the best scored successors ('1ply') or the search's most visited moves
    ('gumbel'), `vetoes.GUARD_WIDTH` in all, are checked (`search.mate.allows_mate`); the first
    that allows no such mate is played; where all of them do, the first legal move in that order
    that allows no mate in one (the chosen move when none does). It runs after the search,
    outside `decide`'s `stop` clock (the USI engine keeps what it took off its next search:
    `Session.overhead_s`); a 1-ply search stopped before its first batch plays the policy's
    move unguarded"""
    material_margin: float = 0.0
    """the policy's move (search 'none'), unless a 2-ply material minimax (search/minimax.py,
    the `minimax` player's search) rates it more than this many pawns below the best legal move;
    then the policy's favourite among the moves within this margin of the best. After a Gumbel
    search the same for the search's move (unless it proved a win), then its most visited move
    within the margin. Before the guard. 0: off"""
    material_quiet: int = 0
    """the veto's last ply's captures played out this many plies deep (`minimax.move_values`)"""


def player_settings(simulations: int = 0, *, top: int = 1, temperature: float = 0.0,
                    q_range: float = 0.0, guard: int = 0, compiled: bool = False) -> Settings:
    """How our players choose by default (a player spec's `PATH` and `PATH@sims=N`, `play`,
    `watch`): a mate in one first; then a Gumbel search of `simulations` without noise
    (`compiled`: each simulation compiled), or the policy's move (its argmax, or a sample at
    `temperature`) under the material veto; `guard` as `Settings.guard`."""
    return Settings(search="gumbel" if simulations else "none", temperature=temperature,
                    top=top, mate_in_one=True, guard=guard,
                    gumbel=SearchConfig(simulations or SearchConfig.simulations,
                                        q_range=q_range, compiled=compiled),
                    material_margin=0.0 if simulations else PLAY_MATERIAL_MARGIN,
                    material_quiet=0 if simulations else PLAY_MATERIAL_QUIET)


@dataclass(frozen=True)
class Decisions:
    """What `decide` chose in each of B positions; candidates [B, M] are ranked best first (the
    chosen move first), -1 padded where a position has fewer legal moves."""
    action: torch.Tensor       # long [B]: the move played
    value: torch.Tensor        # [B]: for the side to move in [-1, 1] (the search's root value,
    #                            the network's, or the chosen successor's score; +-1 when proven)
    mate: torch.Tensor         # long [B]: plies to the forced end the chosen move leads to
    #                            (+ win, - loss, 0 unproven)
    candidates: torch.Tensor   # long [B, M]
    prior: torch.Tensor        # [B, M]: the policy's probability
    visits: torch.Tensor       # long [B, M]: root visits (0 without a search)
    q: torch.Tensor            # [B, M]: the search's q (NaN where unvisited; `forced` says
    #                            what is proven) / the 1-ply score; NaN without a search
    improved: torch.Tensor     # [B, M]: the search's improved policy (the prior without one)
    forced: torch.Tensor       # long [B, M]: what the search proved of each move (as `mate`)
    pv: torch.Tensor           # long [B, L, D]: principal variation of the first L candidates
    legal: torch.Tensor        # long [B]: legal moves
    simulations: torch.Tensor  # long [B]: search simulations done (0 without a search)
    evaluated: torch.Tensor    # long [B]: successors the 1-ply search scored
    seconds: float = 0.0
    tree: TensorDictBase | None = None  # the search's tree (for the variations' moves)


@torch.no_grad()
def decide(agent: Agent, state: TensorDictBase, settings: Settings = Settings(),
           generator: torch.Generator | None = None,
           stop: Callable[[], bool] | None = None) -> Decisions:
    """The agent's decisions in `state` [B] (every position has a legal move). `stop()`, when
    given, is a clock: the searches end early when it says so (the 1-ply search between
    batches of successors, Gumbel search between simulations)."""
    started = time.monotonic()
    legal = state["legal_mask"]
    if not bool(legal.any(-1).all()):
        raise ValueError("decide needs positions with a legal move")
    if settings.search not in SEARCHES:
        raise ValueError(f"search must be one of {', '.join(SEARCHES)}, got {settings.search!r}")
    if settings.guard not in (0, 1, 3):
        raise ValueError(f"guard must be 0 (off), 1 or 3 (plies of the opponent's mate), got "
                         f"{settings.guard!r}")
    if settings.search == "gumbel":
        decisions = _gumbel(agent, state, settings, generator, stop)
    elif settings.search == "1ply":  # takes a mate in one by itself
        decisions = _one_ply(agent, state, settings, generator, stop)
    else:
        mates = find_mates(state, settings.mate_plies) if settings.mate_in_one else None
        decisions = _policy(agent, state, settings, generator, mates)
        if mates is not None and bool((mates[0] >= 0).any()):
            decisions = _take_mates(decisions, mates)
    return _with(decisions, seconds=time.monotonic() - started)


def _with(decisions: Decisions, **changes) -> Decisions:
    return replace(decisions, **changes)


def _width(settings: Settings, legal: torch.Tensor) -> int:
    most = int(legal.sum(-1).max())
    return most if settings.top <= 0 else min(settings.top, most)


def _gather(values: torch.Tensor, labels: torch.Tensor, fill) -> torch.Tensor:
    got = values.gather(1, labels.clamp(min=0))
    return torch.where(labels >= 0, got, torch.as_tensor(fill, dtype=got.dtype,
                                                         device=got.device))


def _sample_or_best(scores: torch.Tensor, temperature: float,
                    generator: torch.Generator | None) -> torch.Tensor:
    if temperature <= 0:
        return scores.argmax(-1)
    return gumbel_sample(scores / temperature, generator)


def _policy(agent, state, settings, generator, mates=None) -> Decisions:
    log_probs, value = evaluate(agent, state)
    legal = state["legal_mask"]
    if settings.temperature <= 0:
        action = log_probs.argmax(-1)
    else:
        action = gumbel_sample(masked_log_softmax(log_probs / settings.temperature, legal),
                               generator)
    if settings.material_margin > 0:
        action = material_checked(state, action, log_probs, settings.material_margin,
                                  settings.material_quiet)
    if settings.guard:
        action = guarded(state, action, by_prior(log_probs), settings.guard)
    if mates is not None:  # ranked first with its own prior (_take_mates marks it proven)
        action = torch.where(mates[0] >= 0, mates[0], action)
    width = _width(settings, legal)
    if width == 1:  # the players of a match: just the move
        candidates = action[:, None]
    else:  # the chosen move first (a sample need not be the favourite), then the policy's order
        candidates = ranked(first_then(action, by_prior(log_probs)), legal, width)
    prior = _gather(log_probs.exp(), candidates, 0.0)
    zeros = torch.zeros(len(action), dtype=torch.long, device=action.device)
    return Decisions(action, value, zeros, candidates, prior, torch.zeros_like(candidates),
                     torch.full_like(prior, torch.nan), prior, torch.zeros_like(candidates),
                     candidates[:, :settings.lines, None], legal.sum(-1), zeros, zeros)


def one_ply_scores(agent: Agent, state: TensorDictBase, actions: torch.Tensor):
    """(scores [N], wins [N]) of playing each legal label of `actions` [N] in `state` [1], for
    the mover: a move that ends the game scores its exact outcome from the engine's terminal
    flags (mate +1, repetition 0, perpetual check +1/-1), any other minus the value of the
    position for the opponent, who moves next."""
    after = step(state.expand(actions.shape[0]).clone(), actions)
    _, value = evaluate(agent, after)
    done = after["terminated"]
    return torch.where(done, after["reward"], -value), done & (after["reward"] > 0)


def _one_ply_row(agent, state, settings, generator, stop):
    """The 1-ply search of one position [1]: successors scored in batches of `ONE_PLY_CHUNK`, the
    policy's favourites first, so a deadline keeps the moves most worth scoring; if not even one
    batch fits, the policy's favourite is played. A mate in one is always taken."""
    log_probs, value = evaluate(agent, state)
    legal = state["legal_mask"][0].nonzero().squeeze(1)
    order = legal[log_probs[0, legal].argsort(descending=True, stable=True)]
    scores, wins = [], []
    for chunk in order.split(ONE_PLY_CHUNK):
        if stop is not None and stop():
            break
        s, w = one_ply_scores(agent, state, chunk)
        scores.append(s)
        wins.append(w)
        if w.any():  # nothing beats a mate
            break
    if not scores:
        return log_probs[0], order[:1], value.new_full((1,), float(value[0])), \
            torch.zeros(1, dtype=torch.bool), 0
    scores, wins = torch.cat(scores), torch.cat(wins)
    if wins.any():
        pick = int(wins.to(torch.uint8).argmax())
    else:  # ties: the first, i.e. the policy's preference
        pick = int(_sample_or_best(scores, settings.temperature, generator))
    evaluated = len(scores)
    rest = [i for i in scores.argsort(descending=True, stable=True).tolist() if i != pick]
    best_first = [pick] + rest  # not `ranked`: that is the helper's name (vetoes.ranked)
    if settings.guard:  # the best scored successors in turn, until one allows no mate
        labels = order[best_first]
        safe = guarded(state, labels[:1], labels[None], settings.guard)
        first = int((labels == safe).to(torch.uint8).argmax())
        best_first.insert(0, best_first.pop(first))
    return (log_probs[0], order[best_first], scores[best_first], wins[best_first], evaluated)


def _one_ply(agent, state, settings, generator, stop) -> Decisions:
    rows = [_one_ply_row(agent, state[b:b + 1], settings, generator, stop)
            for b in range(state.batch_size[0])]
    legal = state["legal_mask"]
    width = _width(settings, legal)
    b, device = len(rows), legal.device
    candidates = torch.full((b, width), UNVISITED, dtype=torch.long, device=device)
    q = torch.full((b, width), torch.nan, device=device)
    mate = torch.zeros(b, dtype=torch.long, device=device)
    evaluated = torch.zeros_like(mate)
    prior = torch.zeros(b, width, device=device)
    for i, (log_probs, labels, scores, wins, count) in enumerate(rows):
        n = min(width, len(labels))
        candidates[i, :n] = labels[:n]
        q[i, :n] = scores[:n] if count else torch.nan
        prior[i, :n] = log_probs[labels[:n]].exp()
        mate[i] = int(wins[0])
        evaluated[i] = count
    value = torch.where(evaluated > 0, q[:, 0].nan_to_num(0.0),
                        torch.stack([s[0] for _, _, s, _, _ in rows]).to(device))
    zeros = torch.zeros_like(candidates)
    forced = zeros.clone()
    forced[:, 0] = mate
    return Decisions(candidates[:, 0], value, mate, candidates, prior, zeros, q, prior, forced,
                     candidates[:, :settings.lines, None], legal.sum(-1),
                     torch.zeros_like(mate), evaluated)


def _gumbel(agent, state, settings, generator, stop) -> Decisions:
    config = settings.gumbel
    legal = state["legal_mask"]
    b, device = legal.shape[0], legal.device
    mates = find_mates(state, settings.mate_plies) if settings.mate_in_one else None
    if mates is not None and bool((mates[0] >= 0).all()):
        return _proven_at_once(agent, state, settings, mates)
    if generator is None:
        generator = torch.Generator(device=device).manual_seed(0)
    network = (compiled_evaluator if config.compiled else evaluator)(agent)
    out = search(state, network, generator, simulations=config.simulations,
                 max_considered=config.considered, impasse=config.impasse, stop=stop,
                 gumbel_scale=config.gumbel_scale, batched_rounds=config.batched_rounds,
                 compiled=config.compiled, q_range=config.q_range,
                 mate_depth=config.mate_depth)
    action, forced = proven_moves(out)
    visits, policy = out["visits"], out["policy"]
    # most visited first, ties by the improved policy, the move played (a proof's) first of all
    by_policy = policy.argsort(dim=-1, descending=True, stable=True)
    by_visits = by_policy.gather(1, visits.gather(1, by_policy)
                                 .argsort(dim=-1, descending=True, stable=True))
    if settings.material_margin > 0:  # not over a proven win: a sacrifice that mates
        vetted = material_vetted(state, action, by_visits, settings.material_margin,
                                 settings.material_quiet)
        action = torch.where(forced.gather(1, action[:, None]).squeeze(1) > 0, action, vetted)
    if settings.guard:  # a move the search proved a win lets the opponent mate in no reply
        action = guarded(state, action, by_visits, settings.guard)
    if mates is not None:  # ranked first with what the search saw of it (_take_mates: proven)
        action = torch.where(mates[0] >= 0, mates[0], action)
    candidates = ranked(first_then(action, by_visits), legal, _width(settings, legal))
    cand_forced = _gather(forced, candidates, 0)
    q = _gather(out["q"], candidates, torch.nan)
    mate = cand_forced[:, 0]
    value = torch.where(mate != 0, mate.sign().to(out["value"].dtype), out["value"])
    lines = [principal_variation(out["tree"], candidates[:, i].clamp(min=0))
             for i in range(min(settings.lines, candidates.shape[1]))]
    depth = max(line.shape[1] for line in lines)
    pv = torch.stack([torch.nn.functional.pad(line, (0, depth - line.shape[1]), value=UNVISITED)
                      for line in lines], 1)
    pv = torch.where(candidates[:, :len(lines), None] >= 0, pv, UNVISITED)
    prior = _gather(out["logits"].softmax(-1), candidates, 0.0)
    decisions = Decisions(candidates[:, 0], value, mate, candidates, prior,
                          _gather(visits, candidates, 0), q, _gather(policy, candidates, 0.0),
                          cand_forced, pv, legal.sum(-1), out["simulations"],
                          torch.zeros(b, dtype=torch.long, device=device), tree=out["tree"])
    if mates is not None and bool((mates[0] >= 0).any()):
        decisions = _take_mates(decisions, mates)
    return decisions


# Simulations of the warm-up search that considers one root move: its walks go deeper than the
# first two levels, which compiles the walk's `level` graph (search/compiled.py).
WARM_DEEP_SIMULATIONS = 64


@torch.no_grad()  # as `decide` runs: grad mode is thread-local, and Dynamo's graphs guard on it
def warm_compiled_search(agent: Agent, history: int, config: SearchConfig) -> None:
    """Compile what a compiled Gumbel search (`config`) of one game will run, for positions
    whose histories hold `history` entries (a shape the compiled step is specialised to): the
    configured search from the start position, then a deeper one, and with batched rounds one
    wave of every padded width up to the considered moves (the step and the network compile
    per width). A minute or more without inductor's disk cache, seconds with it; later
    searches of that shape compile nothing."""
    from ..shogi import STARTPOS_SFEN, from_sfen

    state = from_sfen([STARTPOS_SFEN], max_plies=history - 1).to(agent.device)
    network = compiled_evaluator(agent)
    searches = [(config.simulations, config.considered), (WARM_DEEP_SIMULATIONS, 1)]
    if config.batched_rounds:
        # a wave is as wide as the moves its round keeps: every padded width (a power of two)
        # up to the considered moves', as positions with fewer legal moves make narrower ones
        widths = (1 << k for k in range(1, max(1, (config.considered - 1).bit_length()) + 1))
        searches += [(2 * width, width) for width in widths]
    for simulations, considered in searches:
        search(state, network, torch.Generator(device=state.device).manual_seed(0),
               simulations=max(2, simulations), max_considered=considered,
               impasse=config.impasse, batched_rounds=config.batched_rounds, compiled=True,
               mate_depth=config.mate_depth)


def _proven_at_once(agent, state, settings, mates) -> Decisions:
    """Every position has a proven mate (`find_mates`' (move, plies)): play it, no search."""
    moves, plies = mates
    _, value = evaluate(agent, state)
    legal = state["legal_mask"]
    zeros = torch.zeros_like(moves)
    one = moves[:, None]
    prior = torch.ones(len(moves), 1, device=legal.device)
    pv = torch.full((len(moves), 1, 1), UNVISITED, dtype=torch.long, device=legal.device)
    pv[:, 0, 0] = moves
    return Decisions(moves, torch.ones_like(value), plies, one, prior, zeros[:, None],
                     prior.clone(), prior.clone(), plies[:, None], pv, legal.sum(-1),
                     zeros, zeros)


def _take_mates(decisions: Decisions, mates: tuple[torch.Tensor, torch.Tensor]) -> Decisions:
    """Rows with a proven mate (`find_mates`' (move, plies)), which the policy's or the search's
    ranking already put first with its own prior, visits and q: marked proven, valued +1, its
    variation the first move only."""
    mates, plies = mates
    found = mates >= 0
    d = decisions
    forced = d.forced.clone()
    forced[found, 0] = plies[found]
    pv = d.pv.clone()
    pv[found, 0, 0], pv[found, 0, 1:] = mates[found], UNVISITED
    return _with(d, action=torch.where(found, mates, d.action),
                 value=torch.where(found, torch.ones_like(d.value), d.value),
                 mate=torch.where(found, plies, d.mate), forced=forced, pv=pv)
