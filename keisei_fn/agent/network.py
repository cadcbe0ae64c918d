"""A trained network as a player: `Agent` (one member's parameters, its architecture, the value
prior) and `evaluate`, the one way every consumer reads it.

Shared by evaluation, the USI engine, the terminal game, `analyze`, insight and self-play search,
so every consumer runs the same functional forward that learning differentiates
(`models.members_forward`) and reads checkpoints the same verified way (`weights_only=True`,
checksum, format and shape checks).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from tensordict import TensorDict, TensorDictBase

from .._errors import first_line
from ..checkpoint import (CHECKPOINT_FORMAT, CheckpointError, check_param_shapes,
                          list_checkpoints, read_checkpoint)
from ..config import from_yaml, value_prior
from ..models import (NetSpec, build_model, masked_log_softmax, members_forward, net_spec,
                      state_params)
from ..models import precision as _precision
from ..shogi import call_padded, observe
from ..shogi.material import MATERIAL_VALUE_PAWNS, capture_gain, material_balance
from .named import packaged_checkpoint


# `Agent.capture_floor`: the captures it applies to win at least this much at once (pawns, board
# plus hand: a lance or knight 8.5, a silver 12.5, a rook 21; a pawn's 2.1 and a promotion's 2 do
# not count), and its bound (a floor of one half leaves the network's own order some mass)
CAPTURE_FLOOR_MIN_GAIN = 5.0
MAX_CAPTURE_FLOOR = 0.5


@dataclass(frozen=True)
class Agent:
    """One network as a player.

    `params` are one member's parameters stacked on a leading [1] (the layout learning folds);
    `value_prior` is the material coefficient (per pawn) the value head learned without
    (PPO's potential-based shaping, Gumbel AZ's material prior): `evaluate` adds it back, so
    every reader sees the game's value. It travels in the checkpoint's config (`value_prior`).
    """

    params: TensorDictBase
    spec: NetSpec
    value_prior: float = 0.0
    precision: str = "fp32"
    material_weight: float = 0.0
    """the share of a material count, tanh(material balance / MATERIAL_VALUE_PAWNS), in the value
    every reader sees: (1 - w) x the network's + w x the count (the policy stays the network's).
    1 is the control player of a search that reads a material count
    (`PATH@sims=N,value=material`), which the learned value must beat; between, a blend
    (`value=blend:W`), as AlphaGo mixed its value network with rollouts"""
    capture_floor: float = 0.0
    """the least prior probability of a move that wins CAPTURE_FLOOR_MIN_GAIN pawns or more at
    once (`shogi.material.capture_gain`), the distribution then renormalised
    (`PATH@sims=N,capture=F`). The network's prior can put 1e-6 on a rook capture that refutes
    the move searched; a search's interior node then never visits it (its visits follow the
    prior until values say otherwise), where engines try captures first. 0: the network's own
    prior."""

    @property
    def device(self) -> torch.device:
        return self.params["stem", "weight"].device


def with_value_prior(value: torch.Tensor, state: TensorDictBase, coef: float) -> torch.Tensor:
    """The game's value for the side to move from the value head's `value` [B]: the head's
    output plus the material prior it learned without, clamped to [-1, 1]. The one place the
    prior is applied."""
    if not coef:
        return value
    return (value + coef * material_balance(state)).clamp(-1.0, 1.0)


def evaluate(agent: Agent, state: TensorDictBase):
    """(log-probabilities over the legal labels [B, 2187], the game's value for the side to move
    [B] in [-1, 1]), both float32; the network runs in `agent.precision`; the value is blended
    with a material count's where `agent.material_weight` says so; big captures get at least
    `agent.capture_floor` of the prior."""
    with _precision.autocast(agent.precision, state.device):
        logits, value = members_forward(agent.params,
                                        observe(state, attacks=agent.spec.attacks)[None],
                                        agent.spec)
    value = with_value_prior(value[0].float().squeeze(-1), state, agent.value_prior)
    if agent.material_weight > 0:
        count = torch.tanh(material_balance(state) / MATERIAL_VALUE_PAWNS)
        value = count if agent.material_weight >= 1 else torch.lerp(value, count,
                                                                     agent.material_weight)
    log_probs = masked_log_softmax(logits[0].float(), state["legal_mask"])
    if agent.capture_floor:
        big = (capture_gain(state) >= CAPTURE_FLOOR_MIN_GAIN) & state["legal_mask"]
        log_probs = torch.where(big, log_probs.clamp(min=math.log(agent.capture_floor)),
                                log_probs)
        log_probs = log_probs - torch.logsumexp(log_probs, -1, keepdim=True)
    return log_probs, value


def evaluator(agent: Agent):
    """`evaluate` bound to `agent`: search's evaluator (search/gumbel.py's `Evaluate`)."""
    return partial(evaluate, agent)


@functools.cache
def _compiled_evaluate():
    # one code object; torch.compile keeps a variant per padded batch (and per agent
    # architecture), made on first use
    return torch.compile(evaluate, fullgraph=True, dynamic=False)


def compiled_evaluator(agent: Agent):
    """`evaluator(agent)` under torch.compile, for search at small batches where the network's
    per-operation overhead is most of its cost (one position: ~0.6 ms against ~1.3 ms eager,
    2x32). Batches are padded to a power of two up to `shogi.compiled_step`'s MAX_BUCKET (the
    padding repeats the first position and is dropped), larger ones run eager; the first call
    of a batch size compiles it (seconds)."""
    def evaluate_compiled(state: TensorDictBase):
        return call_padded(lambda s: _compiled_evaluate()(agent, s), partial(evaluate, agent),
                           state)
    # the pure function and its argument, for a compiled search to trace into its own program
    evaluate_compiled.traceable = (evaluate, agent)
    return evaluate_compiled


def member_agent(cfg, params: TensorDictBase, k: int = 0, precision: str = "fp32") -> Agent:
    """Member k of a population's parameters [K] (a run's train state) as an `Agent`."""
    return Agent(params[k:k + 1], net_spec(cfg.model), float(value_prior(cfg)), precision)


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, the newest one in a run directory, or a packaged agent's (by name)."""
    packaged = packaged_checkpoint(str(path))
    if packaged is not None:
        if not packaged.is_file():
            raise CheckpointError(f"the packaged agent {path!r} is missing from this "
                                  f"installation ({packaged}): reinstall keisei_fn")
        return packaged
    path = Path(path)
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise CheckpointError(f"no checkpoint in {path}")
        return found[-1]
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path


