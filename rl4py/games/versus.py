"""A two-player game seen from one side: the learner's env, with the opponent's moves played inside the step.

The opponent's moves are environment, not training data: :class:`VersusEnv` steps the learner's move,
lets the opponent answer until the learner is to move again (or the game ends), and returns the
learner's view. Any trainer of :mod:`rl4py.trainers` then trains on it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Union

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep
from rl4py.envs.seeding import SeededGenerator
from rl4py.games.base import TwoPlayerGame

__all__ = ["GamePlayer", "VersusEnv", "player_actions"]

#: a player: maps the :meth:`~rl4py.games.TwoPlayerGame.observe` TensorDict of the games it moves in
#: (``"observation"``, ``"action_mask"``) to their actions ``[n]`` int64, or writes them under
#: ``"action"`` and returns the TensorDict (an rl4py actor does)
GamePlayer = Callable[[TensorDictBase], Union[torch.Tensor, TensorDictBase]]


def player_actions(player: GamePlayer, td: TensorDictBase, who: str = "a game player") -> torch.Tensor:
    """The actions ``[n]`` int64 ``player`` picks in the games of ``td`` (no gradient).

    Raises:
        ValueError: the player returned no ``[n]`` integer tensor (nor a TensorDict holding one under
            ``"action"``); the message names ``who``.
    """
    with torch.no_grad():
        out = player(td)
    action = out.get(keys.ACTION, None) if isinstance(out, TensorDictBase) else out
    n = td.batch_size[0]
    integer = isinstance(action, torch.Tensor) and not action.is_floating_point() and action.dtype != torch.bool
    if not integer or action.shape != (n,):
        got = f"{tuple(action.shape)} {action.dtype}" if isinstance(action, torch.Tensor) else type(action).__name__
        raise ValueError(
            f"{who} must return a [{n}] integer tensor of actions (one per game) or the TensorDict with them "
            f"under 'action', got {got}"
        )
    return action.long()


class VersusEnv(EnvBase):
    """``num_games`` games of a :class:`~rl4py.games.TwoPlayerGame`, the learner against opponents.

    Every slot plays one game at a time against one opponent. The learner's seat (0 = first to move)
    is drawn per game (``learner_seat=None``, both seats equally often) or fixed. The step plays the
    learner's move, then the opponent's until the learner is to move again; the reward is the
    learner's return when the game ends (``terminated``), 0 before. A finished game's slot starts
    the next game at once (auto-reset), against the opponent set for it by :meth:`set_opponents`.

    Observation entries: ``"observation"`` (the learner's view) and ``"action_mask"`` (its legal
    actions); action ``[B]`` int64.

    Opponents are named :data:`GamePlayer` callables. The learner's own actor is a valid opponent
    (naive self-play: the opponent acts with its live weights, without gradient). The outcome of every
    finished game is kept per opponent name until :meth:`pop_results`.

    Args:
        game: the batched game (its ``num_games`` is the env's ``num_envs``).
        opponent: ``(name, player)`` every slot plays until :meth:`set_opponents` says otherwise.
        learner_seat: 0, 1, or ``None`` to draw it per game.
        validate: check the learner's actions (shape, dtype, legality).

    Examples:
        >>> from rl4py.games import OpenSpielGame, VersusEnv
        >>> uniform = lambda td: torch.multinomial(td["action_mask"].float(), 1).squeeze(-1)
        >>> env = VersusEnv(OpenSpielGame("kuhn_poker", num_games=8), ("random", uniform))
        >>> td = env.reset(seed=0)
        >>> td["observation"].shape
        torch.Size([8, 11])
    """

    observation_keys = (keys.OBSERVATION, keys.ACTION_MASK)

    def __init__(
        self,
        game: TwoPlayerGame,
        opponent: tuple[str, GamePlayer],
        *,
        learner_seat: int | None = None,
        validate: bool = True,
    ) -> None:
        if not isinstance(game, TwoPlayerGame):
            raise TypeError(f"VersusEnv: game must be a TwoPlayerGame, got {type(game).__name__}")
        if learner_seat not in (None, 0, 1):
            raise ValueError(f"VersusEnv: learner_seat must be 0, 1 or None (drawn per game), got {learner_seat!r}")
        low = np.full(game.observation_shape, -np.inf, dtype=np.float32)
        super().__init__(
            num_envs=game.num_games,
            single_observation_space=gym.spaces.Box(low, -low, dtype=np.float32),
            single_action_space=gym.spaces.Discrete(game.num_actions),
            device=game.device,
            validate=validate,
        )
        self.game = game
        self.learner_seat = learner_seat
        self.seat_rng = SeededGenerator(self.device)
        self._names: list[str] = []
        self._players: list[GamePlayer] = []
        self._index: dict[str, int] = {}
        self._default = self._register(*self._check_opponent(opponent))
        #: per slot: the opponent of the game in play, and of the next games
        self.opponent = torch.full((self.num_envs,), self._default, dtype=torch.int64, device=self.device)
        self.next_opponent = self.opponent.clone()
        self.seat = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        self._results: dict[str, list[torch.Tensor]] = {}

    # ------------------------------------------------------------ opponents
    @staticmethod
    def _check_opponent(opponent: object) -> tuple[str, GamePlayer]:
        if not (
            isinstance(opponent, tuple)
            and len(opponent) == 2
            and isinstance(opponent[0], str)
            and callable(opponent[1])
        ):
            raise TypeError(f"VersusEnv: an opponent is a (name, player) pair with a callable player, got {opponent!r}")
        return opponent

    def _register(self, name: str, player: GamePlayer) -> int:
        index = self._index.get(name)
        if index is None:
            index = len(self._players)
            self._index[name] = index
            self._names.append(name)
            self._players.append(player)
        else:
            self._players[index] = player  # the same name may come back with new weights (a reset player)
        return index

    def register_opponent(self, name: str, player: GamePlayer) -> None:
        """Makes ``player`` known as ``name`` (before :meth:`load_state_dict` of a state that names it);
        a known name gets the new player."""
        self._register(*self._check_opponent((name, player)))

    def opponent_name(self, slot: int) -> str:
        """The name of the opponent of the game in play in ``slot``."""
        return self._names[int(self.opponent[slot])]

    def next_opponent_name(self, slot: int) -> str:
        """The name of the opponent of ``slot``'s next games."""
        return self._names[int(self.next_opponent[slot])]

    def set_opponents(self, opponents: Sequence[tuple[str, GamePlayer]]) -> None:
        """Sets the opponent of each slot's next games: one ``(name, player)`` for every slot, or
        ``num_envs`` of them (slot ``i`` plays ``opponents[i]``). Games in play finish against their opponent."""
        opponents = list(opponents)
        if len(opponents) not in (1, self.num_envs):
            raise ValueError(f"VersusEnv.set_opponents: expected 1 or {self.num_envs} opponents, got {len(opponents)}")
        indices = [self._register(*self._check_opponent(o)) for o in opponents]
        self.next_opponent = torch.tensor(indices * (self.num_envs // len(indices)), device=self.device)
        in_use = set(self.opponent.tolist()) | set(indices)
        self._forget(in_use)

    def _forget(self, in_use: set[int]) -> None:
        """Drops the players no slot will play again (snapshots the league evicted), renumbering the rest."""
        if len(in_use) == len(self._players):
            return
        keep = sorted(in_use)
        remap = torch.full((len(self._players),), -1, dtype=torch.int64, device=self.device)
        remap[keep] = torch.arange(len(keep), device=self.device)
        self._names = [self._names[i] for i in keep]
        self._players = [self._players[i] for i in keep]
        self._index = {name: i for i, name in enumerate(self._names)}
        self.opponent, self.next_opponent = remap[self.opponent], remap[self.next_opponent]
        self._default = int(self.next_opponent[0])

    def pop_results(self) -> dict[str, torch.Tensor]:
        """The learner's return in every game finished since the last call, per opponent name (1-D tensors)."""
        results = {name: torch.cat(chunks) for name, chunks in self._results.items()}
        self._results = {}
        return results

    # ------------------------------------------------------------- playing
    def _opponents_move(self) -> TensorDict:
        """Plays the opponents' moves until the learner is to move (or the game is over) everywhere."""
        td = self.game.observe()
        while True:
            waiting = (~td["terminal"]) & (td["current_player"] != self.seat)
            if not bool(waiting.any()):
                return td
            action = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
            # by name: the order the opponents sample in (the global RNG) survives a resume
            for index in sorted(self.opponent[waiting].unique().tolist(), key=self._names.__getitem__):
                slots = (waiting & (self.opponent == index)).nonzero().flatten()
                action[slots] = player_actions(self._players[index], td[slots])
            td = self.game.step(action, waiting)

    def _new_games(self, where: torch.Tensor) -> None:
        self.opponent = torch.where(where, self.next_opponent, self.opponent)
        if self.learner_seat is None:
            seats = torch.randint(0, 2, (self.num_envs,), generator=self.seat_rng.generator, device=self.device)
        else:
            seats = torch.full_like(self.seat, self.learner_seat)
        self.seat = torch.where(where, seats, self.seat)
        self.game.reset_games(where)

    def _learner_view(self, td: TensorDictBase) -> dict:
        return {keys.OBSERVATION: self.game.observation(self.seat), keys.ACTION_MASK: td["action_mask"]}

    def _reset(self, seed: int | None) -> dict:
        self.game.rng.seed(seed)
        self.seat_rng.seed(None if seed is None else seed + 1)
        self._new_games(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        return self._learner_view(self._opponents_move())

    def check_action(self, action: torch.Tensor) -> None:
        super().check_action(action)
        self.game.check_action(action, torch.ones(self.num_envs, dtype=torch.bool, device=self.device))

    def _step(self, action: torch.Tensor) -> EnvStep:
        self.game.step(action.long(), torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        td = self._opponents_move()
        done = td["terminal"]
        reward = td["returns"].gather(-1, self.seat.unsqueeze(-1))
        next_entries = {
            keys.OBSERVATION: self.game.observation(self.seat),
            keys.ACTION_MASK: td["action_mask"],
            keys.REWARD: reward,
            keys.TERMINATED: done.unsqueeze(-1),
            keys.TRUNCATED: torch.zeros_like(done).unsqueeze(-1),
            keys.DONE: done.unsqueeze(-1),
        }
        if bool(done.any()):
            finished = self.opponent[done]
            returns = reward.squeeze(-1)[done]
            for index in finished.unique().tolist():
                self._results.setdefault(self._names[index], []).append(returns[finished == index].cpu())
            self._new_games(done)
            td = self._opponents_move()
        return EnvStep(next_entries, self._learner_view(td))

    # --------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        """The games, the seats, the seat RNG and the opponents' names per slot (players are not saved:
        the trainer that set them sets them again)."""
        return {
            "game": self.game.state_dict(),
            "seat": self.seat.clone(),
            "seat_rng": self.seat_rng.state_dict(),
            "opponent": [self._names[i] for i in self.opponent.tolist()],
            "next_opponent": [self._names[i] for i in self.next_opponent.tolist()],
        }

    def load_state_dict(self, state: dict) -> None:
        """Restores :meth:`state_dict`; every opponent name in it must be registered (set) already."""
        unknown = sorted((set(state["opponent"]) | set(state["next_opponent"])) - set(self._index))
        if unknown:
            raise KeyError(f"VersusEnv.load_state_dict: opponents {unknown} are not set; set_opponents them first")
        self.game.load_state_dict(state["game"])
        self.seat = state["seat"].to(self.device).clone()
        self.seat_rng.load_state_dict(state["seat_rng"])
        self.opponent = torch.tensor([self._index[n] for n in state["opponent"]], device=self.device)
        self.next_opponent = torch.tensor([self._index[n] for n in state["next_opponent"]], device=self.device)
