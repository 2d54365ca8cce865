"""PSRO's population (Lanctot et al., 2017, "A Unified Game-Theoretic Approach to Multiagent
Reinforcement Learning"): frozen best responses, their exact payoff matrix and its Nash mixture,
which the next best response trains against. :func:`~rl4py.trainers.self_play_update` drives it with
``SelfPlayConfig(opponents="psro")``."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from rl4py.games.openspiel import expected_payoff, tabular_policy
from rl4py.multiagent import SelfPlayPool, nash_mixture

__all__ = ["PSROPopulation"]


class PSROPopulation:
    """The population of a PSRO run on an OpenSpiel game: every member a frozen copy of a learner
    (an ``nn.ModuleDict`` with ``"actor"``), the exact expected payoff of each member against each
    other (OpenSpiel's game-tree values, both seats averaged) and the meta-Nash mixture over them.

    Args:
        game: the ``pyspiel.Game`` (with information-state tensors).
        first: the first member (the initial policy).
        probabilities: ``actor -> (td -> [N, A] probabilities)`` (see :func:`~rl4py.trainers.action_probabilities`).
        meta_iterations: regret-matching steps of the meta-solver (:func:`~rl4py.multiagent.nash_mixture`).
        seed: seeds the opponent draws.
    """

    def __init__(self, game: Any, first: nn.Module, probabilities: Any, meta_iterations: int, seed: int) -> None:
        self.game = game
        self.probabilities = probabilities
        self.meta_iterations = meta_iterations
        self.pool = SelfPlayPool()
        self._template = copy.deepcopy(first)
        self.generator = torch.Generator().manual_seed(seed)
        self.payoffs = torch.zeros(0, 0, dtype=torch.float64)
        self._tables: list[Any] = []
        self.mixture = torch.zeros(0, dtype=torch.float64)
        self.add(first, step=0)

    def __len__(self) -> int:
        return len(self.pool)

    def _table(self, module: nn.Module) -> Any:
        return tabular_policy(self.game, self.probabilities(module["actor"]))

    def add(self, module: nn.Module, step: int) -> str:
        """Adds a frozen copy of ``module``, its payoffs against every member, and solves the meta-game again."""
        snapshot = self.pool.add(module, step=step, name=f"response_{len(self.pool)}")
        table = self._table(snapshot.module)
        row = torch.tensor([expected_payoff(self.game, table, other) for other in self._tables], dtype=torch.float64)
        n = len(self._tables) + 1
        payoffs = torch.zeros(n, n, dtype=torch.float64)
        payoffs[: n - 1, : n - 1] = self.payoffs
        payoffs[n - 1, : n - 1] = row
        payoffs[: n - 1, n - 1] = -row
        self.payoffs = payoffs
        self._tables.append(table)
        self.mixture = nash_mixture(self.payoffs, self.meta_iterations)
        return snapshot.name

    def draw(self, count: int) -> list[tuple[str, nn.Module]]:
        """``count`` members drawn from the meta-Nash mixture, as ``(name, actor)`` opponents."""
        picks = torch.multinomial(self.mixture, count, replacement=True, generator=self.generator).tolist()
        snapshots = self.pool.snapshots
        return [(snapshots[i].name, snapshots[i].module["actor"]) for i in picks]

    def actors(self) -> list[nn.Module]:
        """Every member's actor, in the order they joined."""
        return [s.module["actor"] for s in self.pool.snapshots]

    def state_dict(self) -> dict:
        """The members' weights, the payoff matrix and the draws' RNG."""
        return {
            "pool": self.pool.state_dict(),
            "payoffs": self.payoffs.clone(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restores :meth:`state_dict` (the members' tabular policies are recomputed)."""
        self.pool.load_state_dict(state["pool"], lambda: copy.deepcopy(self._template))
        self.payoffs = state["payoffs"].to(torch.float64).clone()
        if self.payoffs.shape != (len(self.pool), len(self.pool)):
            raise ValueError(
                f"PSROPopulation.load_state_dict: {len(self.pool)} members but a payoff matrix of "
                f"{tuple(self.payoffs.shape)}"
            )
        self._tables = [self._table(s.module) for s in self.pool.snapshots]
        self.mixture = nash_mixture(self.payoffs, self.meta_iterations)
        self.generator.set_state(state["generator"])