def load_agent(path: str | Path, device="cpu") -> tuple[Agent, object]:
    """(the agent, its run's config) from a checkpoint file or run directory."""
    ckpt = resolve_checkpoint(path)
    payload = read_checkpoint(ckpt)
    try:
        return _build_agent(payload, ckpt, device)
    except (CheckpointError, ValueError):
        raise
    except (KeyError, TypeError, RuntimeError, AttributeError) as err:
        raise CheckpointError(f"{ckpt}: malformed checkpoint "
                              f"({type(err).__name__}: {first_line(err, 160)})") from None


def _build_agent(payload: dict, ckpt: Path, device):
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{ckpt}: action/observation encoding {payload.get('format')} does "
                              f"not match this build's {CHECKPOINT_FORMAT}")
    if payload.get("population"):
        members = ckpt.parent / "members"
        raise CheckpointError(f"{ckpt} holds a population of {payload['population']} agents; "
                              f"load one member instead, e.g. {members / 'member_0'}")
    cfg = from_yaml(payload["config"])
    params = TensorDict(payload["params"]).to(device)
    with torch.device("meta"):  # the expected names and shapes, without initialising anything
        expected = state_params(build_model(cfg.model))
    check_param_shapes(expected, params, str(ckpt))
    params = params.select(*expected.keys(True, True)).apply(lambda t: t.detach().float())
    return member_agent(cfg, params.unsqueeze(0)), cfg
