"""`train_population(cfg)`: the training run of a population (population.size > 1).

The same pipeline as run.train, for K members at once: one TorchRL Collector over a [K*B]
ShogiEnv with the members' PopulationPolicy, GAE over every game row, the population update,
per-member metrics in one Aim run (context {"member": k}), per-member checkpoints of the whole
population (one file), evaluation of every member, and a ranking table at the end. Each member is
also exported as a single-agent checkpoint under RUN_DIR/members/member_K, which `keisei-fn eval`,
`usi` and `play` load (members against each other: `keisei-fn eval --agent A --opponent B`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from tensordict import TensorDict

from . import distributed
from ..models import build_model, param_count
from ..ratings.elo import fit
from ..algos.ppo.advantage import make_gae
from ..algos.ppo.batch import rollout_to_batch
from ..checkpoint import CheckpointError, check_param_shapes, save_checkpoint
from ..collect.collectors import make_collector
from ..learn.compile import acting_compile_mode, compile_mode, compile_update
from ..config import to_yaml
from .distributed import SINGLE, gradient_mean
from .driver import Steps, drive
from .evaluate import format_match, match_progress, play_match
from ..checkpoint import CHECKPOINT_FORMAT
from .single import rng_restore, rng_snapshot
from ..learn.optim import adam_init
from ..learn.population import (PopulationPolicy, act_members, init_members, learn_population,
                                make_population_update, member_config, member_net, member_seeds)
from .progress import make_console
from .session import make_checkpointer, namespaced, open_tracking, prepare_process, start_or_resume
from ..collect.rollout import CARRIED_KEYS, carrier, restore_carrier
from ..collect.stats import game_stats
from .._errors import first_line
from ..arena.match import play_match as arena_match
from ..arena.opponents import agent_player


def population_batch(rollout, after, policy, gae, cfg) -> TensorDict:
    """rollout_to_batch over the [K*B, T] rollout, as [K, B*T]: member k's rows are k*B ... (all
    moves are the learner's: populations play no league games)."""
    return rollout_to_batch(rollout, after, lambda obs: policy.outputs(obs)[1].flatten(0, 1), gae,
                            cfg.ppo).reshape(cfg.population.size, -1)


def build_population(cfg, log=print, group=SINGLE) -> dict:
    device = torch.device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {cfg.device!r} requested but CUDA is not available")
    members = cfg.population.size
    params = init_members(cfg, device)
    net = build_model(cfg.model).to(device)  # the loop backend's module; evaluation template
    generators = [torch.Generator(device=device).manual_seed(s) for s in member_seeds(cfg)]
    act_fn = compile_update(act_members, acting_compile_mode(cfg), log=log,
                            what="the acting policy")
    policy = PopulationPolicy(net, params.clone(), generators, cfg.population.backend,
                              act_fn=act_fn)
    # direct only (config.py): member k's rows k*B ... k*B+B-1 must stay in one env batch
    collector = make_collector(cfg, policy, device, games=members * cfg.env.batch_size)
    return {"device": device, "net": net, "initial_params": params, "policy": policy,
            "collector": collector,
            "update": compile_update(make_population_update(cfg, net, gradient_mean(group)),
                                     compile_mode(cfg), log=log),
            "gae": make_gae(cfg.ppo.gamma, cfg.ppo.gae_lambda)}


def fresh_population_carry(cfg, parts) -> dict:
    params = parts["initial_params"]
    return {"params": params, "opt_state": torch.stack([adam_init(p) for p in params.unbind(0)]),
            "shuffle_gens": [torch.Generator(device="cpu").manual_seed(s + 1)
                             for s in member_seeds(cfg)],
            "counters": {"iteration": 0, "optimizer_updates": 0, "frames": 0, "games": 0,
                         "train_seconds": 0.0, "lr_scales": [1.0] * cfg.population.size,
                         "member_rollbacks": [0] * cfg.population.size,
                         "member_games": [0] * cfg.population.size},
            "aim_hash": None, "evals": []}


