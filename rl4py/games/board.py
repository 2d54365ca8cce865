"""Native batched board games in torch: tic-tac-toe and Connect Four, ``B`` games stepped as tensor ops.

Both are :class:`~rl4py.games.TwoPlayerGame` s whose whole state lives in tensors on the game's
device (no Python loop over games): a move is one scatter, the win check one gather over the lines
through the cell just played. They are the fast self-play games of issue 12; the pure-Python
:class:`rl4py.planning.TicTacToeGame` is a different thing, a single-position search model for
:class:`~rl4py.planning.MCTS`.

The board holds ``rows * columns`` cells, cell ``r * columns + c`` (row-major); a cell is 0 (empty),
1 (player 0's piece) or 2 (player 1's). Player 0 moves first. The observation of ``player`` is three
planes ``[3, rows, columns]`` flattened to float32 ``[3 * rows * columns]``: the player's own pieces,
the opponent's pieces, the empty cells; the same network can then play either seat. Returns are
``(1, -1)`` when player 0 completes a line, ``(-1, 1)`` when player 1 does, ``(0, 0)`` for a full
board without a line.
"""

from __future__ import annotations

from abc import abstractmethod

import torch

from rl4py.games.base import TwoPlayerGame

__all__ = ["ConnectFour", "TicTacToe"]

_MARKS = ".XO"


def _lines(rows: int, columns: int, connect: int) -> list[list[int]]:
    """Every straight line of ``connect`` cells (horizontal, vertical, both diagonals) as cell indices."""
    lines = []
    for r in range(rows):
        for c in range(columns):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                end_r, end_c = r + dr * (connect - 1), c + dc * (connect - 1)
                if 0 <= end_r < rows and 0 <= end_c < columns:
                    lines.append([(r + dr * i) * columns + (c + dc * i) for i in range(connect)])
    return lines


def _lines_through(rows: int, columns: int, connect: int) -> torch.Tensor:
    """``[cells, M, 4]`` int64: the lines through each cell, as 4 cells each (``M`` the most lines
    through one cell; a cell with fewer repeats its first line, a line of 3 repeats its first cell:
    neither changes whether some line is all one player's)."""
    if not 2 <= connect <= 4:
        raise ValueError(f"lines of 2 to 4 cells fit the 4-byte win check, got connect={connect}")
    lines = [line + line[:1] * (4 - connect) for line in _lines(rows, columns, connect)]
    through = [[line for line in lines if cell in line] for cell in range(rows * columns)]
    most = max(len(t) for t in through)
    return torch.tensor([t + [t[0]] * (most - len(t)) for t in through], dtype=torch.int64)


