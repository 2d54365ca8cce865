"""Deep sea (bsuite's ``deep_sea``, Osband et al. 2019): a batched, torch-native sparse-reward exploration task."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey

__all__ = ["DeepSea"]


class DeepSea(EnvBase):
    """An ``N x N`` grid that the agent descends one row per step; only the bottom-right corner pays.

    The agent starts at the top-left cell ``(0, 0)``. Each step it moves down one row and one column
    left or right (the columns are clipped to ``[0, N - 1]``), so every episode lasts exactly ``N``
    steps and terminates below the last row. Moving right costs ``move_cost / N``; moving right out of
    the bottom-right cell ``(N - 1, N - 1)`` pays ``+1``. The one way to earn it is to move right on
    every step: the optimal return is ``1 - move_cost`` (0.99), every other episode returns at most 0,
    and a uniformly random policy finds the treasure once in ``2^N`` episodes. A learner without
    directed exploration sees the small costs of moving right and learns to go left.

    With ``randomize_actions`` (bsuite's default) which action moves right is drawn per cell from
    ``mapping_seed``, so no fixed action is right everywhere; otherwise action 1 is right everywhere.

    - **Observation** ``[B, N * N]`` float32: the one-hot index ``row * N + column`` of the agent's cell;
      all zeros below the last row (the terminal observation).
    - **Action** ``Discrete(2)``.
    - **Reward** ``[B, 1]``: ``-move_cost / N`` per move right, ``+1`` for the move right out of
      ``(N - 1, N - 1)``.

    The dynamics are deterministic: the reset ``seed`` is accepted for the interface and changes nothing.

    Args:
        num_envs: number of sub-envs B.
        size: ``N`` (>= 2).
        move_cost: total cost of ``N`` moves right (>= 0; bsuite: 0.01).
        randomize_actions: draw which action moves right per cell.
        mapping_seed: the seed of that draw.
        device: device of the state and of every returned tensor.
        validate: check actions (see :class:`EnvBase`).

    Examples:
        >>> env = DeepSea(num_envs=2, size=4, randomize_actions=False)
        >>> _ = env.reset(seed=0)
        >>> total = torch.zeros(2, 1)
        >>> for _ in range(4):
        ...     out = env.step_tensors(torch.tensor([1, 0]))   # sub-env 0 always right, 1 always left
        ...     total += out.next["reward"]
        >>> total.squeeze(-1), out.next["done"].squeeze(-1)
        (tensor([0.9900, 0.0000]), tensor([True, True]))
    """

    trusted_entries = True

    def __init__(
        self,
        num_envs: int = 1,
        size: int = 10,
        move_cost: float = 0.01,
        randomize_actions: bool = True,
        mapping_seed: int = 0,
        device: torch.device | str = "cpu",
        validate: bool = True,
    ) -> None:
        if not isinstance(size, int) or size < 2:
            raise ValueError(f"DeepSea: size must be an int >= 2, got {size!r}")
        if not (np.isfinite(move_cost) and move_cost >= 0):
            raise ValueError(f"DeepSea: move_cost must be finite and >= 0, got {move_cost}")
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Box(0.0, 1.0, (size * size,), np.float32),
            single_action_space=gym.spaces.Discrete(2),
            device=device,
            validate=validate,
        )
        self.check_outputs = False  # one-hot observations and constant rewards are finite
        self.size = size
        self.move_cost = float(move_cost)
        if randomize_actions:
            gen = torch.Generator().manual_seed(int(mapping_seed))
            mapping = torch.randint(0, 2, (size, size), generator=gen)
        else:
            mapping = torch.ones(size, size, dtype=torch.int64)
        #: ``[N, N]`` int64: the action that moves right in each cell
        self.action_mapping = mapping.to(self.device)
        #: ``[B]`` int64: row and column of each sub-env's agent
        self.row = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.column = torch.zeros(num_envs, dtype=torch.int64, device=self.device)

    @property
    def optimal_return(self) -> float:
        """The return of moving right on every step: ``1 - move_cost``."""
        return 1.0 - self.move_cost

    def _observe(self, row: torch.Tensor, column: torch.Tensor) -> dict[NestedKey, torch.Tensor]:
        n = self.size
        inside = row < n
        index = torch.where(inside, row * n + column, torch.zeros_like(row))
        one_hot = torch.nn.functional.one_hot(index, n * n).to(torch.float32)
        return {keys.OBSERVATION: one_hot * inside.unsqueeze(-1)}

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        self.row = torch.zeros_like(self.row)
        self.column = torch.zeros_like(self.column)
        return self._observe(self.row, self.column)

    def _step(self, action: torch.Tensor) -> EnvStep:
        n = self.size
        right = action.long() == self.action_mapping[self.row, self.column]
        treasure = right & (self.column == n - 1)
        reward = treasure.to(torch.float32) - right.to(torch.float32) * (self.move_cost / n)
        column = torch.where(right, self.column + 1, self.column - 1).clamp(0, n - 1)
        row = self.row + 1
        terminated = (row == n).unsqueeze(-1)
        next_obs = self._observe(row, column)
        self.row = row.masked_fill(row == n, 0)
        self.column = column.masked_fill(row == n, 0)
        return EnvStep(
            next={
                **next_obs,
                keys.REWARD: reward.unsqueeze(-1),
                keys.TERMINATED: terminated,
                keys.TRUNCATED: torch.zeros_like(terminated),
                keys.DONE: terminated,
            },
            root=self._observe(self.row, self.column),
        )

    def state_dict(self) -> dict:
        return {"row": self.row.clone(), "column": self.column.clone()}

    def load_state_dict(self, state: dict) -> None:
        row = state["row"].to(self.device)
        if tuple(row.shape) != (self.num_envs,):
            raise ValueError(f"DeepSea: state 'row' has shape {tuple(row.shape)}, expected ({self.num_envs},)")
        self.row = row.clone()
        self.column = state["column"].to(self.device).clone()
