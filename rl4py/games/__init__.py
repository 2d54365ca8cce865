"""Two-player, turn-based games, batched: the interface, native torch games, the OpenSpiel adapter,
and :class:`VersusEnv`, which turns a game and an opponent into an env the trainers train on."""

from rl4py.games.base import CURRENT_PLAYER, RETURNS, TERMINAL, TwoPlayerGame
from rl4py.games.factory import NATIVE_GAMES, make_game
from rl4py.games.openspiel import OpenSpielGame, exploitability, tabular_policy
from rl4py.games.versus import GamePlayer, VersusEnv, player_actions

__all__ = [
    "CURRENT_PLAYER",
    "NATIVE_GAMES",
    "RETURNS",
    "TERMINAL",
    "GamePlayer",
    "OpenSpielGame",
    "TwoPlayerGame",
    "VersusEnv",
    "exploitability",
    "make_game",
    "player_actions",
    "tabular_policy",
]