def population_payload(cfg, carry, parts) -> dict:
    games = carrier(parts["collector"]).select(*CARRIED_KEYS)
    return {
        "format": dict(CHECKPOINT_FORMAT), "population": cfg.population.size,
        "config": to_yaml(cfg), "model": {k: str(v) for k, v in cfg.model.items()},
        "params": carry["params"].cpu().to_dict(), "opt_state": carry["opt_state"].cpu().to_dict(),
        "counters": json.loads(json.dumps(carry["counters"])), "aim_hash": carry["aim_hash"] or "",
        "evals": list(carry["evals"]),
        "rng": {"global": rng_snapshot(),
                "policy": [g.get_state() for g in parts["policy"].generators],
                "shuffle": [g.get_state() for g in carry["shuffle_gens"]]},
        "games": games.cpu().to_dict(),
    }


def restore_population(payload: dict, cfg, parts, source: str) -> dict:
    try:
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{source}: action/observation encoding {payload.get('format')} "
                                  f"does not match this build's {CHECKPOINT_FORMAT}")
        if payload.get("population") != cfg.population.size:
            raise CheckpointError(f"{source}: holds a population of {payload.get('population')}, "
                                  f"the config asks for population.size={cfg.population.size}")
        device = parts["device"]
        params = TensorDict(payload["params"], batch_size=[cfg.population.size]).to(device)
        check_param_shapes(parts["initial_params"], params, source)
        carry = {"params": params,
                 "opt_state": TensorDict(payload["opt_state"],
                                         batch_size=[cfg.population.size]).to(device),
                 "shuffle_gens": [], "counters": dict(payload["counters"]),
                 "aim_hash": payload["aim_hash"] or None, "evals": list(payload["evals"])}
        if "rng" in payload:
            for state in payload["rng"]["shuffle"]:
                carry["shuffle_gens"].append(torch.Generator(device="cpu"))
                carry["shuffle_gens"][-1].set_state(state)
            for g, state in zip(parts["policy"].generators, payload["rng"]["policy"],
                                strict=True):
                g.set_state(state)
            rng_restore(payload["rng"]["global"])
        else:  # a rank the checkpoint's group did not have: fresh streams (distributed.py)
            carry["shuffle_gens"] = [
                torch.Generator(device="cpu").manual_seed(s + 1 + carry["counters"]["iteration"])
                for s in member_seeds(cfg)]
        if payload.get("games"):
            restore_carrier(parts["collector"], TensorDict(payload["games"]))
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as err:
        raise CheckpointError(f"{source}: malformed population checkpoint "
                              f"({type(err).__name__}: {first_line(err, 160)})") from None
    parts["policy"].params.update_(params)
    return carry


def export_members(cfg, carry, run_dir: Path, iteration: int) -> list[Path]:
    """Each member as a single-agent checkpoint (what load_agent reads) under members/member_K."""
    paths = []
    for k in range(cfg.population.size):
        payload = {"format": dict(CHECKPOINT_FORMAT), "config": to_yaml(member_config(cfg, k)),
                   "model": {n: str(v) for n, v in cfg.model.items()},
                   "params": carry["params"][k].cpu().to_dict(), "member_of": str(run_dir),
                   "member": k}
        paths.append(save_checkpoint(payload, run_dir / "members" / f"member_{k}", iteration,
                                     keep=1))
    return paths


def evaluate_members(cfg, carry, parts, console) -> list[dict]:
    iteration = carry["counters"]["iteration"]
    results = []
    for k in range(cfg.population.size):
        net = member_net(cfg, carry["params"], k, parts["device"])
        for i, opponent in enumerate(cfg.eval.opponents):
            r = play_match(net, opponent, cfg.eval.games, max_plies=cfg.eval.max_plies,
                           impasse=cfg.eval.impasse, seed=cfg.seed * 1000 + i,
                           greedy=cfg.eval.greedy_policy,
                           device=cfg.device, progress=match_progress(
                               console.print, f"eval @ it {iteration} member {k} vs {opponent}",
                               cfg.eval.games))
            r.update(iteration=iteration, member=k)
            results.append(r)
            console.print(f"eval @ it {iteration} member {k}: {format_match(r)}")
    return results


