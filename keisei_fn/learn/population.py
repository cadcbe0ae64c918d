"""Population training: K agents in lockstep in one process, as one program.

Each member has its own parameters, Adam state, sampler and shuffle generators, and its own
`env.batch_size` games (rows k*B ... k*B + B - 1 of one [K*B] ShogiEnv batch), and may have its own
learning rate, entropy coefficient and seed (`population.*` lists). Members never see each
other's data, so the population is K independent runs computed together.

Two backends compute the same thing:

- "folded": all members' networks run as one network of grouped convolutions
  (models/_population.py), both when acting (collect/policy.act) and in the update; the update takes
  `torch.func.grad` of the members' summed loss (the algorithm's `population_loss`, e.g. PPO's
  ClipPPOLoss `torch.func.vmap`ped over members, so advantage normalisation, clipping and the
  metrics stay per member), then vmaps the same pure clip + Adam + non-finite-guard step a single
  agent uses (update.make_apply_gradients). Members' gradients are independent because the
  summed loss separates.
- "loop": a Python loop over members through the single agent's own update step (the
  algorithm's `member_loss`); the reference the folded backend is tested and benchmarked against.
  With identical settings it reproduces K single runs bit for bit (tests/test_population.py).

What is the algorithm's comes in as functions (algos/base.py); nothing here knows PPO or Gumbel
AlphaZero.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from omegaconf import OmegaConf
from tensordict import TensorDict, TensorDictBase

from .._errors import TrainingStopped
from ..config import MEMBER_KEYS
from ..env.compact import network_input
from ..models import build_model, state_params
from ..models import precision
from .optim import run_progress, scheduled
from .state import TrainState
from .update import make_apply_gradients, make_update_step


def member_seeds(cfg) -> list[int]:
    return list(cfg.population.seeds) or [cfg.seed + k for k in range(cfg.population.size)]


def member_config(cfg, k: int):
    """The single-agent config member `k` is trained with (its seed, lr, and the algorithm's
    options that `population.*` lists set per member: MEMBER_KEYS)."""
    member = OmegaConf.to_container(cfg, resolve=True)
    member["seed"] = member_seeds(cfg)[k]
    if cfg.population.lr:
        member["optim"]["lr"] = cfg.population.lr[k]
    for key in MEMBER_KEYS:
        if cfg.population[key]:
            member[cfg.algo][key] = cfg.population[key][k]
    member["population"].update(size=1, lr=[], seeds=[], **{key: [] for key in MEMBER_KEYS})
    member = OmegaConf.create(member)
    OmegaConf.set_readonly(member, True)
    return member


def init_members(cfg, device) -> TensorDict:
    """Members' initial parameters stacked [K]; member k's equal a single run's with its seed."""
    members = []
    for seed in member_seeds(cfg):
        torch.manual_seed(seed)
        members.append(state_params(build_model(cfg.model).to(device)).detach().clone())
    return torch.stack(members)


def loss_autocast(cfg) -> Callable:
    """The context a loss runs its network under (precision.autocast), resolved once here:
    inside the compiled step, reading the CPU's flags would break the graph."""
    device = torch.device(cfg.device)
    return partial(precision.autocast, precision.resolve(cfg.optim.precision, device), device)


def make_population_update(cfg, population_loss: Callable, member_loss: Callable | None = None,
                           reduce_grads: Callable | None = None) -> Callable:
    """`update(params[K], opt_state[K], batch[K, M], lr[K]) -> (params, opt_state, metrics[K])`.

    - `population_loss(params[K], batch[K, M]) -> (the members' summed loss, {name: [K]})`: the
      folded backend's (population.backend=folded).
    - `member_loss(k) -> loss_fn(params, batch) -> (loss, metrics)`: member k's alone, which the
      loop backend runs one member at a time (the reference).
    - `reduce_grads` (group.gradient_mean) averages the gradients over a data-parallel group
      before they are applied (whole population at once: one all-reduce per update)."""
    betas, eps, clip = tuple(cfg.optim.betas), cfg.optim.eps, cfg.optim.max_grad_norm
    if cfg.population.backend == "loop":
        if member_loss is None:
            raise ValueError(f"algo={cfg.algo} has no per-member loss for population.backend=loop")
        steps = [make_update_step(member_loss(k), betas, eps, clip, reduce_grads=reduce_grads)
                 for k in range(cfg.population.size)]

        def loop_update(params, opt_state, batch, lr):
            outs = [step(params[k], opt_state[k], batch[k], lr[k]) for k, step in enumerate(steps)]
            return tuple(torch.stack([o[i] for o in outs]) for i in range(3))

        return loop_update

    grad_fn = torch.func.grad(population_loss, has_aux=True)
    apply_gradients = torch.func.vmap(make_apply_gradients(betas, eps, clip))

    def folded_update(params, opt_state, batch, lr):
        grads, metrics = grad_fn(params, batch)
        if reduce_grads is not None:
            grads = reduce_grads(grads)
        params, opt_state, extra = apply_gradients(params, opt_state, grads, lr)
        metrics = TensorDict(metrics, batch_size=[lr.shape[0]])
        metrics.update(extra)
        return params, opt_state, metrics

    return folded_update


