"""The payoff table: results between players and the win rates matchmaking reads (AlphaStar's ``Payoff``)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from typing import Any

import torch

__all__ = ["OUTCOMES", "PayoffTable"]

#: the outcome names :meth:`PayoffTable.record` accepts, from the first player's side
OUTCOMES = ("win", "draw", "loss")


def _check_count(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"PayoffTable.update: {name} must be a number of games, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"PayoffTable.update: {name} must be a finite count >= 0, got {value}")
    return float(value)


class PayoffTable:
    """Wins, draws and losses between every pair of registered players, and ``p(a beats b)``.

    Players are any hashable ids (the :class:`~rl4py.multiagent.League` uses names such as ``"main_0"``
    and ``"main_0@4000"``), registered with :meth:`add_player` before their games are recorded; an
    unregistered id is an error, so a typo cannot open a row of its own. A result is stored from both
    sides: ``a`` beating ``b`` is ``b`` losing to ``a``. The win rate counts a draw as half a win::

        p(a beats b) = (wins + draws / 2) / (wins + draws + losses)

    and is ``prior`` (0.5, as in AlphaStar's pseudo-code) for a pair that never played; :meth:`seen`
    tells the two apart.

    With ``decay < 1`` old games fade as AlphaStar's payoff does: each new game between ``a`` and ``b``
    first multiplies that pair's totals by ``decay`` (a batch of ``n`` games in one :meth:`update`
    multiplies them by ``decay ** n``, then adds the ``n`` games at full weight), so the win rate
    follows a moving opponent. Counts are then fractional.

    Args:
        players: ids to register now.
        decay: the factor on a pair's older totals per new game, in ``(0, 1]``; 1 keeps every game.
        prior: the win rate reported for a pair that never played, in ``[0, 1]``.

    Examples:
        >>> table = PayoffTable(["a", "b"])
        >>> table.update("a", "b", wins=3, draws=2, losses=5)
        >>> table.win_rate("a", "b"), table.win_rate("b", "a")
        (0.4, 0.6)
        >>> table.record("a", "b", torch.tensor([1.0, -2.0, 0.0]))  # a's returns: their signs count
        >>> table.counts("a", "b")
        (4.0, 3.0, 6.0)
    """

    def __init__(self, players: Iterable[Hashable] = (), *, decay: float = 1.0, prior: float = 0.5) -> None:
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"PayoffTable: decay must be in (0, 1] (1 keeps every game), got {decay}")
        if not 0.0 <= prior <= 1.0:
            raise ValueError(f"PayoffTable: prior must be a win rate in [0, 1], got {prior}")
        self.decay = float(decay)
        self.prior = float(prior)
        self._players: dict[Hashable, None] = {}  # insertion-ordered set
        self._results: dict[tuple[Hashable, Hashable], list[float]] = {}  # (a, b) -> [wins, draws, losses] of a
        for player in players:
            self.add_player(player)

    # ---- players ----------------------------------------------------------------------------------
    @property
    def players(self) -> list[Hashable]:
        """The registered ids, in the order they were added."""
        return list(self._players)

    def __contains__(self, player: object) -> bool:
        return player in self._players

    def __len__(self) -> int:
        return len(self._players)

    def add_player(self, player: Hashable) -> None:
        """Registers ``player`` (no games yet).

        Raises:
            ValueError: ``player`` is already registered.
        """
        if player in self._players:
            raise ValueError(f"PayoffTable.add_player: {player!r} is already registered")
        self._players[player] = None

    def remove_player(self, player: Hashable) -> None:
        """Unregisters ``player`` and drops every result it took part in (an evicted snapshot)."""
        self._check(player, "remove_player")
        self.forget(player)
        del self._players[player]

    def forget(self, player: Hashable) -> None:
        """Drops every result ``player`` took part in, keeping it registered (a player reset to new weights)."""
        self._check(player, "forget")
        for pair in [pair for pair in self._results if player in pair]:
            del self._results[pair]

    def _check(self, player: Hashable, where: str) -> None:
        if player not in self._players:
            known = list(self._players)
            shown = ", ".join(map(repr, known[:8])) + (f", ... ({len(known)} in all)" if len(known) > 8 else "")
            raise KeyError(f"PayoffTable.{where}: unknown player {player!r}; registered: [{shown}]")

    # ---- results ----------------------------------------------------------------------------------
    def update(self, a: Hashable, b: Hashable, wins: float = 0, draws: float = 0, losses: float = 0) -> None:
        """Adds ``wins``, ``draws`` and ``losses`` of ``a`` against ``b`` (and the mirror for ``b``).

        Counts are numbers of games (ints, or floats for weighted games), >= 0. A player against itself
        (``a == b``) is stored once, as given.

        Raises:
            KeyError: ``a`` or ``b`` is not registered.
            ValueError: a count is negative or not finite.
        """
        self._check(a, "update")
        self._check(b, "update")
        new = [_check_count("wins", wins), _check_count("draws", draws), _check_count("losses", losses)]
        n = sum(new)
        if n == 0:
            return
        factor = self.decay**n
        pairs = [((a, b), new)] if a == b else [((a, b), new), ((b, a), new[::-1])]
        for pair, add in pairs:
            old = self._results.get(pair, [0.0, 0.0, 0.0])
            self._results[pair] = [factor * o + x for o, x in zip(old, add)]

    def record(self, a: Hashable, b: Hashable, outcome: str | float | torch.Tensor) -> None:
        """Adds games of ``a`` against ``b`` from their outcomes, seen from ``a``'s side.

        Args:
            a, b: registered players.
            outcome: ``"win"``, ``"draw"`` or ``"loss"`` (one game); or ``a``'s final returns, one game
                per element (a number or a tensor of any shape): positive is a win, zero a draw,
                negative a loss, so ``+1 / 0 / -1`` and poker's chip counts both read right.

        Raises:
            ValueError: an unknown outcome name or a non-finite return.
        """
        if isinstance(outcome, str):
            if outcome not in OUTCOMES:
                raise ValueError(f"PayoffTable.record: outcome must be one of {OUTCOMES} or returns, got {outcome!r}")
            self.update(a, b, *(float(outcome == name) for name in OUTCOMES))
            return
        if isinstance(outcome, bool) or not isinstance(outcome, (int, float, torch.Tensor)):
            raise TypeError(
                f"PayoffTable.record: outcome must be 'win'/'draw'/'loss' or a's returns (number or tensor), "
                f"got {type(outcome).__name__}"
            )
        returns = (outcome.detach().cpu() if isinstance(outcome, torch.Tensor) else torch.tensor(outcome)).double()
        if not torch.isfinite(returns).all():
            raise ValueError("PayoffTable.record: the returns hold NaN or inf values")
        self.update(a, b, int((returns > 0).sum()), int((returns == 0).sum()), int((returns < 0).sum()))

    def counts(self, a: Hashable, b: Hashable) -> tuple[float, float, float]:
        """``(wins, draws, losses)`` of ``a`` against ``b`` (decayed when ``decay < 1``)."""
        self._check(a, "counts")
        self._check(b, "counts")
        wins, draws, losses = self._results.get((a, b), (0.0, 0.0, 0.0))
        return wins, draws, losses

    def games(self, a: Hashable, b: Hashable) -> float:
        """The number of games between ``a`` and ``b`` (decayed when ``decay < 1``)."""
        return sum(self.counts(a, b))

    def seen(self, a: Hashable, b: Hashable) -> bool:
        """Whether ``a`` and ``b`` ever played (decay never brings a count back to zero)."""
        return self.games(a, b) > 0

    def win_rate(self, a: Hashable, b: Hashable) -> float:
        """``p(a beats b) = (wins + draws / 2) / games``, or ``prior`` when they never played."""
        wins, draws, losses = self.counts(a, b)
        games = wins + draws + losses
        return (wins + 0.5 * draws) / games if games > 0 else self.prior

    def win_rates(self, a: Hashable, opponents: Iterable[Hashable]) -> torch.Tensor:
        """``p(a beats o)`` for each of ``opponents``: float64 ``[len(opponents)]``."""
        return torch.tensor([self.win_rate(a, o) for o in opponents], dtype=torch.float64)

    # ---- checkpoints ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The players and every pair's totals, as plain Python values (``torch.save``-able)."""
        return {
            "decay": self.decay,
            "prior": self.prior,
            "players": list(self._players),
            "results": [[a, b, *counts] for (a, b), counts in self._results.items()],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict` (replacing every player and result)."""
        missing = {"decay", "prior", "players", "results"} - set(state)
        if missing:
            raise KeyError(f"PayoffTable.load_state_dict: the state lacks {sorted(missing)}")
        if state["decay"] != self.decay or state["prior"] != self.prior:
            raise ValueError(
                f"PayoffTable.load_state_dict: the state was saved with decay={state['decay']}, "
                f"prior={state['prior']}; this table has decay={self.decay}, prior={self.prior}"
            )
        self._players = dict.fromkeys(state["players"])
        self._results = {}
        for a, b, *counts in state["results"]:
            self._check(a, "load_state_dict")
            self._check(b, "load_state_dict")
            self._results[(a, b)] = [float(c) for c in counts]

    def __repr__(self) -> str:
        return f"PayoffTable(players={len(self._players)}, pairs={len(self._results)}, decay={self.decay})"
