"""The search-model protocol: what a turn-based game exposes so that :class:`~rl4py.planning.MCTS` can plan in it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["SearchGame"]


@runtime_checkable
class SearchGame(Protocol):
    """A turn-based game with perfect information, as a model that search can copy and step.

    A state is any Python object that the game hands back (a tuple, a frozen dataclass); search never
    mutates one: :meth:`apply` returns a new state. Players are ``0 .. num_players - 1``, actions
    ``0 .. num_actions - 1``; at every non-terminal state one player moves and picks one of the
    :meth:`legal_actions`. At a terminal state :meth:`returns` gives every player's return (a
    two-player zero-sum game: ``(r, -r)``).

    Implemented by :class:`~rl4py.planning.DraftingGame` and :class:`~rl4py.planning.TicTacToeGame`.

    Attributes:
        num_players: the number of players.
        num_actions: ``A``, the size of the action set (legal or not).
    """

    num_players: int
    num_actions: int

    def current_player(self, state: Any) -> int:
        """The player to move at a non-terminal ``state``, in ``[0, num_players)``."""
        ...

    def legal_actions(self, state: Any) -> Sequence[int] | torch.Tensor:
        """The actions the player to move may take at a non-terminal ``state`` (at least one): their
        indices, or a bool mask ``[A]``."""
        ...

    def apply(self, state: Any, action: int) -> Any:
        """The state after the player to move takes ``action``; ``state`` itself is left unchanged."""
        ...

    def is_terminal(self, state: Any) -> bool:
        """Whether the game is over at ``state``."""
        ...

    def returns(self, state: Any) -> Sequence[float] | torch.Tensor:
        """Every player's return at a terminal ``state``: ``num_players`` numbers (a tuple or a ``[P]`` tensor)."""
        ...


def check_game(game: Any) -> None:
    """Raises a ``TypeError`` naming what ``game`` lacks to be a :class:`SearchGame` (or has of the wrong kind)."""
    missing = [
        name
        for name in ("current_player", "legal_actions", "apply", "is_terminal", "returns")
        if not callable(getattr(game, name, None))
    ]
    missing += [name for name in ("num_players", "num_actions") if not hasattr(game, name)]
    if missing:
        raise TypeError(
            f"{type(game).__name__} is not a SearchGame: it lacks {missing}; expected the methods current_player, "
            "legal_actions, apply, is_terminal, returns and the attributes num_players, num_actions"
        )
    for name in ("num_players", "num_actions"):
        value = getattr(game, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TypeError(f"{type(game).__name__}.{name} must be a positive int, got {value!r}")
