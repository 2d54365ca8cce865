"""Two-player, turn-based games, batched: the interface, native torch games, the OpenSpiel adapter,
matches between players, and :class:`VersusEnv`, which turns a game and its opponents into an env
the trainers train on."""

from rl4py.games.arena import MatchResult, play_match, policy_player, random_player, search_player
from rl4py.games.base import CURRENT_PLAYER, RETURNS, TERMINAL, TwoPlayerGame
from rl4py.games.board import ConnectFour, TicTacToe
from rl4py.games.factory import NATIVE_GAMES, make_game
from rl4py.games.openspiel import OpenSpielGame, expected_payoff, exploitability, tabular_policy
from rl4py.games.versus import GamePlayer, VersusEnv, player_actions

__all__ = [
    "CURRENT_PLAYER",
    "NATIVE_GAMES",
    "RETURNS",
    "TERMINAL",
    "ConnectFour",
    "GamePlayer",
    "MatchResult",
    "OpenSpielGame",
    "TicTacToe",
    "TwoPlayerGame",
    "VersusEnv",
    "expected_payoff",
    "exploitability",
    "make_game",
    "play_match",
    "player_actions",
    "policy_player",
    "random_player",
    "search_player",
    "tabular_policy",
]