def member_learning_rates(cfg) -> list[float]:
    return [member_config(cfg, k).optim.lr for k in range(cfg.population.size)]


def gather_minibatch(batch: TensorDictBase, index: torch.Tensor, max_plies: int, *,
                     attacks: bool) -> TensorDictBase:
    """Stored batch [K, N] and per-member sample indices [K, M] -> minibatch [K, M] with its
    network input rebuilt (env.compact; `max_plies` is the env's, `attacks` the network's)."""
    rows = torch.arange(index.shape[0], device=index.device)[:, None]
    return network_input(batch.apply(lambda x: x[rows, index], batch_size=list(index.shape)),
                         max_plies, attacks=attacks)


def fork_generator(generator: torch.Generator) -> torch.Generator:
    """A new generator on the same device in the same state: drawing from it leaves `generator`
    where it was."""
    return torch.Generator(device=generator.device).set_state(generator.get_state())


def apply_updates(state: TrainState, minibatches, update, cfg, per_iteration: int,
                  log=print, kl_stop=None) -> tuple[TrainState, list[dict]]:
    """The update step over each minibatch [K, M] in turn, at the scheduled learning rates: the
    new state and per-member metrics (their means over the updates each member made).

    Non-finite updates are skipped in the step; a member with more than
    `optim.max_skipped_updates` in one iteration is rolled back to its start-of-iteration state
    with its learning rate halved, and the run stops (TrainingDiverged) after
    `optim.max_rollbacks` such rollbacks of one member. `per_iteration` (updates per iteration)
    places each update on the learning-rate schedule.

    `kl_stop=(updates per epoch, target, agree)`: after each epoch, a member whose mean
    `kl_approx` over that epoch (each measured before its update) reached `target` makes no
    more updates this iteration (one host sync per epoch); the rest go on, and the iteration
    ends when none is left. `agree(kl[K])` makes the decision the group's.
    """

    c = state.counters
    scales = list(c.lr_scales)
    params, opt_state, sums, made, count = _update_loop(state, minibatches, update, cfg,
                                                        per_iteration, scales, kl_stop)
    means = sums.apply(partial(_scale, 1.0 / made.clamp(min=1))).cpu()
    out, rollback = _member_metrics(means, made.cpu(), bool(sums.keys()), kl_stop, cfg,
                                    c.iteration, log)
    rollbacks = list(c.member_rollbacks)
    if rollback.any():
        params, opt_state = _roll_back(state, params, opt_state, rollback, scales, rollbacks,
                                       cfg, log)
    c = c.replace(optimizer_updates=c.optimizer_updates + count, lr_scales=tuple(scales),
                  member_rollbacks=tuple(rollbacks))
    return state.replace(params=params, opt_state=opt_state, counters=c), out


def _who(k: int, members: int) -> str:
    """How messages name member k ("" for a single agent)."""
    return f"member {k}, " if members > 1 else ""


