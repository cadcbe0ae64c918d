"""What the trainer shows Aim at each evaluation besides numbers: one of the agent's evaluation
games (its value timeline as a figure, boards with the policy's top moves at the biggest value
swings as images), and distributions (the advantages before and after normalisation, the
policy's entropy by game phase).

All of it comes from data the evaluation and the last iteration already hold, plus a few forward
passes: a fraction of a second against the evaluation's minute (docs/insight.md measures it).
"""

from __future__ import annotations

import torch

from ..env.compact import network_input
from ..insight.analyze import game_report, position_report, swings
from ..insight.board import board_svg
from ..insight.render import RenderUnavailable, png_image, timeline_figure
from ..models import masked_entropy, masked_log_softmax, members_forward
from . import tracking

# Game phases for the entropy distributions, by ply (the opening suite ends by ply 24).
PHASES = (("opening", 0, 24), ("middlegame", 24, 80), ("endgame", 80, 10**9))
SAMPLE_POSITIONS = 2048
_warned: set[str] = set()


def track_sample_game(aim_run, agent, record, iteration: int, log=print) -> None:
    """The value timeline and 4 boards (the 3 biggest swings and the last position) of one
    evaluation game."""
    report = game_report(agent, record)
    plies = report["plies"]
    if not plies:
        return
    title = (f"it {iteration}: {record.black} (Black) vs {record.white}: {record.winner} "
             f"({record.reason}), {len(plies)} plies")
    tracking.track_figure(aim_run, "insight/value_timeline", timeline_figure(plies, title),
                          iteration)
    marks = [i for i in swings(plies, 3) if i < len(plies)] + [len(plies) - 1]
    images, captions = [], []
    try:
        for i in dict.fromkeys(marks):
            p = plies[i]
            top = position_report(agent, p["sfen"], top=3, saliency=False)["moves"][:3]
            svg = board_svg(p["sfen"], style="letters", arrows=[(m["move"], m["prob"])
                                                                 for m in top],
                            last_move=plies[i - 1]["move"] if i else None,
                            title=f"ply {i}, played {p['move']}")
            images.append(png_image(svg))
            captions.append(f"ply {i}: {p['mover']} played {p['move']} (policy "
                            f"{100 * p['prob']:.0f}%, rank {p['rank']}); value for Black "
                            f"{p['value_black']:+.2f}")
    except RenderUnavailable as err:
        if "png" not in _warned:
            _warned.add("png")
            log(f"warning: no board images in Aim: {err}")
        return
    tracking.track_images(aim_run, "insight/boards", images, iteration, captions)


@torch.no_grad()
def track_distributions(aim_run, agent, flat, max_plies: int, iteration: int) -> None:
    """Member 0's last training batch [N] (stored positions): advantages (PPO) before and after
    normalisation, and the policy's entropy over a sample of its positions by game phase."""
    if "advantage" in flat.keys():
        adv = flat.get("advantage").float().flatten()
        tracking.track_distribution(aim_run, "insight/advantage", adv.numpy(), iteration,
                                    {"normalised": "no"})
        # the loss normalises per minibatch; over the whole batch here
        tracking.track_distribution(aim_run, "insight/advantage",
                                    ((adv - adv.mean()) / (adv.std() + 1e-8)).numpy(),
                                    iteration, {"normalised": "yes"})
    sample = flat[:SAMPLE_POSITIONS]
    inputs = network_input(sample, max_plies, attacks=agent.spec.attacks)
    logits, _ = members_forward(agent.params, inputs.get("observation")[None], agent.spec)
    mask = inputs.get("action_mask")
    entropy = masked_entropy(masked_log_softmax(logits[0].float(), mask), mask)
    ply = sample.get(("game", "ply")).long()
    for name, low, high in PHASES:
        chosen = (ply >= low) & (ply < high)
        if bool(chosen.any()):
            tracking.track_distribution(aim_run, "insight/policy_entropy",
                                        entropy[chosen].numpy(), iteration, {"phase": name})
