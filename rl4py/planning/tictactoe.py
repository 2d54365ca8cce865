"""Tic-tac-toe as a :class:`~rl4py.planning.SearchGame`: a tiny pure-Python model for search and its tests."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["TicTacToeGame", "TicTacToeState"]

_LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
_MARKS = {".": 0, "X": 1, "O": 2}


class TicTacToeState(NamedTuple):
    """A position: ``board`` holds 9 cells in row-major order (0 empty, 1 X = player 0, 2 O = player 1)."""

    board: tuple[int, ...]
    player: int


class TicTacToeGame:
    """Tic-tac-toe: X (player 0) moves first; action ``i`` marks cell ``i`` (row-major, 0..8).

    The returns are ``(1, -1)`` when X has three in a row, ``(-1, 1)`` when O has, ``(0, 0)`` for a draw.

    Examples:
        >>> game = TicTacToeGame()
        >>> state = game.state_from_string("XX. OO. ...")
        >>> game.current_player(state), list(game.legal_actions(state))
        (0, [2, 5, 6, 7, 8])
        >>> game.returns(game.apply(state, 2))
        (1.0, -1.0)
    """

    num_players = 2
    num_actions = 9

    def initial_state(self) -> TicTacToeState:
        """The empty board, X to move."""
        return TicTacToeState((0,) * 9, 0)

    def state_from_string(self, text: str) -> TicTacToeState:
        """A position from 9 characters among ``X``, ``O``, ``.`` (whitespace ignored), row-major.

        The player to move follows from the counts: X when both have as many marks, else O.
        """
        cells = [ch for ch in text.upper() if not ch.isspace()]
        if len(cells) != 9 or any(ch not in _MARKS for ch in cells):
            raise ValueError(f"a tic-tac-toe board is 9 characters among 'X', 'O', '.'; got {text!r}")
        board = tuple(_MARKS[ch] for ch in cells)
        xs, os = board.count(1), board.count(2)
        if xs - os not in (0, 1):
            raise ValueError(
                f"X moves first, so X has as many marks as O or one more; got {xs} X and {os} O in {text!r}"
            )
        return TicTacToeState(board, 0 if xs == os else 1)

    @staticmethod
    def winner(state: TicTacToeState) -> int | None:
        """The player with three in a row, or ``None``."""
        b = state.board
        for i, j, k in _LINES:
            if b[i] and b[i] == b[j] == b[k]:
                return b[i] - 1
        return None

    def current_player(self, state: TicTacToeState) -> int:
        return state.player

    def legal_actions(self, state: TicTacToeState) -> list[int]:
        return [i for i, cell in enumerate(state.board) if cell == 0]

    def apply(self, state: TicTacToeState, action: int) -> TicTacToeState:
        if not 0 <= action < 9 or state.board[action]:
            raise ValueError(f"tic-tac-toe: cell {action} is not free (board {state.board})")
        if self.is_terminal(state):
            raise ValueError("tic-tac-toe: the game is over")
        board = list(state.board)
        board[action] = state.player + 1
        return TicTacToeState(tuple(board), 1 - state.player)

    def is_terminal(self, state: TicTacToeState) -> bool:
        return self.winner(state) is not None or 0 not in state.board

    def returns(self, state: TicTacToeState) -> tuple[float, float]:
        if not self.is_terminal(state):
            raise ValueError("tic-tac-toe: returns are defined at terminal states only")
        w = self.winner(state)
        if w is None:
            return (0.0, 0.0)
        return (1.0, -1.0) if w == 0 else (-1.0, 1.0)
