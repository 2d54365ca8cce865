"""Planning: Dreamer's imagined rollouts in a learned model, and Monte Carlo tree search in turn-based games."""

from rl4py.planning.drafting import DraftingGame, DraftSolution, DraftState
from rl4py.planning.game_model import SearchGame
from rl4py.planning.imagination import Imagination, frozen
from rl4py.planning.mcts import MCTS, SearchNode, SearchResult
from rl4py.planning.tictactoe import TicTacToeGame, TicTacToeState

__all__ = [
    "MCTS",
    "DraftSolution",
    "DraftState",
    "DraftingGame",
    "Imagination",
    "SearchGame",
    "SearchNode",
    "SearchResult",
    "TicTacToeGame",
    "TicTacToeState",
    "frozen",
]
