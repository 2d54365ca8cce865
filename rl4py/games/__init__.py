"""Two-player, turn-based games, batched: the interface, native torch games, the OpenSpiel adapter,
and :class:`VersusEnv`, which turns a game and an opponent into an env the trainers train on."""

from rl4py.games.arena import MatchResult, play_match, policy_player, random_player, search_player
from rl4py.games.base import CURRENT_PLAYER, RETURNS, TERMINAL, TwoPlayerGame
from rl4py.games.board import ConnectFour, TicTacToe

__all__ = [
    "CURRENT_PLAYER",
    "RETURNS",
    "TERMINAL",
    "ConnectFour",
    "MatchResult",
    "TicTacToe",
    "TwoPlayerGame",
    "play_match",
    "policy_player",
    "random_player",
    "search_player",
]
