"""`keisei-fn play`: whole games through the loop with scripted input, records, board drawing."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from rich.console import Console

from keisei_fn.agent import load_agent
from keisei_fn.apps.play import (Game, legal_moves, new_game, play, position, push_move,
                                  render_game, render_position, take_back)
from keisei_fn.shogi import from_sfen, to_sfen
from keisei_fn.config import load_config
from keisei_fn.run.train import train
from _tiny import TINY

ROOT = Path(__file__).resolve().parent.parent
START = "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    run = tmp_path_factory.mktemp("play_run")
    train(load_config(None, TINY + [f"run_dir={run}", "total_updates=1"]), log=lambda *a: None)
    return load_agent(run)[0]


def scripted(*lines):
    """An input function answering the prompts with `lines`, then end of input (EOFError)."""
    queue = list(lines)

    def read(prompt: str) -> str:
        if not queue:
            raise EOFError
        return queue.pop(0)

    return read


def run(net, *lines, human=0, max_plies=512, letters="western") -> tuple[Game, str]:
    out = io.StringIO()
    console = Console(file=out, width=1000, color_system=None)
    game = play(net, new_game(human, max_plies), scripted(*lines), console, letters=letters)
    return game, out.getvalue()


def sfen(game: Game) -> str:
    return to_sfen(position(game))[0]


def same_state(a, b) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a.keys())


def test_illegal_and_malformed_input_is_rejected_with_the_legal_moves(net):
    game, out = run(net, "hello", "7g7e", "P*5e", "7g7f")
    assert game.moves[0] == "7g7f" and len(game.moves) == 2  # the agent replied
    assert out.count("not a legal move here") == 3
    assert "'7g7e'" in out and "'P*5e'" in out
    assert "legal moves (30): " in out  # the 30 moves of the start position, listed
    listed = out.split("legal moves (30): ")[1].split("\n")[0].split()
    assert listed == legal_moves(new_game(0).states[0]) and "2g2f" in listed
    assert f"agent plays {game.moves[1]} (eval " in out


def test_undo_restores_the_exact_previous_position(net):
    before, _ = run(net, "7g7f")  # argmax agent: the same reply every time
    game, out = run(net, "7g7f", "2g2f", "undo")
    assert "took back 2 plies" in out
    assert game.moves == before.moves and sfen(game) == sfen(before)
    assert same_state(position(game), position(before))  # histories included
    # Undoing twice more returns to the start; then there is nothing left to undo.
    game, out = run(net, "7g7f", "undo", "undo")
    assert game.moves == () and sfen(game) == START
    assert "nothing to undo" in out
    # Playing White, the agent's first move cannot be taken back.
    game, out = run(net, "undo", human=1)
    assert len(game.moves) == 1 and "nothing to undo" in out


def test_take_back_goes_to_the_humans_previous_turn():
    game = new_game(0)
    for move in ("7g7f", "3c3d", "2g2f", "8c8d"):
        game = push_move(game, move)
    earlier = take_back(game)
    assert earlier.moves == ("7g7f", "3c3d")
    assert same_state(position(earlier), game.states[2])
    assert take_back(new_game(0)) is None


def test_save_writes_csa_that_cshogi_reads_with_the_same_moves(net, tmp_path):
    cshogi = pytest.importorskip("cshogi")
    from cshogi import CSA

    game, out = run(net, "7g7f", "2g2f", f"save {tmp_path / 'game'}", "quit", "6g6f")
    assert len(game.moves) == 4  # 'quit' ended the loop before 6g6f
    csa, usi = tmp_path / "game.csa", tmp_path / "game.usi"
    assert f"saved {csa} and {usi}" in out
    [parsed] = CSA.Parser.parse_file(str(csa))
    assert [cshogi.move_to_usi(m) for m in parsed.moves] == list(game.moves)
    assert parsed.endgame == "%CHUDAN"  # unfinished: interrupted, not a draw
    assert parsed.names == ["human", "agent"]
    assert usi.read_text() == "position startpos moves " + " ".join(game.moves) + "\n"


def test_save_without_a_name_uses_a_timestamped_file_in_the_current_directory(
        net, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run(net, "save")
    [csa] = tmp_path.glob("keisei-play-*.csa")
    assert csa.with_suffix(".usi").exists()


def test_resign_ends_the_game_with_the_agent_winning(net, tmp_path):
    cshogi = pytest.importorskip("cshogi")
    from cshogi import CSA

    game, out = run(net, "3c3d", "resign", "8c8d", "undo", f"save {tmp_path / 'r.csa'}",
                    human=1)
    assert game.ending == ("black", "resign")
    assert "you resigned: the agent wins" in out
    assert out.count("the game is over") == 2 and len(game.moves) == 3  # no move, no undo
    [parsed] = CSA.Parser.parse_file(str(tmp_path / "r.csa"))
    assert parsed.win == cshogi.BLACK_WIN and parsed.endgame == "%TORYO"
    assert [cshogi.move_to_usi(m) for m in parsed.moves] == list(game.moves)


def test_a_rule_ending_is_announced_with_the_result(net):
    game, out = run(net, "7g7f", max_plies=2)  # the agent's reply reaches the move cap
    assert game.ending == ("draw", "move_cap")
    assert "game over after 2 plies: move cap (2 plies): draw" in out


def test_mate_by_the_human_is_announced_as_a_win():
    # Black drops a gold on 5b: the White king on 5a is mated (silvers on 4c and 6c guard 5b).
    game = Game((from_sfen(["4k4/9/3S1S3/9/9/9/9/9/4K4 b G 1"]),), (), 0)
    game = push_move(game, "G*5b")
    assert game.ending == ("black", "mate")
    out = io.StringIO()
    play(None, game, scripted(), Console(file=out, width=1000, color_system=None))
    assert "checkmate (the agent has no legal move): you win" in out.getvalue()


def board_rows(text: str) -> list[str]:
    """The nine board lines, keyed by their rank letter."""
    return [line for line in text.splitlines() if line.rstrip()[-1:] in "abcdefghi"
            and line.rstrip()[-2:-1] == " "]


def test_render_start_position_western():
    text = render_position(START, "western").plain
    rows = board_rows(text)
    assert len(rows) == 9
    assert rows[0].startswith("vL vN vS vG vK vG vS vN vL ") and rows[0].endswith("a")
    assert rows[1].startswith(" . vR  .  .  .  .  . vB  . ")
    assert rows[6].startswith(" P " * 9) and rows[8].startswith(" L  N  S  G  K  G  S  N  L ")
    assert " 9  8  7  6  5  4  3  2  1" in text
    assert "move 1: Black (you) to move" in text
    assert "White (agent) in hand: -" in text and "Black (you) in hand: -" in text


def test_render_start_position_japanese():
    text = render_position(START, "japanese").plain
    rows = board_rows(text)
    assert rows[0].startswith("v香v桂v銀v金v王v金v銀v桂v香")
    assert rows[1].startswith(" ・v飛 ・ ・ ・ ・ ・v角 ・")
    assert rows[8].startswith(" 香 桂 銀 金 玉 金 銀 桂 香")


def test_the_board_is_drawn_from_the_human_s_side():
    text = render_position(START, "western", human=1).plain
    rows = board_rows(text)
    # White at the bottom: files 1..9 across, ranks i..a down; the far side (Black) marked v
    assert " 1  2  3  4  5  6  7  8  9" in text
    assert rows[0].startswith("vL vN vS vG vK vG vS vN vL ") and rows[0].endswith("i")
    assert rows[1].startswith(" . vR  .  .  .  .  . vB  . ")  # 2h and 8h, from the left
    assert rows[8].startswith(" L  N  S  G  K  G  S  N  L ") and rows[8].endswith("a")
    assert text.index("Black (agent) in hand") < text.index("White (you) in hand")


def test_hint_and_a_start_from_sfen(net):
    start = "lnsgkgsnl/1r5b1/ppppppppp/9/9/2P6/PP1PPPPPP/1B5R1/LNSGKGSNL w - 2"
    out = io.StringIO()
    console = Console(file=out, width=1000, color_system=None)
    game = play(net, new_game(1, sfen=start), scripted("hint", "quit"), console)
    out = out.getvalue()
    [hint] = [ln for ln in out.splitlines() if ln.startswith("hint: ")]
    moves = [part.split()[0] for part in hint.removeprefix("hint: ").split(";")]
    legal = legal_moves(game.states[0])
    assert len(moves) == 5 and set(moves) <= set(legal) and "for you" in hint
    assert game.moves == () and "move 2: White (you) to move" in out
    with pytest.raises(ValueError, match="SFEN|sfen"):
        new_game(0, sfen="not a position")


def test_predict_tells_the_rank_and_probability_of_the_guess_in_the_agent_s_policy(net):
    out = io.StringIO()
    console = Console(file=out, width=1000, color_system=None)
    game = play(net, new_game(1), scripted("7g7f", "quit"), console, predict=True)
    [told] = [ln for ln in out.getvalue().splitlines() if ln.startswith("you said 7g7f")]
    # the reference: the policy's probabilities of the legal moves straight from the network
    from keisei_fn.agent import evaluate
    from keisei_fn.shogi import initial_state, usi_to_action

    state = initial_state(1)
    logits, _ = evaluate(net, state)
    probs = torch.softmax(logits[0].float().masked_fill(~state["legal_mask"][0], -torch.inf), -1)
    p = float(probs[usi_to_action(state, ["7g7f"])[0]])
    rank = int((probs > p).sum()) + 1
    assert f"the agent's #{rank} ({100 * p:.0f}%), it plays {game.moves[0]}" in told
    assert f"Score: {int(game.moves[0] == '7g7f')}/1 exact, {int(rank <= 3)}/1 in its top 3" \
        in out.getvalue()


def test_render_hands_with_counts_after_captures():
    game = new_game(0)
    for move in ("7g7f", "3c3d", "8h2b+", "3a2b", "2g2f", "2b3c"):  # bishops traded
        game = push_move(game, move)
    western = render_game(game, "western").plain
    assert "Black (you) in hand: B×1" in western and "White (agent) in hand: B×1" in western
    sfen_with_hands = "lnsgkgsnl/1r5+B1/pppppp1pp/6p2/9/2P6/PP1PPPPPP/7R1/LNSGKGSNL w B2Pr3p 4"
    western = render_position(sfen_with_hands, "western", human=1).plain
    assert "Black (agent) in hand: B×1 P×2" in western
    assert "White (you) in hand: R×1 P×3" in western
    assert "move 4: White (you) to move" in western
    japanese = render_position(sfen_with_hands, "japanese").plain
    assert "角×1 歩×2" in japanese and "飛×1 歩×3" in japanese and " 馬" in japanese


def test_render_marks_the_agent_and_highlights_the_last_move():
    text = render_game(push_move(new_game(0), "7g7f"), "western")
    last = [text.plain[s.start:s.end] for s in text.spans if "reverse" in str(s.style)]
    assert last == [" P "]  # the destination 7f only
    agent = [text.plain[s.start:s.end] for s in text.spans if "red" in str(s.style)]
    assert agent.count("vP ") == 9 and not any(cell.startswith(" P") for cell in agent)


def test_cli_missing_checkpoint_is_a_one_line_error(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "keisei_fn.cli", "play", "--checkpoint", str(tmp_path / "nope")],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "keisei-fn play: error: checkpoint not found" in lines[0]


def test_candidates_say_what_the_search_proved(monkeypatch):
    # White to move, mated in two whatever it plays (tests/test_search.py checks it by brute
    # force); a network that knows nothing, so that only the rules' proof can say so
    import keisei_fn.agent.decision as decide_module
    from keisei_fn.apps.play import candidates

    monkeypatch.setattr(decide_module, "evaluator", lambda agent: lambda state: (
        torch.zeros(state["legal_mask"].shape), torch.zeros(state.batch_size[0])))
    state = from_sfen(["9/8k/5l+P+L1/9/9/9/9/9/K8 w - 2"])
    _, _, lines = candidates(None, state, simulations=128)
    assert len(lines) == 2 and all(line.endswith("loses by force in 2 plies") for line in lines)


def test_the_agent_in_play_is_our_default_player(monkeypatch):
    """`play` (and `watch`) choose as a player spec's `PATH` does: a mate in one first, then the
    policy's move under the material veto; with --simulations, the search. cshogi judges the
    mates."""
    import cshogi

    import keisei_fn.agent.decision as decide_module
    from keisei_fn.agent import PLAY_MATERIAL_MARGIN, player_settings, usi_moves
    from keisei_fn.apps.play import candidates

    def knows_nothing(state):  # a uniform policy over the legal moves, a value of 0
        mask = state["legal_mask"]
        uniform = -torch.log(mask.sum(-1, keepdim=True).float())
        return uniform.expand(mask.shape).masked_fill(~mask, -torch.inf), torch.zeros(len(mask))

    monkeypatch.setattr(decide_module, "evaluator", lambda agent: knows_nothing)
    monkeypatch.setattr(decide_module, "evaluate", lambda agent, state: knows_nothing(state))
    probes = Path(__file__).resolve().parents[1] / "keisei_fn" / "insight" / "value_probes.txt"
    sfens = [line.split("\t")[1].strip() for line in probes.read_text().splitlines()
             if line.startswith("mate1\t")][:8]

    def mates(sfen: str, usi: str) -> bool:
        board = cshogi.Board(sfen)
        board.push_usi(usi)
        return board.is_game_over()

    for simulations in (0, 8):
        played = [candidates(None, from_sfen([s]), simulations)[0] for s in sfens]
        assert all(mates(s, u) for s, u in zip(sfens, played)), (simulations, played)
    # a network that knows nothing would not find them alone: the test can fail
    policy_alone = [usi for s in sfens for usi in [legal_moves(from_sfen([s]))[0]]]
    assert not all(mates(s, u) for s, u in zip(sfens, policy_alone))
    # the mate is ranked first once, with its own prior (uniform here) and what the search saw
    from keisei_fn.agent import decide

    start = "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"
    both = from_sfen([sfens[0], start])  # one position without a mate: the search runs
    for simulations in (0, 16):
        found = decide(None, both, player_settings(simulations, top=0),
                       torch.Generator().manual_seed(0))
        assert mates(sfens[0], usi_moves(both[:1], found.action[:1])[0])
        row = [c for c in found.candidates[0].tolist() if c >= 0]
        assert row[0] == int(found.action[0]) and len(set(row)) == len(row)
        legal = int(both["legal_mask"][0].sum())
        assert float(found.prior[0, 0]) == pytest.approx(1 / legal)
        assert int(found.forced[0, 0]) == 1 and float(found.value[0]) == 1.0
    assert player_settings().material_margin == PLAY_MATERIAL_MARGIN
    assert player_settings().material_quiet == 2 and player_settings(8).material_quiet == 0
    assert player_settings(8, q_range=1.0).gumbel.q_range == 1.0


@pytest.mark.parametrize("command", [["play", "--checkpoint", "reference"], ["watch", "reference"],
                                     ["analyze", "--checkpoint", "reference",
                                      "--sfen", "startpos"]])
@pytest.mark.parametrize("q_range", ["2.5", "-1", "nan"])
def test_a_q_range_outside_0_to_2_is_one_line_before_anything_loads(command, q_range, capsys):
    from keisei_fn.cli import main

    assert main([*command, "--simulations", "8", "--q-range", q_range]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--q-range must be from 0 to 2, got {float(q_range)}" in err[0]


@pytest.mark.parametrize("command", [["play", "--checkpoint", "reference"], ["watch", "reference"],
                                     ["analyze", "--checkpoint", "reference",
                                      "--sfen", "startpos"]])
def test_compiled_without_simulations_is_one_line_before_anything_loads(command, capsys):
    from keisei_fn.cli import main

    assert main([*command, "--compiled"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--compiled compiles the search: give --simulations N too" in err[0]
    with pytest.raises(SystemExit):  # argparse: guard is 0, 1 or 3
        main([*command, "--guard", "2"])
    assert "invalid choice: 2" in capsys.readouterr().err


def test_play_and_watch_play_the_search_row_s_player(monkeypatch, capsys):
    """--simulations 1100 --compiled --guard 3 (issue 29's search row) reach the player's
    settings in `play` and `watch`, and `candidates` and `analyze` decide with them."""
    import keisei_fn.apps.play as play_module
    import keisei_fn.apps.watch as watch_module
    from keisei_fn.agent import player_settings
    from keisei_fn.cli import main

    asked = {}
    monkeypatch.setattr(play_module, "play", lambda *a, **kw: asked.setdefault("play", kw))
    monkeypatch.setattr(watch_module, "watch", lambda *a, **kw: asked.setdefault("watch", kw))
    row = ["--simulations", "1100", "--compiled", "--guard", "3"]
    assert main(["play", "--checkpoint", "reference", *row]) == 0
    assert main(["watch", "reference", *row]) == 0
    for name in ("play", "watch"):
        assert asked[name]["simulations"] == 1100, name
        assert asked[name]["options"] == {"q_range": 0.0, "guard": 3, "compiled": True}, name
    settings = player_settings(1100, **asked["play"]["options"])
    assert settings.guard == 3 and settings.gumbel.compiled and settings.search == "gumbel"
    assert player_settings().guard == 0 and not player_settings(8).gumbel.compiled

    decided = []
    real = play_module.decide
    monkeypatch.setattr(play_module, "decide", lambda agent, state, settings, *rest: (
        decided.append(settings), real(agent, state, settings, *rest))[1])
    import keisei_fn.agent.decision as decide_module
    monkeypatch.setattr(decide_module, "evaluate", lambda agent, state: (
        torch.zeros(state["legal_mask"].shape).masked_fill(~state["legal_mask"], -torch.inf),
        torch.zeros(state.batch_size[0])))
    play_module.candidates(None, from_sfen([START]), 0, options={"guard": 1})
    assert decided[-1].guard == 1 and decided[-1].material_margin > 0

    # `analyze`'s search: the same three options reach its settings (stopped there: no network)
    import keisei_fn.insight.analyze as analyze_module

    class Searched(Exception):
        pass

    def recording(agent, state, settings, *rest):
        decided.append(settings)
        if settings.search == "gumbel":
            raise Searched
        return real(agent, state, settings, *rest)

    monkeypatch.setattr(analyze_module, "decide", recording)
    monkeypatch.setattr(analyze_module, "value_saliency", lambda agent, state: None)
    monkeypatch.setattr("keisei_fn.agent.load_agent", lambda *a: (None, None))
    with pytest.raises(Searched):
        main(["analyze", "--checkpoint", "reference", "--sfen", "startpos", "--out", "x",
              "--simulations", "4", "--guard", "3", "--q-range", "0.5", "--compiled"])
    searched = decided[-1]
    assert searched.guard == 3 and searched.gumbel.q_range == 0.5 and searched.gumbel.compiled
    assert searched.gumbel.simulations == 4
    for ignored in (["--sfen", "startpos", "--guard", "1"],
                    ["--sfen", "startpos", "--q-range", "1"],
                    ["--record", "x.jsonl:0", "--simulations", "4", "--guard", "3"]):
        assert main(["analyze", "--checkpoint", "reference", *ignored]) == 2
        assert "give --sfen and --simulations N too" in capsys.readouterr().err
