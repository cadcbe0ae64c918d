"""The self-play PPO training run: a loop that reads like the pipeline it is.

    data = collector()                  # TorchRL Collector over ShogiEnv, Gumbel-max policy
    data = shape + GAE(-gamma)          # zero-sum advantages from each mover's side
    for minibatch in shuffle(data):     # epochs x minibatches
        params, opt = update(params, opt, minibatch, lr)   # pure function (update.py)
    track(metrics); checkpoint(state); evaluate(every N)

All mutable training state is the `carry` dict (params, optimizer state, counters, RNG
generators); it is what a checkpoint holds, with the games in progress and the config.
"""

from __future__ import annotations

from .._errors import first_line
import random

import numpy as np
import torch
from tensordict import TensorDict
from ..models import build_model, state_params
from ..algos.ppo.advantage import make_gae
from ..checkpoint import CHECKPOINT_FORMAT, CheckpointError, check_param_shapes
from ..config import to_yaml
from ..collect.collectors import backend_of, make_collector
from ..learn.compile import acting_compile_mode, compile_mode, compile_update
from ..learn.optim import adam_init
from ..collect.policy import CollectPolicy, act
from ..collect.rollout import CARRIED_KEYS, carrier, restore_carrier
from ..learn.population import make_population_update, single_agent_update
from .distributed import SINGLE, gradient_mean


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


def build(cfg, log=print, group=SINGLE):
    """Everything the loop needs, built from the config (no state carried yet); `group` is the
    data-parallel group whose gradients the update averages (distributed.py)."""
    device = torch.device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {cfg.device!r} requested but CUDA is not available")
    net = build_model(cfg.model).to(device)
    policy_gen = torch.Generator(device=device).manual_seed(cfg.seed)
    opponent, learner_side = None, None
    league_games = round(cfg.league.fraction * cfg.env.batch_size)
    if league_games:
        # The first rows play past snapshots, the learner taking Black and White alternately.
        opponent = build_model(cfg.model).to(device).eval()
        rows = torch.arange(cfg.env.batch_size, device=device)
        learner_side = torch.where(rows < league_games, rows % 2, -1).to(torch.int8)
    # Process backend: each worker samples from its own seeded global RNG (collectors.py).
    sampler = policy_gen if cfg.collector.backend == "direct" else None
    policy = CollectPolicy(net, sampler, opponent=opponent, learner_side=learner_side,
                           act_fn=compile_update(act, acting_compile_mode(cfg), log=log,
                                                 what="the acting policy"))
    collector = make_collector(cfg, policy, device)
    update = compile_update(
        single_agent_update(make_population_update(cfg, net, reduce_grads=gradient_mean(group))),
        compile_mode(cfg), log=log)
    return {"device": device, "net": net, "policy_gen": policy_gen, "collector": collector,
            "policy": policy,
            "opponent": opponent, "learner_side": learner_side,
            "update": update, "gae": make_gae(cfg.ppo.gamma, cfg.ppo.gae_lambda)}


def fresh_carry(cfg, parts) -> dict:
    params = state_params(parts["net"]).detach().clone()
    return {"params": params, "opt_state": adam_init(params),
            "shuffle_gen": torch.Generator(device="cpu").manual_seed(cfg.seed + 1),
            "counters": {"iteration": 0, "optimizer_updates": 0, "frames": 0, "games": 0,
                         "train_seconds": 0.0, "lr_scales": [1.0], "member_rollbacks": [0]},
            "aim_hash": None, "evals": [],
            # League: past snapshots (CPU copies; the first is the initial network) and the
            # stream that picks one per iteration.
            "league_pool": [params.detach().cpu().clone()] if parts["opponent"] is not None else [],
            "league_gen": torch.Generator(device="cpu").manual_seed(cfg.seed + 2)}


def pick_league_opponent(carry: dict, parts) -> int | None:
    """Load a uniformly chosen pool snapshot into the opponent network; its index (or None)."""
    if parts["opponent"] is None or not carry["league_pool"]:
        return None
    index = int(torch.randint(len(carry["league_pool"]), (1,), generator=carry["league_gen"]))
    state_params(parts["opponent"]).data.update_(carry["league_pool"][index].to(parts["device"]))
    return index