def round_robin(cfg, carry, parts) -> list[tuple[str, str, float]]:
    """`population.round_robin_games` games between every pair of members, each sampling from
    its policy at temperature 1 (argmax players would replay the same two games), half with each
    colour, all of a pair's games in one batch: (member a, member b, a's score) per game."""
    games = cfg.population.round_robin_games
    if games == 0:
        return []
    players = [agent_player(f"member {k}", member_net(cfg, carry["params"], k, parts["device"]),
                            temperature=1.0) for k in range(cfg.population.size)]
    results = []
    for i in range(len(players)):
        for j in range(i + 1, len(players)):
            records = arena_match(players[i], players[j], games, max_plies=cfg.eval.max_plies,
                                  seed=cfg.seed * 1000 + 100 * i + j, device=cfg.device,
                                  impasse=cfg.eval.impasse)
            results += [(players[i].name, players[j].name, r.score_for(players[i].name))
                        for r in records]
    return results


def ranking(cfg, results: list[dict], pairs: list[tuple[str, str, float]] = ()):
    """Members ranked by Bradley-Terry Elo (random = 0) from their latest evaluation games: those
    against the fixed opponents and the round robin between members."""
    games = list(pairs)
    for r in results:
        me = f"member {r['member']}"
        games += [(me, r["opponent"], 1.0)] * r["wins"] + [(me, r["opponent"], 0.5)] * r["draws"]
        games += [(me, r["opponent"], 0.0)] * r["losses"]
    ratings = fit(games)
    rows = []
    for k in range(cfg.population.size):
        member = member_config(cfg, k)
        elo, low, high = ratings.of(f"member {k}")
        row = {"member": k, "seed": member.seed, "lr": member.optim.lr,
               "entropy_coef": member.ppo.entropy_coef, "elo": elo, "elo_low": low,
               "elo_high": high}
        for r in results:
            if r["member"] == k:
                row[f"score_{r['opponent']}"] = r["score"]
        mine = [s if a == f"member {k}" else 1 - s for a, b, s in pairs
                if f"member {k}" in (a, b)]
        if mine:
            row["score_members"] = sum(mine) / len(mine)
        rows.append(row)
    rows.sort(key=lambda row: -row["elo"])
    return rows


def print_ranking(rows: list[dict], opponents, console) -> None:
    from rich.table import Table

    table = Table(title="population ranking (Elo: Bradley-Terry over the evaluation games, "
                        "random = 0)")
    columns = [*opponents, *(["members"] if any("score_members" in r for r in rows) else [])]
    for name in ("rank", "member", "seed", "lr", "entropy", "Elo", "95% CI",
                 *[f"vs {o}" for o in columns]):
        table.add_column(name, justify="right")
    for i, row in enumerate(rows, 1):
        table.add_row(str(i), str(row["member"]), str(row["seed"]), f"{row['lr']:.2g}",
                      f"{row['entropy_coef']:.3g}",
                      f"{row['elo']:+.0f}", f"{row['elo_low']:+.0f}..{row['elo_high']:+.0f}",
                      *[f"{100 * row.get(f'score_{o}', float('nan')):.1f}%" for o in columns])
    from rich.console import Console

    # On stdout with the summary; logs and pipes would get rich's 80 columns, too narrow for it.
    Console(highlight=False, width=None if console.is_terminal else 120).print(table)