def _update_loop(state: TrainState, minibatches, update, cfg, per_iteration: int,
                 scales: list[float], kl_stop):
    """The updates themselves: (params, opt_state, the members' summed metrics weighted by
    whether they updated, the updates each member made [K], the updates made)."""
    members = state.members
    params, opt_state = state.params, state.opt_state
    device = params.device
    peaks = member_learning_rates(cfg)
    sums = TensorDict({}, batch_size=[members])
    made = torch.zeros(members, device=device)  # updates each member made
    active = torch.ones(members, dtype=torch.bool, device=device)
    epoch_kl = torch.zeros(members, device=device)
    everyone = True  # every member still updating (kept on the host: no sync per update)
    per_epoch, target, agree = kl_stop if kl_stop is not None else (0, None, None)
    count = 0
    for mb in minibatches:
        progress = run_progress(cfg, state.counters, count, per_iteration)
        lr = torch.tensor([s * scheduled(cfg.optim.lr_schedule, peak, progress)
                           for s, peak in zip(scales, peaks)], device=device)
        new_params, new_opt, metrics = update(params, opt_state, mb, lr)
        if everyone:
            params, opt_state = new_params, new_opt
        else:  # some members stopped early: theirs stay as they are
            keep = partial(_select, active)
            params = new_params.apply(keep, params)
            opt_state = new_opt.apply(keep, opt_state)
        metrics["lr"] = lr
        weight = active.float()
        count += 1
        made += weight
        step = metrics.float().apply(partial(_scale, weight))
        sums = step if not sums.keys() else sums + step
        if per_epoch:
            epoch_kl += metrics["kl_approx"].float()
            if count % per_epoch == 0:
                kl = epoch_kl / per_epoch
                if agree is not None:
                    kl = agree(kl)
                active &= kl < target
                epoch_kl.zero_()
                everyone = bool(active.all())  # the one host sync of the epoch
                if not everyone and not active.any():
                    break
    return params, opt_state, sums, made, count


def _member_metrics(means: TensorDict, made: torch.Tensor, any_update: bool, kl_stop, cfg,
                    iteration: int, log) -> tuple[list[dict], torch.Tensor]:
    """Per-member metrics (epochs run, skipped updates, warned about) and which members skipped
    more updates than optim.max_skipped_updates allows [K]."""
    members = made.shape[0]
    per_epoch = kl_stop[0] if kl_stop is not None else 0
    out = [{k: float(v) for k, v in means[k].items() if k != "skipped"} for k in range(members)]
    rollback = torch.zeros(members, dtype=torch.bool)
    for k in range(members):
        if per_epoch:
            out[k]["epochs"] = float(made[k]) / per_epoch
        skipped = round(float(means[k]["skipped"]) * float(made[k])) if any_update else 0
        out[k]["skipped_updates"] = float(skipped)
        if skipped:
            log(f"warning: {_who(k, members)}iteration {iteration + 1}: {skipped} of "
                f"{int(made[k])} updates skipped (non-finite loss or gradient)")
        if skipped > cfg.optim.max_skipped_updates:
            rollback[k] = True
    return out, rollback


def _roll_back(state: TrainState, params, opt_state, rollback: torch.Tensor,
               scales: list[float], rollbacks: list[int], cfg, log):
    """The start-of-iteration rows of the members in `rollback`, their learning rates halved
    (in `scales`) and their rollbacks counted (in `rollbacks`); TrainingDiverged past
    optim.max_rollbacks."""
    members = state.members
    peaks = member_learning_rates(cfg)
    back = partial(_select, rollback.to(params.device))
    params = state.params.apply(back, params)
    opt_state = state.opt_state.apply(back, opt_state)
    for k in rollback.nonzero().flatten().tolist():
        rollbacks[k] += 1
        if rollbacks[k] > cfg.optim.max_rollbacks:
            raise TrainingDiverged(
                f"{_who(k, members)}non-finite updates persist after {cfg.optim.max_rollbacks} "
                f"rollbacks and learning-rate cuts (lr now {scales[k] * peaks[k]:.2e}); the "
                f"last checkpoint holds the last good parameters")
        scales[k] *= 0.5
        log(f"warning: rolled back {_who(k, members)}the updates of iteration "
            f"{state.counters.iteration + 1}; learning rate now {scales[k]:g} x "
            f"{'its ' if members > 1 else ''}optim.lr")
    return params, opt_state


def _select(rows: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """Member k's row of `new` where rows[k], else of `old`."""
    return torch.where(rows.view(-1, *[1] * (new.dim() - 1)), new, old)


def _scale(rows: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Member k's row of `value` times rows[k]."""
    return value * rows.view(-1, *[1] * (value.dim() - 1))


class TrainingDiverged(TrainingStopped):
    """Non-finite updates kept coming after every rollback and learning-rate cut."""
