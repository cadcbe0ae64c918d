"""A game in the terminal, human against a trained agent: positions, commands, board drawing.

The game is plain data (`Game`: every position so far, the USI moves, the ending); each command is
a function from one `Game` to the next, so `undo` is dropping the last positions and the loop
(`play`) only reads a line, dispatches and prints. Input and output come in as arguments
(`input_fn`, a rich `Console`), which is how the tests drive whole games without a terminal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch
from rich.console import Console
from rich.text import Text

from ..agent import Settings, decide, player_settings, usi_moves
from ..shogi import (Reason, action_to_usi, from_sfen, initial_state, step, to_sfen,
                     usi_to_action)
# records' SFEN reader is the one the CSA writer trusts; the board is drawn from the same parse.
from ..arena.records import HAND_ORDER, KANJI, RANKS, GameRecord, parse_sfen, to_csa, usi_position
from .predict import Score

COLOURS = ("black", "white")
HELP = """moves in USI: 7g7f (7g to 7f), 8h2b+ (and promote), P*5e (drop a pawn on 5e)
  files 9..1 run right to left, ranks a..i top to bottom; drops: P L N S G B R
commands: hint (the agent's candidates for your move), undo (take back the agent's reply
  and your move), resign, save [FILE] (CSA file + .usi move list), help, quit
