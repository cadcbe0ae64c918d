"""`ShogiEnv`: a stateless, batched TorchRL `EnvBase` over `keisei_fn.shogi`.

The whole game state travels in the TensorDict under the nested key "game" (JAX-style: `step` is
a function of its input), next to the network input "observation" and the legal moves
"action_mask". The engine's cached legal mask is not duplicated under "game": "action_mask" is it.

Self-play: one policy plays both sides. "observation" and "action_mask" are always from the side
to move's point of view, and ("next", "reward") belongs to the side that just moved, so values and
returns are zero-sum from each mover's side (see keisei_fn/algos/ppo/advantage.py).

("next", "outcome") carries the engine's `Reason` code of the move (0 while the game goes on). It
lives in the reward spec because it describes the transition, like the reward, and so survives the
collector's `compact_obs` (which drops the ("next", obs) mirrors).
"""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Binary, Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

from ..shogi import NUM_ACTIONS, NUM_OBS_PLANES, initial_state, observe, step
from ..shogi._state import DEFAULT_MAX_PLIES

# Engine state keys that persist from one ply to the next (the rest is derived by `step`).
GAME_KEYS = ("board", "hands", "side_to_move", "ply", "move_number", "hash_history",
             "check_history", "check_streak")


def game_state(td: TensorDictBase) -> TensorDict:
    """The engine state (as `keisei_fn.shogi` functions take it) held in an env TensorDict."""
    out = td.get("game").copy()
    out.set("legal_mask", td.get("action_mask"))
    return out


def env_view(state: TensorDict, *, attacks: bool) -> TensorDict:
    """The env's view of an engine state: network input (with the attack planes where
    `attacks`), legal moves, persistent game keys."""
    return TensorDict(observation=observe(state, attacks=attacks), action_mask=state["legal_mask"],
                      game=state.select(*GAME_KEYS), batch_size=state.batch_size,
                      device=state.device)


class ShogiEnv(EnvBase):
    """B self-play games stepped together; finished games restart inside the batch.

    Args:
        batch_size: number of games B (an int or [B]).
        device: where states live; every tensor op runs there.
        max_plies: move cap (a draw), also the length of the repetition history.
        impasse: allow the entering-king declaration (engine option).
        attacks: the observation's attack planes (`model.attack_planes`).
    """

    batch_locked = True

    def __init__(self, batch_size=1, device=None, max_plies: int = DEFAULT_MAX_PLIES,
                 impasse: bool = False, attacks: bool = False):
        if isinstance(batch_size, int):
            batch_size = [batch_size]
        batch_size = torch.Size(batch_size)
        if len(batch_size) != 1 or batch_size[0] < 1:
            raise ValueError(f"ShogiEnv batch_size must be [B] with B >= 1, got {list(batch_size)}")
        if max_plies < 1:
            raise ValueError(f"max_plies must be >= 1, got {max_plies}")
        super().__init__(device=device, batch_size=batch_size)
        self.max_plies = int(max_plies)
        self.impasse = bool(impasse)
        self.attacks = bool(attacks)
        self._fresh = env_view(initial_state(1, device=self.device, max_plies=self.max_plies),
                               attacks=self.attacks)
        self._make_specs()

    def _make_specs(self):
        b, dev, h = self.batch_size, self.device, self.max_plies + 1

        def ints(dtype, shape, low, high):
            return Bounded(low=low, high=high, shape=b + shape, dtype=dtype, device=dev)

        game = Composite(
            board=ints(torch.int8, (81,), 0, 30),
            hands=ints(torch.int8, (2, 7), 0, 18),
            side_to_move=ints(torch.int8, (), 0, 1),
            ply=ints(torch.int32, (), 0, self.max_plies),
            move_number=ints(torch.int32, (), 0, 2**31 - 1),
            hash_history=Unbounded(shape=b + (h,), dtype=torch.int64, device=dev),
            check_history=Binary(n=h, shape=b + (h,), dtype=torch.bool, device=dev),
            check_streak=ints(torch.int16, (2,), 0, 2**15 - 1),
            shape=b, device=dev,
        )
        self.observation_spec = Composite(
            observation=Unbounded(
                shape=b + (NUM_OBS_PLANES, 9, 9), dtype=torch.float32, device=dev
            ),
            action_mask=Binary(
                n=NUM_ACTIONS, shape=b + (NUM_ACTIONS,), dtype=torch.bool, device=dev
            ),
            game=game,
            shape=b,
            device=dev,
        )
        self.action_spec = Categorical(NUM_ACTIONS, shape=b, dtype=torch.int64, device=dev)
        self.reward_spec = Composite(
            reward=Unbounded(shape=b + (1,), dtype=torch.float32, device=dev),
            outcome=ints(torch.int8, (1,), 0, 5),
            shape=b, device=dev,
        )
        flag = Categorical(2, shape=b + (1,), dtype=torch.bool, device=dev)
        self.done_spec = Composite(done=flag, terminated=flag.clone(), truncated=flag.clone(),
                                   shape=b, device=dev)

    def _reset(self, tensordict: TensorDictBase | None, **kwargs) -> TensorDictBase:
        partial = (tensordict is not None and "_reset" in tensordict.keys()
                   and "game" in tensordict.keys())
        if partial:
            done = tensordict.get("_reset").reshape(self.batch_size)
            partial = not bool(done.all())
        if not partial:
            return self._fresh.expand(self.batch_size).clone()
        # Only the finished rows change; the others keep their games (state and observation).
        rows = done.nonzero().squeeze(1)
        src = torch.zeros_like(rows)
        out = tensordict.select("observation", "action_mask", "game")
        return out.apply(lambda v, f: v.index_copy(0, rows, f.index_select(0, src)), self._fresh)

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        state = step(game_state(tensordict), tensordict.get("action"), impasse=self.impasse)
        out = env_view(state, attacks=self.attacks)
        out.set("reward", state["reward"].unsqueeze(-1))
        out.set("outcome", state["termination_reason"].unsqueeze(-1))
        out.set("terminated", state["terminated"].unsqueeze(-1))
        out.set("truncated", state["truncated"].unsqueeze(-1))
        out.set("done", (state["terminated"] | state["truncated"]).unsqueeze(-1))
        return out

    def _set_seed(self, seed: int | None):
        # The rules are deterministic: randomness lives in the policy (and `rand_action`).
        self._rng = torch.Generator(device=self.device)
        if seed is not None:
            self._rng.manual_seed(int(seed))
        return seed

    def rand_action(self, tensordict: TensorDictBase | None = None) -> TensorDictBase:
        """A uniformly random *legal* action per game (the spec alone cannot know the mask)."""
        if tensordict is None:
            tensordict = self.reset()
        if not hasattr(self, "_rng"):
            self._set_seed(None)
        mask = tensordict.get("action_mask")
        noise = torch.rand(mask.shape, generator=self._rng, device=mask.device)
        tensordict.set("action", torch.where(mask, noise, -1.0).argmax(-1))
        return tensordict
