"""A two-player drafting game with a synergy table (JueWu's hero draft in miniature) and its exact solver."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

__all__ = ["DraftSolution", "DraftState", "DraftingGame"]


class DraftState(NamedTuple):
    """A draft in progress: ``picks[p]`` are the units player ``p`` has picked, in order; ``step`` picks were made."""

    picks: tuple[tuple[int, ...], tuple[int, ...]]
    step: int


@dataclass
class DraftSolution:
    """The exact value of a draft state under optimal play by both players (:meth:`DraftingGame.solve`).

    Attributes:
        value: the final return (own score minus the opponent's) of the player to move.
        action_values: ``[n]`` float64, that return after each pick (NaN for units already taken).
        best_actions: the optimal picks (within ``1e-9`` of the best).
        player: the player to move.
    """

    value: float
    action_values: torch.Tensor
    best_actions: list[int]
    player: int


class DraftingGame:
    """Two players pick units in turn until each has ``k`` (no unit twice); the synergy table scores the picks.

    A player's score is the sum of the pairwise synergies among its picks,
    ``sum_{i < j in picks} synergy[i, j]``, and its return is its own score minus the opponent's
    (zero-sum). Action ``u`` picks unit ``u``. The picks alternate ``0, 1, 0, 1, ...`` unless
    ``order`` gives another sequence of the ``2 k`` pickers (a snake draft: ``(0, 1, 1, 0, 0, 1)``).
    Implements :class:`~rl4py.planning.SearchGame`; :meth:`solve` finds the optimal picks by
    exhaustive minimax (``3^n`` states at most: small ``n`` only).

    Args:
        synergy: ``[n, n]`` symmetric table (its diagonal is not used).
        picks_per_player: ``k``, with ``2 k <= n``.
        order: the player making each of the ``2 k`` picks, ``k`` each; default alternating from player 0.

    Examples:
        >>> game = DraftingGame.random(num_units=6, picks_per_player=2, seed=0)
        >>> state = game.initial_state()
        >>> solution = game.solve(state)
        >>> first = solution.best_actions[0]
        >>> round(game.solve(game.apply(state, first)).value, 6) == round(-solution.value, 6)
        True
    """

    num_players = 2

    def __init__(self, synergy: torch.Tensor, picks_per_player: int, order: Sequence[int] | None = None) -> None:
        synergy = torch.as_tensor(synergy, dtype=torch.float64)
        if synergy.ndim != 2 or synergy.shape[0] != synergy.shape[1] or synergy.shape[0] < 2:
            raise ValueError(f"synergy must be a square [n, n] table with n >= 2, got shape {list(synergy.shape)}")
        if not bool(torch.isfinite(synergy).all()):
            raise ValueError("synergy must be finite")
        if not torch.allclose(synergy, synergy.T):
            raise ValueError("synergy must be symmetric: synergy[i, j] == synergy[j, i]")
        n = synergy.shape[0]
        if isinstance(picks_per_player, bool) or not isinstance(picks_per_player, int) or picks_per_player < 1:
            raise ValueError(f"picks_per_player must be an int >= 1, got {picks_per_player!r}")
        if 2 * picks_per_player > n:
            raise ValueError(
                f"two players picking {picks_per_player} units each need >= {2 * picks_per_player}, got {n}"
            )
        order = tuple(int(p) for p in order) if order is not None else (0, 1) * picks_per_player
        if (
            len(order) != 2 * picks_per_player
            or order.count(0) != picks_per_player
            or order.count(1) != picks_per_player
        ):
            raise ValueError(
                f"order must list the picker of each of the {2 * picks_per_player} picks, {picks_per_player} times "
                f"player 0 and {picks_per_player} times player 1; got {order}"
            )
        self.synergy = synergy
        self.num_units = n
        self.num_actions = n
        self.picks_per_player = picks_per_player
        self.order = order
        self._table = synergy.tolist()

    @classmethod
    def random(
        cls, num_units: int = 8, picks_per_player: int = 3, seed: int = 0, order: Sequence[int] | None = None
    ) -> DraftingGame:
        """A random instance: synergies i.i.d. uniform in ``[0, 1)``, symmetric, from a seeded ``torch.Generator``."""
        if isinstance(num_units, bool) or not isinstance(num_units, int) or num_units < 2:
            raise ValueError(f"num_units must be an int >= 2, got {num_units!r}")
        generator = torch.Generator().manual_seed(int(seed))
        upper = torch.rand(num_units, num_units, generator=generator, dtype=torch.float64).triu(1)
        return cls(upper + upper.T, picks_per_player, order)

    # ------------------------------------------------------------- SearchGame

    def initial_state(self) -> DraftState:
        """No unit picked yet."""
        return DraftState(((), ()), 0)

    def current_player(self, state: DraftState) -> int:
        return self.order[state.step]

    def legal_actions(self, state: DraftState) -> list[int]:
        taken = set(state.picks[0]) | set(state.picks[1])
        return [u for u in range(self.num_units) if u not in taken]

    def apply(self, state: DraftState, action: int) -> DraftState:
        if state.step >= len(self.order):
            raise ValueError("drafting: every pick has been made")
        if not 0 <= action < self.num_units or action in state.picks[0] or action in state.picks[1]:
            raise ValueError(f"drafting: unit {action} cannot be picked (taken: {state.picks}, n = {self.num_units})")
        player = self.order[state.step]
        picks = list(state.picks)
        picks[player] = picks[player] + (action,)
        return DraftState((picks[0], picks[1]), state.step + 1)

    def is_terminal(self, state: DraftState) -> bool:
        return state.step >= len(self.order)

    def returns(self, state: DraftState) -> tuple[float, float]:
        if not self.is_terminal(state):
            raise ValueError(f"drafting: returns are defined once all {len(self.order)} picks are made")
        s0, s1 = self.score(state.picks[0]), self.score(state.picks[1])
        return (s0 - s1, s1 - s0)

    def score(self, units: Sequence[int]) -> float:
        """The sum of the pairwise synergies among ``units``."""
        table, units = self._table, list(units)
        return sum(table[a][b] for i, a in enumerate(units) for b in units[i + 1 :])

    # -------------------------------------------------------------- heuristics

    def greedy_action(self, state: DraftState) -> int:
        """The pick with the largest synergy gain for the player to move (its sum with the player's picks);
        a player with no pick yet takes the unit with the strongest synergy to any free unit. Ties go to
        the lower index."""
        if self.is_terminal(state):
            raise ValueError("drafting: every pick has been made")
        gains = self._gains(state)
        return max(gains, key=gains.__getitem__)

    def greedy_evaluator(self, temperature: float = 1.0) -> Callable[[DraftState], tuple[torch.Tensor, float]]:
        """A hand-made PUCT evaluator (what a learned policy-value network replaces).

        The prior is ``softmax(gain / temperature)`` over the free units (the gains of
        :meth:`greedy_action`), the value the return of the player to move when both players finish
        the draft greedily. ``evaluator(state) -> (prior [n], value)``.
        """
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")

        def evaluate(state: DraftState) -> tuple[torch.Tensor, float]:
            gains = self._gains(state)
            logits = torch.full((self.num_units,), -float("inf"), dtype=torch.float64)
            logits[list(gains)] = torch.tensor(list(gains.values()), dtype=torch.float64) / temperature
            player, end = self.order[state.step], state
            while not self.is_terminal(end):
                end = self.apply(end, self.greedy_action(end))
            return torch.softmax(logits, dim=0), self.returns(end)[player]

        return evaluate

    def _gains(self, state: DraftState) -> dict[int, float]:
        """``{free unit: its synergy gain for the player to move}`` (see :meth:`greedy_action`)."""
        table, free = self._table, self.legal_actions(state)
        mine = state.picks[self.order[state.step]]
        if mine:
            return {u: sum(table[u][b] for b in mine) for u in free}
        return {u: max((table[u][v] for v in free if v != u), default=0.0) for u in free}

    # ------------------------------------------------------------------ solver

    def solve(self, state: DraftState | None = None) -> DraftSolution:
        """The exact minimax value and optimal picks at ``state`` (default: the first pick)."""
        state = self.initial_state() if state is None else state
        if self.is_terminal(state):
            raise ValueError("drafting: solve needs a state with picks left to make")
        table, n, order = self._table, self.num_units, self.order
        memo: dict[tuple[int, int], float] = {}

        def gain(unit: int, mask: int) -> float:
            return sum(table[unit][b] for b in range(n) if mask >> b & 1)

        def future(m0: int, m1: int, step: int) -> float:
            """Player 0's score minus player 1's still to be gained from here under optimal play."""
            if step == len(order):
                return 0.0
            key = (m0, m1)
            if key in memo:
                return memo[key]
            player, taken = order[step], m0 | m1
            best = -float("inf") if player == 0 else float("inf")
            for u in range(n):
                if taken >> u & 1:
                    continue
                if player == 0:
                    best = max(best, gain(u, m0) + future(m0 | 1 << u, m1, step + 1))
                else:
                    best = min(best, -gain(u, m1) + future(m0, m1 | 1 << u, step + 1))
            memo[key] = best
            return best

        m0 = sum(1 << u for u in state.picks[0])
        m1 = sum(1 << u for u in state.picks[1])
        player = order[state.step]
        sign = 1.0 if player == 0 else -1.0
        so_far = self.score(state.picks[0]) - self.score(state.picks[1])
        values = torch.full((n,), float("nan"), dtype=torch.float64)
        for u in self.legal_actions(state):
            if player == 0:
                total = so_far + gain(u, m0) + future(m0 | 1 << u, m1, state.step + 1)
            else:
                total = so_far - gain(u, m1) + future(m0, m1 | 1 << u, state.step + 1)
            values[u] = sign * total
        value = float(values.nan_to_num(nan=-float("inf")).max())
        best = [u for u in range(n) if not torch.isnan(values[u]) and float(values[u]) >= value - 1e-9]
        return DraftSolution(value=value, action_values=values, best_actions=best, player=player)
