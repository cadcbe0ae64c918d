"""One iteration of Gumbel AlphaZero (algo=gumbel_az): searched self-play, finished games into
the replay buffers, then a fixed number of updates sampled from them.

    state, rollout, _ = collect(state)                   # every move by Gumbel search
    finished = collect_finished(state.pending, rollout)  # positions of games that ended
    buffers[k].extend(member k's finished positions)
    if every rank's buffers hold gumbel_az.min_buffer:   # agreed, so the all-reduces pair
        state, metrics = apply_updates(state, replay minibatches x replay_updates(cfg))
"""

from __future__ import annotations

import time

from ..algos.gumbel_az.replay import calibration, collect_finished, sample_minibatch, stored
from ..collect.stats import game_stats, pooled_stats
from ..learn.population import apply_updates, replay_updates
from ..learn.state import TrainState
from . import distributed


def _member_rows(td, k: int, rows: int):
    return td[k * rows:(k + 1) * rows]


def az_iteration(cfg, group, state: TrainState, parts, collect, log):
    """What `train.iteration` does for PPO: the new state and what it did."""
    members, rows, az = cfg.population.size, cfg.env.batch_size, cfg.gumbel_az
    policy = parts.policy
    t0 = time.perf_counter()
    sims0, search0 = policy.simulations_done, policy.search_seconds
    state, rollout, _ = collect(state)
    rollout.set(("next", "game_result"), rollout.get(("next", "reward")).clone())
    stats = []
    for k in range(members):
        _, finished = collect_finished(_member_rows(state.pending, k, rows),
                                       _member_rows(rollout, k, rows), az)
        stats.append(game_stats(_member_rows(rollout, k, rows)))
        if finished is not None:
            state.replay[k].extend(stored(finished))
            stats[k].update({f"search/{n}": v for n, v in calibration(finished).items()})
        stats[k]["replay/positions"] = float(len(state.replay[k]))
    stats = distributed.merge_game_stats(group, stats)
    seconds = policy.search_seconds - search0
    sims = (policy.simulations_done - sims0) * group.world
    t1 = time.perf_counter()
    emptiest = min(len(b) for b in state.replay)
    ready = min(distributed.all_gather(group, emptiest)) >= az.min_buffer
    metrics = [{} for _ in range(members)]
    if ready:
        updates = replay_updates(cfg)
        minibatches = (sample_minibatch(state.replay, cfg.env.max_plies) for _ in range(updates))
        state, metrics = apply_updates(state, minibatches, parts.update, cfg, updates, log)
        metrics = distributed.mean_metrics(group, metrics)
    t2 = time.perf_counter()
    frames = rollout.numel() * group.world
    for m in metrics:
        m["collect_steps_per_s"] = frames / (t1 - t0)
        m["simulations_per_s"] = sims / max(seconds, 1e-9)
        if ready:
            m["update_samples_per_s"] = (replay_updates(cfg) * az.minibatch_size * group.world
                                         / (t2 - t1))
    return state, {"frames": frames, "member_games": [int(s["games"]) for s in stats],
                   "member_metrics": metrics, "member_stats": stats,
                   # read only at an evaluation: member 0's oldest stored positions (read, not
                   # sampled, so that the sampler's stream stays the training's)
                   "insight_batch": lambda: state.replay[0][:2048] if len(state.replay[0])
                   else None,
                   "metrics": {key: sum(m.get(key, 0.0) for m in metrics) / members
                               for key in metrics[0]},
                   "stats": stats[0] if members == 1 else pooled_stats(stats)}

