"""The batched two-player game interface: ``B`` turn-based games stepped together, TensorDict out.

A game differs from an :class:`~rl4py.envs.EnvBase` in who acts: at each state one player moves,
and each player sees its own view (an information state in a card game). The interface exposes
exactly that and leaves the opponent to the caller; :class:`~rl4py.games.VersusEnv` turns a game and
an opponent policy into an ordinary env for the trainers.

Layout of :meth:`TwoPlayerGame.observe` (``B`` games)::

    "observation"     [B, *observation_shape] float32  the view of the player to move
    "action_mask"     [B, A] bool                       its legal actions (all False once terminal)
    "current_player"  [B] int64                         0 or 1 (-1 once terminal)
    "terminal"        [B] bool                          the game is over
    "returns"         [B, 2] float32                    each player's return (0 until terminal)

Finished games stay terminal until :meth:`TwoPlayerGame.reset_games` starts new ones.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from tensordict import TensorDict

from rl4py.envs.seeding import SeededGenerator

__all__ = ["CURRENT_PLAYER", "RETURNS", "TERMINAL", "TwoPlayerGame"]

#: the player to move, ``[B]`` int64 (``-1`` once terminal)
CURRENT_PLAYER = "current_player"
#: each player's return, ``[B, 2]`` float32 (0 until the game ends)
RETURNS = "returns"
#: the game is over, ``[B]`` bool
TERMINAL = "terminal"


class TwoPlayerGame(ABC):
    """Base class of batched two-player, turn-based, zero-sum games.

    Subclasses keep the state of ``num_games`` games as tensors (or, for an engine such as OpenSpiel,
    a list of its states) and implement the hooks :meth:`_reset_games`, :meth:`_apply`,
    :meth:`current_player`, :meth:`legal_mask`, :meth:`observation` and :meth:`returns`. Chance
    events (dealing cards) are drawn inside the hooks from ``self.rng`` (seeded by :meth:`reset`).

    Args:
        num_games: ``B``, the games stepped together.
        num_actions: ``A``, the size of the action set (legal or not).
        observation_shape: one player's view of one game.
        device: the device of every tensor in and out.
        validate: check actions (shape, dtype, legality) at every step.

    Attributes:
        num_players: 2.
    """

    num_players: int = 2

    def __init__(
        self,
        *,
        num_games: int,
        num_actions: int,
        observation_shape: tuple[int, ...],
        device: torch.device | str = "cpu",
        validate: bool = True,
    ) -> None:
        if isinstance(num_games, bool) or not isinstance(num_games, int) or num_games < 1:
            raise ValueError(f"{type(self).__name__}: num_games must be a positive int, got {num_games!r}")
        self.num_games = num_games
        self.num_actions = int(num_actions)
        self.observation_shape = tuple(int(n) for n in observation_shape)
        self.device = torch.device(device)
        self.validate = validate
        self.rng = SeededGenerator(self.device)
        self._all = torch.ones(num_games, dtype=torch.bool, device=self.device)

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _reset_games(self, where: torch.Tensor) -> None:
        """Starts new games where ``where`` ``[B]`` bool is true (chance events drawn from ``self.rng``)."""

    @abstractmethod
    def _apply(self, action: torch.Tensor, where: torch.Tensor) -> None:
        """The player to move takes ``action`` ``[B]`` int64 in the games where ``where`` ``[B]`` is true
        (legal there; the other entries are arbitrary and must be ignored)."""

    @abstractmethod
    def current_player(self) -> torch.Tensor:
        """The player to move, ``[B]`` int64 in ``{0, 1}``; ``-1`` where the game is over."""

    @abstractmethod
    def legal_mask(self) -> torch.Tensor:
        """The legal actions of the player to move, ``[B, A]`` bool (all False where the game is over)."""

    @abstractmethod
    def observation(self, player: torch.Tensor) -> torch.Tensor:
        """Each game's view for ``player`` ``[B]`` int64 in ``{0, 1}``: ``[B, *observation_shape]`` float32."""

    @abstractmethod
    def returns(self) -> torch.Tensor:
        """Each player's return, ``[B, 2]`` float32: the final ones where the game is over, else 0."""

    def terminal(self) -> torch.Tensor:
        """Whether each game is over, ``[B]`` bool."""
        return self.current_player() < 0

    # ------------------------------------------------------------- public API
    @property
    def name(self) -> str:
        """The name used in error messages."""
        return type(self).__name__

    def reset(self, seed: int | None = None) -> TensorDict:
        """Starts a new game in every slot and returns :meth:`observe`; ``seed`` seeds the chance events."""
        self.rng.seed(seed)
        self._reset_games(self._all)
        return self.observe()

    def reset_games(self, where: torch.Tensor) -> None:
        """Starts new games where ``where`` ``[B]`` bool is true; the others continue."""
        where = self._check_where(where, "reset_games")
        if bool(where.any()):
            self._reset_games(where)

    def step(self, action: torch.Tensor, where: torch.Tensor | None = None) -> TensorDict:
        """The player to move takes ``action`` ``[B]`` int64 in the games selected by ``where`` ``[B]``
        bool (default: every game still running); returns :meth:`observe` after the moves.

        Raises:
            ValueError: ``action`` has the wrong shape or dtype, is illegal in a selected game, or a
                selected game is over.
        """
        if where is None:
            where = ~self.terminal()
        else:
            where = self._check_where(where, "step")
        if self.validate:
            self.check_action(action, where)
        self._apply(action, where)
        return self.observe()

    def observe(self) -> TensorDict:
        """The TensorDict of the module docstring: the view and legal actions of the player to move."""
        player = self.current_player()
        return TensorDict(
            {
                "observation": self.observation(player.clamp(min=0)),
                "action_mask": self.legal_mask(),
                CURRENT_PLAYER: player,
                TERMINAL: player < 0,
                RETURNS: self.returns(),
            },
            batch_size=[self.num_games],
            device=self.device,
        )

    def check_action(self, action: torch.Tensor, where: torch.Tensor) -> None:
        """Raises ``ValueError`` unless ``action`` is ``[B]`` int64 and legal in every game of ``where``."""
        if not isinstance(action, torch.Tensor) or action.shape != (self.num_games,) or action.dtype != torch.int64:
            got = f"{tuple(action.shape)} {action.dtype}" if isinstance(action, torch.Tensor) else type(action).__name__
            raise ValueError(f"{self.name}: 'action' must be a [{self.num_games}] int64 tensor, got {got}")
        over = where & self.terminal()
        if bool(over.any()):
            game = int(over.nonzero()[0, 0])
            raise ValueError(f"{self.name}: game {game} is over; reset it with reset_games before stepping it")
        inside = (action >= 0) & (action < self.num_actions)
        legal = self.legal_mask().gather(-1, action.clamp(0, self.num_actions - 1).unsqueeze(-1)).squeeze(-1) & inside
        bad = where & ~legal
        if bool(bad.any()):
            game = int(bad.nonzero()[0, 0])
            allowed = self.legal_mask()[game].nonzero().flatten().tolist()
            raise ValueError(
                f"{self.name}: action {int(action[game])} is illegal in game {game} (player "
                f"{int(self.current_player()[game])} to move); expected one of {allowed}"
            )

    def _check_where(self, where: torch.Tensor, method: str) -> torch.Tensor:
        if not isinstance(where, torch.Tensor) or where.shape != (self.num_games,) or where.dtype != torch.bool:
            got = f"{tuple(where.shape)} {where.dtype}" if isinstance(where, torch.Tensor) else type(where).__name__
            raise ValueError(f"{self.name}.{method}: 'where' must be a [{self.num_games}] bool tensor, got {got}")
        return where.to(self.device)

    def state_dict(self) -> dict:
        """Everything the games' future depends on (subclasses add their state to the base's RNG)."""
        return {"rng": self.rng.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restores :meth:`state_dict`."""
        self.rng.load_state_dict(state["rng"])

    def __repr__(self) -> str:
        return f"{self.name}(num_games={self.num_games}, num_actions={self.num_actions}, device={self.device})"