def train_population(cfg, resume: bool = False, log=None, group=SINGLE) -> dict:
    """Run (or continue) the population training described by `cfg`; returns the summary.
    In a data-parallel group every rank holds the whole population (distributed.py)."""
    console = make_console()
    log = distributed.rank_log(group, log or console.print)
    run_dir = Path(cfg.run_dir)
    prepare_process(cfg)
    parts = build_population(cfg, log=log, group=group)
    collector, policy, members = parts["collector"], parts["policy"], cfg.population.size
    carry = start_or_resume(
        cfg, resume, lambda payload, source: restore_population(payload, cfg, parts, source),
        lambda: fresh_population_carry(cfg, parts), log, group)
    policy.params.update_(carry["params"])
    log(f"run dir {run_dir} | population of {members} ({cfg.population.backend}) | model "
        f"{cfg.model.arch} {cfg.model.blocks}x{cfg.model.channels} "
        f"({param_count(parts['net']):,} params each) | {members} x {cfg.env.batch_size} games x "
        f"{cfg.ppo.rollout_steps} steps per iteration | device {cfg.device}"
        f"{distributed.describe(group)}")
    aim_run, tracking = open_tracking(cfg, carry, group)

    checkpoint = make_checkpointer(
        cfg, carry, lambda: population_payload(cfg, carry, parts), log, group,
        also=lambda iteration: export_members(cfg, carry, run_dir, iteration))

    def evaluate():
        results = evaluate_members(cfg, carry, parts, console)
        carry["evals"].extend(results)
        pairs = round_robin(cfg, carry, parts)
        rows = ranking(cfg, results, pairs)
        (run_dir / "ranking.json").write_text(json.dumps(rows, indent=1))
        if aim_run is not None:
            for r in results:
                tracking.track_metrics(aim_run, {f"eval_{r['opponent']}/{k}": r[k] for k in
                                                 ("win_rate", "score", "wins", "draws", "losses")},
                                       r["iteration"], context={"member": str(r["member"])})
            for row in rows:
                tracking.track_metrics(aim_run, {"eval/elo": row["elo"]}, c["iteration"],
                                       context={"member": str(row["member"])})
        return results, rows

    c = carry["counters"]
    iterator = iter(collector)

    def iterate() -> dict:
        t0 = time.perf_counter()
        rollout = next(iterator)
        batch = population_batch(rollout, carrier(collector), policy, parts["gae"], cfg)
        rows = cfg.env.batch_size
        stats = distributed.merge_game_stats(
            group, [game_stats(rollout[k * rows:(k + 1) * rows]) for k in range(members)])
        t1 = time.perf_counter()
        metrics = distributed.mean_metrics(
            group, learn_population(carry, batch, parts["update"], cfg, log=log))
        policy.params.update_(carry["params"])
        t2 = time.perf_counter()
        frames = rollout.numel() * group.world
        for m in metrics:
            m["collect_steps_per_s"] = frames / (t1 - t0)
            m["update_samples_per_s"] = frames * cfg.ppo.epochs / (t2 - t1)
        return {"frames": frames, "games": sum(s["games"] for s in stats),
                "member_metrics": metrics, "member_stats": stats,
                # the progress line shows the members' mean
                "metrics": {key: sum(m.get(key, 0.0) for m in metrics) / members
                            for key in metrics[0]},
                "stats": {"mean_length": sum(s["mean_length"] for s in stats) / members}}

    def record(step: dict) -> None:
        c["member_games"] = [g + int(s["games"])
                             for g, s in zip(c["member_games"], step["member_stats"])]
        if aim_run is not None:
            for k in range(members):
                tracking.track_metrics(aim_run, namespaced(step["member_metrics"][k],
                                                            step["member_stats"][k]),
                                       c["iteration"], context={"member": str(k)})

    def final() -> dict:
        done_now = [r for r in carry["evals"] if r["iteration"] == c["iteration"]]
        if done_now:
            results, rows = done_now, json.loads((run_dir / "ranking.json").read_text())
        else:
            results, rows = evaluate()
        print_ranking(rows, list(cfg.eval.opponents), console)
        log(f"members exported to {run_dir / 'members'} (load one with keisei-fn eval/usi/play)")
        return {"eval": results, "ranking": rows}

    try:
        summary = drive(cfg, group, carry, Steps(iterate, record, evaluate, final), checkpoint,
                        log, console)
        summary.setdefault("ranking", [])
        return summary
    finally:
        collector.shutdown()
        if aim_run is not None:
            tracking.close_run(aim_run)