def grow_league_pool(carry: dict, cfg) -> None:
    if cfg.league.fraction > 0 and carry["counters"]["iteration"] % cfg.league.snapshot_every == 0:
        carry["league_pool"].append(carry["params"].detach().cpu().clone())
        del carry["league_pool"][:-cfg.league.pool_size]


def checkpoint_payload(cfg, carry, parts) -> dict:
    games = (carrier(parts["collector"]).select(*CARRIED_KEYS).cpu().to_dict()
             if backend_of(parts["collector"]) == "direct" else {})  # process: in the workers
    return {
        "format": dict(CHECKPOINT_FORMAT), "config": to_yaml(cfg),
        "model": {k: str(v) for k, v in cfg.model.items()},
        "params": carry["params"].cpu().to_dict(),
        "opt_state": carry["opt_state"].cpu().to_dict(),
        "counters": dict(carry["counters"]), "aim_hash": carry["aim_hash"] or "",
        "evals": list(carry["evals"]),
        # per-rank entries (distributed.RANK_KEYS): each rank's own streams and games
        "rng": {"global": rng_snapshot(), "policy": parts["policy_gen"].get_state(),
                "shuffle": carry["shuffle_gen"].get_state(),
                "league": carry["league_gen"].get_state()},
        "games": games,
        "league": {"pool": [p.cpu().to_dict() for p in carry["league_pool"]]},
    }


def restore(payload: dict, cfg, parts, source: str = "checkpoint") -> dict:
    """A carry from a checkpoint payload; refuses a checkpoint of another model or encoding.

    The payload passed its checksum, so a structural problem means a file written by something
    else (or tampered with and re-summed): reported as CheckpointError naming `source`.
    """
    try:
        return _restore(payload, cfg, parts, source)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as err:
        raise CheckpointError(f"{source}: malformed checkpoint "
                              f"({type(err).__name__}: {first_line(err, 160)})") from None


def _population_of_one_counters(counters: dict) -> dict:
    """Counters of checkpoints written before one agent trained as a population of one."""
    if "lr_scale" in counters:
        counters["lr_scales"] = [counters.pop("lr_scale")]
    if "rollbacks" in counters:
        counters["member_rollbacks"] = [counters.pop("rollbacks")]
    return counters


def _restore(payload: dict, cfg, parts, source: str) -> dict:
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint action/observation encoding {payload.get('format')} "
                              f"does not match this build's {CHECKPOINT_FORMAT}")
    device = parts["device"]
    params = TensorDict(payload["params"]).to(device)
    check_param_shapes(state_params(parts["net"]), params, source)
    carry = {"params": params, "opt_state": TensorDict(payload["opt_state"]).to(device),
             "shuffle_gen": torch.Generator(device="cpu"),
             "counters": _population_of_one_counters(dict(payload["counters"])),
             "aim_hash": payload["aim_hash"] or None, "evals": list(payload["evals"])}
    league = payload.get("league", {"pool": []})
    carry["league_pool"] = [TensorDict(p) for p in league["pool"]]
    carry["league_gen"] = torch.Generator(device="cpu")
    if "rng" in payload:
        carry["shuffle_gen"].set_state(payload["rng"]["shuffle"])
        # older checkpoints kept the league's stream with its pool
        league_rng = payload["rng"].get("league", league.get("rng"))
        if league_rng is not None:
            carry["league_gen"].set_state(league_rng)
    else:  # a rank the checkpoint's group did not have (distributed.rank_payload)
        carry["shuffle_gen"].manual_seed(cfg.seed + 1 + carry["counters"]["iteration"])
        carry["league_gen"].manual_seed(cfg.seed + 2 + carry["counters"]["iteration"])
    for snapshot in carry["league_pool"]:
        check_param_shapes(state_params(parts["net"]), snapshot, f"{source} (league pool)")
    if "rng" in payload:
        parts["policy_gen"].set_state(payload["rng"]["policy"])
        rng_restore(payload["rng"]["global"])
    if payload.get("games") and backend_of(parts["collector"]) == "direct":
        restore_carrier(parts["collector"], TensorDict(payload["games"]))
    state_params(parts["net"]).data.update_(params)
    return carry
