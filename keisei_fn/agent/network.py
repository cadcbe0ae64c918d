"""A trained agent from a checkpoint: the network and how it picks moves.

Shared by evaluation, the USI engine and the terminal game, so every consumer reads checkpoints
the same verified way (`weights_only=True`, checksum, format and shape checks).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ._errors import first_line
import torch
from tensordict import TensorDict

from .models import build_model, state_params
from .shogi import observe
from .shogi.material import material_balance
from .checkpoint import CheckpointError, check_param_shapes, list_checkpoints, read_checkpoint
from .config import from_yaml, value_prior
from .checkpoint import CHECKPOINT_FORMAT
from .models import gumbel_sample, masked_log_softmax


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or the newest one in a run directory."""
    path = Path(path)
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise CheckpointError(f"no checkpoint in {path}")
        return found[-1]
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path


def load_agent(path: str | Path, device="cpu"):
    """(net in eval mode, config) from a checkpoint file or run directory."""
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
    net = build_model(cfg.model).to(device)
    params = TensorDict(payload["params"]).to(device)
    expected = state_params(net)
    check_param_shapes(expected, params, str(ckpt))
    expected.data.update_(params)
    net.eval()
    # The value head learned the shaped return (algos/ppo/batch.py): V'(s) = V(s) - Phi(s), with
    # Phi(s) = coef * material balance. The coefficient travels with its network, so that the
    # game's value V = V' + Phi can be read back (evaluate_position).
    net.material_shaping = float(value_prior(cfg))
    return net, cfg


@torch.no_grad()
def evaluate_position(net, state: TensorDict):
    """(log-probabilities over legal labels [B, 2187], value of the game for the side to move
    [B] in [-1, 1]).

    The value head's output plus the material-shaping potential it was trained without
    (`net.material_shaping`, set by `load_agent`; 0 for a network without it): search, the
    1-ply search and the reported scores need the game's value, not the shaped one."""
    logits, value = net(observe(state))
    value = value.float().squeeze(-1)
    coef = getattr(net, "material_shaping", 0.0)
    if coef:
        value = (value + coef * material_balance(state)).clamp(-1.0, 1.0)
    return masked_log_softmax(logits.float(), state["legal_mask"]), value


def network_evaluate(net):
    """The network as search's evaluator: (log-probabilities, value for the side to move)."""
    return partial(evaluate_position, net)


# Whether players (`PATH@sims=N`, `keisei-fn usi`, `play`, `analyze`) search each Sequential
# Halving round's visits side by side by default (docs/search.md, "Batched rounds").
PLAY_BATCHED_ROUNDS = False


@torch.no_grad()
def search_moves(net, state: TensorDict, generator: torch.Generator | None, simulations: int,
                 max_considered: int = 16, impasse: bool = True, stop=None,
                 gumbel_scale: float = 1.0, batched_rounds: bool = False) -> TensorDict:
    """Gumbel search with the network from every position (search/gumbel.py's outputs);
    `stop()` may end it early."""
    from .search.gumbel import search

    if generator is None:
        generator = torch.Generator(device=state.device).manual_seed(0)
    return search(state, network_evaluate(net), generator, simulations=simulations,
                  max_considered=max_considered, impasse=impasse, stop=stop,
                  gumbel_scale=gumbel_scale, batched_rounds=batched_rounds)


def choose_moves(net, state: TensorDict, temperature: float = 0.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Labels [B]: argmax of the policy (temperature 0) or a sample at `temperature`."""
    log_probs, _ = evaluate_position(net, state)
    if temperature <= 0:
        return log_probs.argmax(-1)
    return gumbel_sample(masked_log_softmax(log_probs / temperature, state["legal_mask"]),
                         generator)