class _BoardGame(TwoPlayerGame):
    """Shared machinery of the line games: the board tensor, moves, the win check, state_dict.

    Subclasses set ``rows``, ``columns``, ``connect`` and implement :meth:`_cell` (the cell an action
    fills) and :meth:`legal_mask`.

    State: ``board`` ``[B, cells]`` int8 (0 empty, 1 / 2 the pieces of player 0 / 1), ``moves`` ``[B]``
    int64 (pieces on the board), ``winner`` ``[B]`` int64 (-1 none yet or a draw), ``done`` ``[B]`` bool.
    """

    rows: int
    columns: int
    connect: int

    def __init__(self, num_games: int, num_actions: int, *, device: torch.device | str, validate: bool) -> None:
        cells = self.rows * self.columns
        super().__init__(
            num_games=num_games,
            num_actions=num_actions,
            observation_shape=(3 * cells,),
            device=device,
            validate=validate,
        )
        self.num_cells = cells
        # [cells, M * 4]: the cells of the lines through each cell
        self._through = _lines_through(self.rows, self.columns, self.connect).flatten(1).to(self.device)
        self._index = torch.arange(num_games, device=self.device)
        self.board = torch.zeros(num_games, cells, dtype=torch.int8, device=self.device)
        self.moves = torch.zeros(num_games, dtype=torch.int64, device=self.device)
        self.winner = torch.full((num_games,), -1, dtype=torch.int64, device=self.device)
        self.done = torch.zeros(num_games, dtype=torch.bool, device=self.device)

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _cell(self, action: torch.Tensor) -> torch.Tensor:
        """The cell ``[B]`` int64 that ``action`` ``[B]`` (in range) fills in each game."""

    def _reset_games(self, where: torch.Tensor) -> None:
        self.board.masked_fill_(where.unsqueeze(-1), 0)
        self.moves.masked_fill_(where, 0)
        self.winner.masked_fill_(where, -1)
        self.done.masked_fill_(where, False)

    def _apply(self, action: torch.Tensor, where: torch.Tensor) -> None:
        action = action.to(self.device)
        where = where & ~self.done
        cell = self._cell(action.clamp(0, self.num_actions - 1))
        player = self.moves % 2
        mark = (player + 1).to(torch.int8)
        flat = self._index * self.num_cells + cell  # into board.view(-1): cheaper than board[index, cell]
        board = self.board.view(-1)
        board[flat] = torch.where(where, mark, board[flat])
        # the lines through the new piece, [B, M * 4] int8 cells read as [B, M] int32 words: a line is
        # the mover's when its word is the mover's mark in each of its 4 bytes (any byte order)
        pieces = self.board.gather(1, self._through.index_select(0, cell)).view(torch.int32)
        won = (pieces == (mark.to(torch.int32) * 0x01010101).unsqueeze(-1)).any(-1) & where
        self.moves += where.long()
        self.winner = torch.where(won, player, self.winner)
        self.done |= won | (where & (self.moves == self.num_cells))

    def current_player(self) -> torch.Tensor:
        return torch.where(self.done, -1, self.moves % 2)

    def observation(self, player: torch.Tensor) -> torch.Tensor:
        own = (player.to(self.device) + 1).to(torch.int8).unsqueeze(-1)
        out = torch.empty(self.num_games, 3, self.num_cells, dtype=torch.float32, device=self.device)
        # comparisons written straight into the float planes: several times faster than stack + cast
        torch.eq(self.board, own, out=out[:, 0])
        torch.eq(self.board, 3 - own, out=out[:, 1])
        torch.eq(self.board, 0, out=out[:, 2])
        return out.view(self.num_games, -1)

    def returns(self) -> torch.Tensor:
        sign = (self.winner == 0).long() - (self.winner == 1).long()
        return torch.stack([sign, -sign], dim=-1).to(torch.float32)

    def terminal(self) -> torch.Tensor:
        return self.done.clone()

    # ------------------------------------------------------------- public API
    def to_string(self, game: int = 0) -> str:
        """Game ``game``'s board as text, top row first: ``X`` player 0, ``O`` player 1, ``.`` empty."""
        if not 0 <= game < self.num_games:
            raise IndexError(f"{self.name}.to_string: game {game} out of range; expected 0 <= game < {self.num_games}")
        grid = self.board[game].view(self.rows, self.columns).tolist()
        return "\n".join("".join(_MARKS[cell] for cell in grid[r]) for r in self._display_rows())

    def _display_rows(self) -> range:
        return range(self.rows)

    def state_dict(self) -> dict:
        """The RNG and the boards (``board``, ``moves``, ``winner``, ``done``), cloned."""
        state = super().state_dict()
        state.update(
            board=self.board.clone(), moves=self.moves.clone(), winner=self.winner.clone(), done=self.done.clone()
        )
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restores :meth:`state_dict` (onto this game's device).

        Raises:
            ValueError: an entry is missing or has another shape (a state of a different ``num_games``).
        """
        expected = {
            "board": (self.board.shape, torch.int8),
            "moves": (self.moves.shape, torch.int64),
            "winner": (self.winner.shape, torch.int64),
            "done": (self.done.shape, torch.bool),
        }
        for name, (shape, dtype) in expected.items():
            value = state.get(name)
            if not isinstance(value, torch.Tensor) or value.shape != shape or value.dtype != dtype:
                got = f"{tuple(value.shape)} {value.dtype}" if isinstance(value, torch.Tensor) else repr(value)
                raise ValueError(
                    f"{self.name}.load_state_dict: {name!r} must be a {tuple(shape)} {dtype} tensor "
                    f"(num_games={self.num_games}), got {got}"
                )
        super().load_state_dict(state)
        self.board = state["board"].to(self.device, copy=True).contiguous()  # _apply writes through view(-1)
        self.moves = state["moves"].to(self.device, copy=True)
        self.winner = state["winner"].to(self.device, copy=True)
        self.done = state["done"].to(self.device, copy=True)

    def __repr__(self) -> str:
        return (
            f"{self.name}(num_games={self.num_games}, rows={self.rows}, columns={self.columns}, "
            f"connect={self.connect}, device={self.device})"
        )


class TicTacToe(_BoardGame):
    """Batched tic-tac-toe: ``num_games`` boards of 3 x 3; action ``i`` marks cell ``i`` (row-major, 0..8).

    Player 0 (X) moves first; three in a row (a row, a column or a diagonal) wins. Observations are
    ``[B, 27]`` float32 (own, opponent's, empty planes of ``[3, 3]``), action masks ``[B, 9]``. The
    actions and returns are OpenSpiel's ``tic_tac_toe``'s. This is the fast self-play game; the
    search model :class:`rl4py.planning.TicTacToeGame` plays one position at a time for MCTS.

    Beyond the :class:`~rl4py.games.TwoPlayerGame` interface, ``to_string(game)`` draws one board,
    and ``state_dict()`` / ``load_state_dict()`` hold the boards too, for an exact resume.

    Args:
        num_games: ``B``, the boards played together.
        device: where the boards live (and every output).
        validate: check each step's actions (shape, dtype, legality).

    Examples:
        >>> game = TicTacToe(num_games=2)
        >>> td = game.reset()
        >>> for cells in ([0, 4], [1, 0], [3, 8], [4, 2], [6, 6]):  # game 0: X takes the left column
        ...     td = game.step(torch.tensor(cells))
        >>> print(game.to_string(0))
        XO.
        XO.
        X..
        >>> td["terminal"].tolist(), td["returns"][0].tolist()
        ([True, False], [1.0, -1.0])
    """

    rows = columns = connect = 3

    def __init__(self, num_games: int = 1, *, device: torch.device | str = "cpu", validate: bool = True) -> None:
        super().__init__(num_games, 9, device=device, validate=validate)

    def _cell(self, action: torch.Tensor) -> torch.Tensor:
        return action

    def legal_mask(self) -> torch.Tensor:
        return (self.board == 0) & ~self.done.unsqueeze(-1)


class ConnectFour(_BoardGame):
    """Batched Connect Four: ``num_games`` boards of 6 rows x 7 columns; action ``c`` drops a piece in
    column ``c`` (0..6), where it falls to the lowest empty cell; four in a row (horizontally,
    vertically or diagonally) wins.

    Player 0 (X) moves first; a full column is illegal. Row 0 is the bottom row (cell ``r * 7 + c``,
    as OpenSpiel's ``connect_four``, whose actions and returns these are). Observations are
    ``[B, 126]`` float32 (own, opponent's, empty planes of ``[6, 7]``, row 0 at the bottom), action
    masks ``[B, 7]``.

    Beyond the :class:`~rl4py.games.TwoPlayerGame` interface, ``heights()`` counts the pieces per
    column, ``to_string(game)`` draws one board (top row first), and ``state_dict()`` /
    ``load_state_dict()`` hold the boards too, for an exact resume.

    Args:
        num_games: ``B``, the boards played together.
        device: where the boards live (and every output).
        validate: check each step's actions (shape, dtype, legality).

    Examples:
        >>> game = ConnectFour(num_games=1)
        >>> td = game.reset()
        >>> for column in [3, 3, 4, 4, 5, 5, 6]:  # X completes the bottom row's 3..6
        ...     td = game.step(torch.tensor([column]))
        >>> print(game.to_string(0).splitlines()[-2:])
        ['...OOO.', '...XXXX']
        >>> td["returns"].tolist()
        [[1.0, -1.0]]
    """

    rows, columns, connect = 6, 7, 4

    def __init__(self, num_games: int = 1, *, device: torch.device | str = "cpu", validate: bool = True) -> None:
        super().__init__(num_games, 7, device=device, validate=validate)
        cells = torch.arange(self.num_cells, device=self.device).view(self.rows, self.columns)
        self._column_cells = cells.t().contiguous()  # [columns, rows]: the cells of each column

    def heights(self) -> torch.Tensor:
        """The pieces in each column, ``[B, 7]`` int64."""
        return (self.board.view(self.num_games, self.rows, self.columns) != 0).sum(1)

    def _cell(self, action: torch.Tensor) -> torch.Tensor:
        # the pieces in the chosen column only; a full column's row is clamped into the board (only
        # games where the move is skipped reach it)
        column = self.board.gather(1, self._column_cells.index_select(0, action))
        row = (column != 0).sum(-1).clamp(max=self.rows - 1)
        return row * self.columns + action

    def legal_mask(self) -> torch.Tensor:
        return (self.board[:, -self.columns :] == 0) & ~self.done.unsqueeze(-1)

    def _display_rows(self) -> range:
        return range(self.rows - 1, -1, -1)
