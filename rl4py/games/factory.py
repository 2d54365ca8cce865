"""Games by name: rl4py's native ones, else OpenSpiel's."""

from __future__ import annotations

import torch

from rl4py.games.base import TwoPlayerGame
from rl4py.games.board import ConnectFour, TicTacToe
from rl4py.games.openspiel import OpenSpielGame

__all__ = ["NATIVE_GAMES", "make_game"]

#: the native batched games by name (their OpenSpiel names): stepped as tensor ops
NATIVE_GAMES: dict[str, type[TwoPlayerGame]] = {"tic_tac_toe": TicTacToe, "connect_four": ConnectFour}


def make_game(name: str, num_games: int = 1, device: torch.device | str = "cpu", **kwargs) -> TwoPlayerGame:
    """``num_games`` games of ``name``: the native game of :data:`NATIVE_GAMES` when there is one,
    else OpenSpiel's (``"kuhn_poker"``, ``"leduc_poker"``, ``"connect_four(rows=5)"``, ...) through
    :class:`~rl4py.games.OpenSpielGame`.

    Args:
        name: the game's name.
        num_games: ``B``.
        device: the device of the returned tensors.
        **kwargs: constructor arguments of the native game.

    Raises:
        ValueError: neither rl4py nor OpenSpiel has a game ``name``.
    """
    if not isinstance(name, str):
        raise TypeError(f"make_game: name must be a str, got {type(name).__name__}")
    native = NATIVE_GAMES.get(name)
    if native is not None:
        return native(num_games=num_games, device=device, **kwargs)
    if kwargs:
        raise ValueError(
            f"make_game: {sorted(kwargs)} apply to native games only ({sorted(NATIVE_GAMES)}); "
            f"pass OpenSpiel parameters in the name, e.g. 'connect_four(rows=5)'"
        )
    return OpenSpielGame(name, num_games=num_games, device=device)