values: the agent's estimate of the game's result for the side named, from -1 (a loss)
  through 0 (even) to +1 (a win)"""


@dataclass(frozen=True)
class Game:
    states: tuple  # TensorDict [1] per position; states[0] is the start, len = len(moves) + 1
    moves: tuple[str, ...]  # USI, one per ply
    human: int  # 0: the human plays Black, 1: White
    ending: tuple[str, str] | None = None  # (winner "black" | "white" | "draw", reason)


def new_game(human: int, max_plies: int = 512, device="cpu", sfen: str | None = None) -> Game:
    """A game from the start position, or from `sfen` (ValueError if it is not a position
    whose game can go on)."""
    if sfen is None:
        return Game((initial_state(1, device=device, max_plies=max_plies),), (), human)
    state = from_sfen([sfen], device=device, max_plies=max_plies)
    if bool((state["terminated"] | state["truncated"]).any()):
        raise ValueError(f"--sfen: the game is already over in this position: {sfen}")
    return Game((state,), (), human)


def position(game: Game):
    return game.states[-1]


def side_to_move(game: Game) -> int:
    return int(position(game)["side_to_move"][0])


def legal_moves(state) -> list[str]:
    """Sorted USI moves of the side to move of a one-game state."""
    labels = state["legal_mask"][0].nonzero().squeeze(1)
    if labels.numel() == 0:
        return []
    rows = torch.zeros(labels.numel(), dtype=torch.long, device=labels.device)
    return sorted(action_to_usi(state[rows], labels))


def push_move(game: Game, usi: str) -> Game:
    """The game after the side to move plays `usi` (ValueError if illegal); ends it by the rules."""
    state = position(game)
    mover = int(state["side_to_move"][0])
    after = step(state, usi_to_action(state, [usi]))
    ending = None
    if bool(after["terminated"][0] | after["truncated"][0]):
        reward = float(after["reward"][0])  # for the mover
        winner = "draw" if reward == 0 else COLOURS[mover if reward > 0 else 1 - mover]
        ending = (winner, Reason.NAMES[int(after["termination_reason"][0])])
    return replace(game, states=game.states + (after,), moves=game.moves + (usi,), ending=ending)


def take_back(game: Game) -> Game | None:
    """The last earlier position with the human to move (their move and the agent's reply
    undone), or None when there is none (e.g. the human plays White and has not moved)."""
    for k in range(len(game.moves) - 1, -1, -1):
        if int(game.states[k]["side_to_move"][0]) == game.human:
            return replace(game, states=game.states[:k + 1], moves=game.moves[:k], ending=None)
    return None


def resign(game: Game) -> Game:
    return replace(game, ending=(COLOURS[1 - game.human], "resign"))


def agent_move(agent, state, temperature: float = 0.0,
               generator: torch.Generator | None = None,
               options: dict | None = None) -> tuple[str, float]:
    """(the agent's USI move, its value-head evaluation for the side to move, in [-1, 1])."""
    found = decide(agent, state, player_settings(temperature=temperature, **(options or {})),
                   generator)
    return usi_moves(state, found.action)[0], float(found.value[0])


def candidates(agent, state, simulations: int = 0, generator: torch.Generator | None = None,
               top: int = 3, options: dict | None = None) -> tuple[str, float, list[str]]:
    """(the move, the value for the side to move, `top` candidate descriptions), as our players
    choose (`player_settings`, with `options`: its q_range, guard, compiled): the policy's
    favourites with their probabilities, or with `simulations`, the Gumbel search's moves with
    visits and values (the move played first)."""
    settings = player_settings(simulations, top=top, **(options or {}))
    if simulations <= 0:
        found = decide(agent, state, settings)
        names = usi_moves(state, found.candidates[0])
        return names[0], float(found.value[0]), [f"{n} {100 * p:.0f}%" for n, p
                                                 in zip(names, found.prior[0].tolist())]
    found = decide(agent, state, settings, generator)
    # the move played, then the other moves the search visited
    shown = [i for i, (a, n) in enumerate(zip(found.candidates[0].tolist(),
                                              found.visits[0].tolist())) if a >= 0 and (n or not i)]
    names = usi_moves(state, found.candidates[0, shown])
    lines = [f"{n} {int(found.visits[0, i])} visits, value {float(found.q[0, i]):+.2f}"
             f"{forced_words(int(found.forced[0, i]))}" for n, i in zip(names, shown)]
    return names[0], float(found.value[0]), lines


def policy_ranking(agent, state) -> list[tuple[str, float]]:
    """Every legal move of a one-game state with the policy's probability, best first."""
    found = decide(agent, state, Settings(top=0))
    ranked = found.candidates[0]
    keep = ranked >= 0
    return list(zip(usi_moves(state, ranked[keep]), found.prior[0][keep].tolist()))


def forced_words(plies: int) -> str:
    """What the search proved about a move, in words (search.gumbel.move_results)."""
    if plies > 0:
        return f", wins by force in {plies} {'ply' if plies == 1 else 'plies'}"
    if plies < 0:
        return f", loses by force in {-plies} plies"
    return ""


# --- records ----------------------------------------------------------------------------------

def to_record(game: Game, human_name: str = "human", agent_name: str = "agent") -> GameRecord:
    """The game as a record; an unfinished game is stored as a draw with reason "unfinished"
    (`game_csa` writes it as interrupted)."""
    names = (human_name, agent_name) if game.human == 0 else (agent_name, human_name)
    winner, reason = game.ending or ("draw", "unfinished")
    return GameRecord(names[0], names[1], game.moves, winner, reason,
                      start_sfen=to_sfen(game.states[0])[0])


def game_csa(record: GameRecord) -> str:
    """CSA text of the record; an unfinished game ends with %CHUDAN (interrupted), not a draw."""
    text = to_csa(record)
    if record.reason != "unfinished":
        return text
    lines = text.splitlines()
    assert lines[-2].startswith("%"), "to_csa's last two lines: the ending and our comment"
    return "\n".join(lines[:-2] + ["%CHUDAN", f"'keisei-fn: unfinished, {len(record.moves)} "
                                              "moves"]) + "\n"


def default_save_path(now: float | None = None) -> Path:
    return Path(time.strftime("keisei-play-%Y%m%d-%H%M%S.csa", time.localtime(now)))


def save_game(record: GameRecord, path: Path) -> tuple[Path, Path]:
    """Write the CSA file and, next to it, the USI `position` command of the game (.usi)."""
    csa_path = path if path.suffix else path.with_suffix(".csa")
    usi_path = csa_path.with_suffix(".usi")
    csa_path.write_text(game_csa(record))
    usi_path.write_text(f"position {usi_position(record)}\n")
    return csa_path, usi_path


def describe_ending(ending: tuple[str, str], human: int, plies: int) -> str:
    winner, reason = ending
    human_won = winner == COLOURS[human]
    result = "draw" if winner == "draw" else "you win" if human_won else "the agent wins"
    loser = "the agent" if human_won else "you"
    why = {"mate": f"checkmate ({loser} {'has' if human_won else 'have'} no legal move)",
           "repetition": "repetition (sennichite, fourth occurrence)",
           "perpetual_check": f"perpetual check by {loser}",
           "move_cap": f"move cap ({plies} plies)",
           "impasse": "entering-king declaration",
           "resign": f"{loser} resigned"}.get(reason, reason)
    return f"game over after {plies} plies: {why}: {result}"


# --- drawing ----------------------------------------------------------------------------------

# Piece text from the SFEN letter (Black's letters; '+' marks promotion).
_WESTERN = {p: (p + " " if len(p) == 1 else p) for p in
            ("P", "L", "N", "S", "G", "B", "R", "K", "+P", "+L", "+N", "+S", "+B", "+R")}
AGENT_STYLE, LAST_MOVE_STYLE = "bold red", "reverse"


def piece_text(piece: str, letters: str) -> str:
    """Two terminal columns for an SFEN piece ('p', '+R', ...); White's king is 王 in kanji."""
    name = piece.upper()
    if letters == "western":
        return _WESTERN[name]
    return "王" if piece == "k" else KANJI[name]


def hand_text(hand: dict, letters: str) -> str:
    names = [(piece_text(p, letters).strip(), hand.get(p, 0)) for p in HAND_ORDER]
    return " ".join(f"{name}×{n}" for name, n in names if n) or "-"


def render_position(sfen: str, letters: str = "western", human: int = 0,
                    last_move: str | None = None, names: tuple[str, str] | None = None) -> Text:
    """The board of an SFEN as rich Text, from the human's side: for Black, like USI
    coordinates (files 9..1 across, ranks a..i down), for White turned round (files 1..9,
    ranks i..a). Every cell is three columns: 'v' for the far side's pieces (the KIF
    convention), then the piece; the agent's pieces are coloured, the last move's destination
    is highlighted; the far side's hand above the board, the near side's below. `names`
    (Black's, White's) replaces "you" and "agent" (a viewer's board: `watch`)."""
    board, hands, side = parse_sfen(sfen)
    fields = sfen.removeprefix("sfen ").split()
    move_number = fields[3] if len(fields) > 3 else "1"
    who = dict(enumerate(names)) if names else {c: ("you" if c == human else "agent")
                                                for c in (0, 1)}
    mover = 0 if side == "b" else 1
    out = Text()
    out.append(f"move {move_number}: {COLOURS[mover].capitalize()} ({who[mover]}) to move\n")
    far = 1 - human  # the side drawn at the top
    marks = {0: ("☗ Black", "b"), 1: ("☖ White", "w")}
    name, key = marks[far]
    out.append(f"{name} ({who[far]}) in hand: {hand_text(hands[key], letters)}\n",
               style=AGENT_STYLE if far != human else "")
    files = range(9, 0, -1) if human == 0 else range(1, 10)
    out.append("".join(f" {f} " for f in files) + "\n")
    target = last_move[2:4] if last_move else None  # "7g7f"[2:4] and "P*5e"[2:4]: destinations
    for rank in (RANKS if human == 0 else RANKS[::-1]):
        for f in files:
            square = f"{f}{rank}"
            piece = board.get(square)
            if piece is None:
                cell, owner = " ・" if letters == "japanese" else " . ", None
            else:
                owner = 1 if piece.lstrip("+").islower() else 0
                cell = ("v" if owner == far else " ") + piece_text(piece, letters)
            style = AGENT_STYLE if owner is not None and owner != human else ""
            if square == target:
                style = (style + " " + LAST_MOVE_STYLE).strip()
            out.append(cell, style=style)
        out.append(f"  {rank}\n")
    name, key = marks[human]
    out.append(f"{name} ({who[human]}) in hand: {hand_text(hands[key], letters)}")
    return out


def render_game(game: Game, letters: str = "western") -> Text:
    return render_position(to_sfen(position(game))[0], letters, game.human,
                           game.moves[-1] if game.moves else None)


# --- the loop ---------------------------------------------------------------------------------

def play(agent, game: Game, input_fn: Callable[[str], str], console: Console, *,
         letters: str = "western", temperature: float = 0.0,
         generator: torch.Generator | None = None, agent_name: str = "agent",
         simulations: int = 0, predict: bool = False, options: dict | None = None) -> Game:
    """Play until `quit` or end of input; returns the final game (finished or not). With
    `predict`, before each of the agent's moves the human types the move they expect
    (apps/predict.py) and is told its rank and probability in the agent's policy."""
    def say(msg: str) -> None:  # plain text: USI like "P*5e" and '[' must not be rich markup
        console.print(msg, markup=False, highlight=False)

    shown, score = None, Score()
    while True:
        if game.ending is None and side_to_move(game) != game.human:
            guess = None
            if predict:
                console.print(render_game(game, letters))
                try:
                    guess = input_fn("predict the agent's move> ").strip()
                except EOFError:
                    return game
            if simulations or temperature <= 0:
                usi, value, lines = candidates(agent, position(game), simulations, generator,
                                               options=options)
                say(f"agent plays {usi} (eval {value:+.2f} for the agent"
                    + (f", {simulations} simulations" if simulations else "")
                    + "); candidates: " + "; ".join(lines))
            else:
                usi, value = agent_move(agent, position(game), temperature, generator, options)
                say(f"agent plays {usi} (eval {value:+.2f} for the agent)")
            if guess is not None:
                score = score.add(guess, policy_ranking(agent, position(game)), usi)
                say(score.line())
            game = push_move(game, usi)
            continue
        if game is not shown:  # the board once per human turn, and once at the end
            console.print(render_game(game, letters))
            if game.ending is not None:
                say(describe_ending(game.ending, game.human, len(game.moves)))
            shown = game
        try:
            prompt = "game over (save [FILE], quit)> " if game.ending else "your move> "
            line = input_fn(prompt)
        except EOFError:
            return game
        command, _, arg = line.strip().partition(" ")
        if command == "quit":
            return game
        if command == "hint":
            _hint(agent, game, say, simulations, generator, options)
        elif command in COMMANDS:
            game = COMMANDS[command](game, arg.strip(), say, agent_name)
        elif command:
            game = _human_move(game, command, say)


def _human_move(game: Game, usi: str, say) -> Game:
    if game.ending is not None:
        say("the game is over: save [FILE] or quit")
        return game
    if len(usi) > 1 and usi[1] == "*":
        usi = usi[0].upper() + usi[1:]  # p*5e: drop letters are upper case in USI
    legal = legal_moves(position(game))
    if usi not in legal:
        say(f"not a legal move here: {usi!r} (USI, e.g. 7g7f, 8h2b+, P*5e; 'help' for commands)")
        say(f"legal moves ({len(legal)}): " + " ".join(legal))
        return game
    return push_move(game, usi)


def _hint(agent, game: Game, say, simulations: int, generator, options: dict | None) -> None:
    """What the agent would play in the human's place."""
    if game.ending is not None:
        say("the game is over: save [FILE] or quit")
        return
    _, value, lines = candidates(agent, position(game), simulations, generator, top=5,
                                 options=options)
    say(f"hint: {'; '.join(lines)} (eval {value:+.2f} for you, as the agent sees it)")


def _undo(game: Game, _arg: str, say, _agent_name: str) -> Game:
    if game.ending is not None:
        say("the game is over: save [FILE] or quit")
        return game
    earlier = take_back(game)
    if earlier is None:
        say("nothing to undo: you have not moved yet")
        return game
    say(f"took back {len(game.moves) - len(earlier.moves)} plies")
    return earlier


def _resign(game: Game, _arg: str, say, _agent_name: str) -> Game:
    if game.ending is not None:
        say("the game is over: save [FILE] or quit")
        return game
    return resign(game)


def _save(game: Game, arg: str, say, agent_name: str) -> Game:
    path = Path(arg) if arg else default_save_path()
    try:
        csa_path, usi_path = save_game(to_record(game, agent_name=agent_name), path)
    except OSError as err:
        say(f"cannot save to {path}: {err.strerror or err}")
        return game
    say(f"saved {csa_path} and {usi_path}")
    return game


def _help(game: Game, _arg: str, say, _agent_name: str) -> Game:
    say(HELP)
    return game


COMMANDS = {"undo": _undo, "resign": _resign, "save": _save, "help": _help}
