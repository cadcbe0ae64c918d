"""The train state to and from a checkpoint payload, and a fresh one.

A single agent's checkpoint keeps the single-agent layout (unbatched parameters) that `agent.py`,
`eval`, `usi` and `play` read; a population's holds the members stacked [K] with
"population": K, and each member is also exported in the single-agent layout
(RUN_DIR/members/member_K). Checkpoints of every earlier layout restore (tests/data).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from tensordict import TensorDict

from .._errors import first_line
from ..algos import registry
from ..checkpoint import CHECKPOINT_FORMAT, CheckpointError, check_param_shapes, save_checkpoint
from ..collect.rollout import CARRIED_KEYS
from ..config import to_yaml
from ..learn.optim import adam_init
from ..learn.population import member_config, member_seeds
from ..learn.state import Counters, EvalResult, TrainState, fresh_counters
from ..shogi import ATTACK_PLANES


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_snapshot() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
            "python_version": random.getstate()[0], "python_gauss": random.getstate()[2],
            "numpy_keys": torch.from_numpy(keys.astype(np.int64)), "numpy_pos": int(pos),
            "numpy_has_gauss": int(has_gauss), "numpy_cached": float(cached)}


def rng_restore(snap: dict) -> None:
    torch.set_rng_state(snap["torch"])
    random.setstate((snap["python_version"], tuple(snap["python"]), snap["python_gauss"]))
    np.random.set_state(("MT19937", snap["numpy_keys"].numpy().astype(np.uint32),
                         snap["numpy_pos"], snap["numpy_has_gauss"], snap["numpy_cached"]))


def _generators(seeds, device="cpu") -> tuple[torch.Generator, ...]:
    return tuple(torch.Generator(device=device).manual_seed(s) for s in seeds)


def starting_network(cfg, log=print) -> TensorDict | None:
    """`init_from`'s parameters (on the CPU), checked against this run's model, or None. A
    network without the attack planes may start a run with them (`model.attack_planes=true`).

    Read before anything is built, so that a wrong path or model fails at once rather than after
    compilation."""
    if not cfg.init_from:
        return None
    from ..agent import load_agent
    from ..config import value_prior

    agent, source = load_agent(cfg.init_from)
    # a network without the attack planes can start one with them (below); not the reverse
    adds_planes = cfg.model.attack_planes and not source.model.get("attack_planes", False)
    differ = ", ".join(f"model.{k}={source.model.get(k)} here {cfg.model[k]}" for k in cfg.model
                       if source.model.get(k) != cfg.model[k]
                       and not (k == "attack_planes" and adds_planes))
    if differ:
        raise CheckpointError(f"init_from {cfg.init_from}: its network does not fit this run's "
                              f"model ({differ}); set the same model.* or init_from=''")
    if value_prior(source) != value_prior(cfg):
        # The value head learned the game's value minus this prior: with another one, its
        # readings start off by the difference times the material balance, until it re-learns.
        log(f"note: init_from {cfg.init_from} learned its value with a material prior of "
            f"{value_prior(source)} per pawn, this run uses {value_prior(cfg)}")
    log(f"initial network: {cfg.init_from} ({source.algo}), for every member")
    params = agent.params[0].detach().cpu().clone()
    if adds_planes:
        # Its stem has weights on the planes' inputs, which always read zero there and so never
        # learned; zeroed, the network starts as the source's function and learns to read them.
        params["stem", "weight"][:, ATTACK_PLANES] = 0.0
        log("note: the attack planes are new to it; its first layer starts without them")
    return params


def fresh_state(cfg, parts, start: TensorDict | None = None) -> TrainState:
    """A new run's state; `start` (starting_network) replaces every member's initial network."""
    params = parts.initial_params
    if start is not None:
        check_param_shapes(params[0], start, cfg.init_from)
        params = torch.stack([start.to(params.device)] * params.batch_size[0]).contiguous()
    seeds = member_seeds(cfg)
    league = parts.learner_side is not None
    return TrainState(
        params=params, opt_state=torch.stack([adam_init(p) for p in params.unbind(0)]),
        counters=fresh_counters(cfg.population.size),
        shuffle=_generators([s + 1 for s in seeds]),
        policy=_generators(seeds, parts.device),
        # League: past snapshots (CPU copies; the first is the initial network) and the stream
        # that picks one per iteration.
        league=(params.detach().cpu().clone(),) if league else (),
        league_gen=torch.Generator(device="cpu").manual_seed(cfg.seed + 2),
        games=new_games(parts), extra=parts.algorithm.new_extra(cfg, parts.device))


def new_games(parts) -> TensorDict | None:
    """Every game at its start (direct backend; None: the workers start their own)."""
    return parts.collector.reset()


def _games(state: TrainState) -> dict:
    """The games in progress (the workers keep theirs: process and ray backends)."""
    return {} if state.games is None else state.games.select(*CARRIED_KEYS).cpu().to_dict()


def checkpoint_payload(cfg, state: TrainState) -> dict:
    members = state.members
    one = members == 1
    counters = state.counters.as_dict()
    return {
        "format": dict(CHECKPOINT_FORMAT), "config": to_yaml(cfg),
        "model": {k: str(v) for k, v in cfg.model.items()},
        **({} if one else {"population": members}),
        "params": (state.params[0] if one else state.params).cpu().to_dict(),
        "opt_state": (state.opt_state[0] if one else state.opt_state).cpu().to_dict(),
        "counters": counters, "aim_hash": state.aim_hash or "",
        "evals": [r.as_dict() for r in state.evals],
        # per-rank entries (distributed.RANK_KEYS): each rank's own streams and games
        "rng": {"global": rng_snapshot(),
                "policy": _states(state.policy, one), "shuffle": _states(state.shuffle, one),
                **({"league": state.league_gen.get_state()} if one else {})},
        "games": _games(state), "algo_state": registry.get(cfg.algo).save_extra(state.extra),
        **({"league": {"pool": [p[0].cpu().to_dict() for p in state.league]}} if one else {}),
    }


def _states(generators, one: bool):
    states = [g.get_state() for g in generators]
    return states[0] if one else states


def restore(payload: dict, cfg, parts, source: str = "checkpoint") -> TrainState:
    """The train state of a checkpoint payload; refuses one of another model, encoding or
    population size.

    The payload passed its checksum, so a structural problem means a file written by something
    else (or tampered with and re-summed): reported as CheckpointError naming `source`.
    """
    try:
        state = _restore(payload, cfg, parts, source)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as err:
        raise CheckpointError(f"{source}: malformed checkpoint "
                              f"({type(err).__name__}: {first_line(err, 160)})") from None
    return state


def _restore(payload: dict, cfg, parts, source: str) -> TrainState:
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{source}: action/observation encoding {payload.get('format')} "
                              f"does not match this build's {CHECKPOINT_FORMAT}")
    members = cfg.population.size
    saved = payload.get("population") or 1
    if saved != members:
        raise CheckpointError(f"{source}: holds a population of {saved}, the config asks for "
                              f"population.size={members}")
    one = members == 1
    device = parts.device

    def stacked(entry: dict) -> TensorDict:
        td = TensorDict(entry).unsqueeze(0) if one else TensorDict(entry, batch_size=[members])
        return td.to(device)

    params = stacked(payload["params"])
    check_param_shapes(parts.initial_params, params, source)
    counters = Counters.from_dict(payload["counters"], members)
    rng = payload.get("rng")
    seeds = member_seeds(cfg)
    if rng is not None:
        shuffle = _generators([0] * members)
        policy = _generators([0] * members, device)
        for g, s in zip(shuffle, [rng["shuffle"]] if one else rng["shuffle"], strict=True):
            g.set_state(s)
        for g, s in zip(policy, [rng["policy"]] if one else rng["policy"], strict=True):
            g.set_state(s)
    else:  # a rank the checkpoint's group did not have (distributed.rank_payload): new streams
        shuffle = _generators([s + 1 + counters.iteration for s in seeds])
        policy = _generators([s + counters.iteration for s in seeds], device)
    league = payload.get("league", {"pool": []})
    pool = tuple(TensorDict(p).unsqueeze(0) for p in league["pool"])
    for snapshot in pool:
        check_param_shapes(parts.initial_params.cpu(), snapshot, f"{source} (league pool)")
    league_gen = torch.Generator(device="cpu")
    # older checkpoints kept the league's stream with its pool
    league_rng = (rng or {}).get("league", league.get("rng"))
    if league_rng is not None:
        league_gen.set_state(league_rng)
    else:
        league_gen.manual_seed(cfg.seed + 2 + counters.iteration)
    if rng is not None:
        rng_restore(rng["global"])
    games = new_games(parts)
    if payload.get("games") and games is not None:
        saved_games = TensorDict(payload["games"]).select(*CARRIED_KEYS).to(device)
        rows = saved_games.get(("game", "board")).shape[0]
        if rows != games.batch_size[0]:
            raise CheckpointError(f"{source}: holds {rows} games in progress, the config plays "
                                  f"{games.batch_size[0]}")
        saved_games.batch_size = games.batch_size
        games = saved_games
    return TrainState(params=params, opt_state=stacked(payload["opt_state"]), counters=counters,
                      shuffle=shuffle, policy=policy, league=pool, league_gen=league_gen,
                      evals=tuple(EvalResult.from_dict(r) for r in payload["evals"]),
                      aim_hash=payload["aim_hash"] or None,
                      games=games, extra=parts.algorithm.restore_extra(
                          # "replay": where checkpoints before the algorithm interface kept it
                          payload.get("algo_state", payload.get("replay")), cfg, parts.device,
                          source))


def export_members(cfg, state: TrainState, run_dir: Path, iteration: int) -> list[Path]:
    """Each member as a single-agent checkpoint (what load_agent reads) under members/member_K."""
    paths = []
    for k in range(state.members):
        payload = {"format": dict(CHECKPOINT_FORMAT), "config": to_yaml(member_config(cfg, k)),
                   "model": {n: str(v) for n, v in cfg.model.items()},
                   "params": state.params[k].cpu().to_dict(), "member_of": str(run_dir),
                   "member": k}
        paths.append(save_checkpoint(payload, run_dir / "members" / f"member_{k}", iteration,
                                     keep=1))
    return paths
