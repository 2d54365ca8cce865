"""Small deterministic envs whose correct behaviour is known in closed form, for tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.seeding import SeededGenerator

__all__ = ["CountingEnv", "IdentityEnv", "InfiniteHorizonEnv"]


def _flags(terminated: torch.Tensor, truncated: torch.Tensor) -> dict[NestedKey, torch.Tensor]:
    return {
        keys.TERMINATED: terminated.unsqueeze(-1),
        keys.TRUNCATED: truncated.unsqueeze(-1),
        keys.DONE: (terminated | truncated).unsqueeze(-1),
    }


class CountingEnv(EnvBase):
    """Observation = steps taken in the episode; reward 1; terminates after ``episode_length`` steps.

    Sub-env ``i`` can have its own length (``episode_length`` as a sequence), so episode
    boundaries fall at different times across the batch. Observation ``[B, 1]`` float32,
    action ``[B]`` in ``{0, 1}`` (ignored).

    Args:
        num_envs: number of sub-envs.
        episode_length: steps until termination, one int or one per sub-env.
    """

    def __init__(self, num_envs: int = 1, episode_length: int | list[int] = 5) -> None:
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Box(0, np.inf, (1,), np.float32),
            single_action_space=gym.spaces.Discrete(2),
        )
        lengths = torch.as_tensor(episode_length, dtype=torch.int64).expand(num_envs).clone()
        if (lengths < 1).any():
            raise ValueError(f"CountingEnv: episode_length must be >= 1, got {episode_length}")
        self.episode_length = lengths
        self.count = torch.zeros(num_envs, dtype=torch.int64)

    def _obs(self) -> torch.Tensor:
        return self.count.to(torch.float32).unsqueeze(-1)

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        self.count = torch.zeros(self.num_envs, dtype=torch.int64)
        return {keys.OBSERVATION: self._obs()}

    def _step(self, action: torch.Tensor) -> EnvStep:
        self.count = self.count + 1
        next_obs = self._obs()
        terminated = self.count >= self.episode_length
        self.count = self.count.masked_fill(terminated, 0)
        return EnvStep(
            next={
                keys.OBSERVATION: next_obs,
                keys.REWARD: torch.ones(self.num_envs, 1),
                **_flags(terminated, torch.zeros_like(terminated)),
            },
            root={keys.OBSERVATION: self._obs()},
        )

    def state_dict(self) -> dict:
        return {"count": self.count.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.count = state["count"].clone()


class IdentityEnv(EnvBase):
    """Observe a one-hot target among ``n`` and get reward 1 for choosing it, else 0.

    Episodes are truncated after ``episode_length`` steps (never terminated). An optimal policy
    scores ``episode_length`` per episode, a uniform one ``episode_length / n``.

    Args:
        num_envs: number of sub-envs.
        n: number of actions (and targets).
        episode_length: steps per episode.
    """

    def __init__(self, num_envs: int = 1, n: int = 4, episode_length: int = 10) -> None:
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Box(0, 1, (n,), np.float32),
            single_action_space=gym.spaces.Discrete(n),
        )
        self.n = n
        self.episode_length = episode_length
        self._rng = SeededGenerator()
        self.target = torch.zeros(num_envs, dtype=torch.int64)
        self.count = torch.zeros(num_envs, dtype=torch.int64)

    def _draw(self) -> torch.Tensor:
        return torch.randint(0, self.n, (self.num_envs,), generator=self._rng.generator)

    def _obs(self) -> torch.Tensor:
        return torch.nn.functional.one_hot(self.target, self.n).to(torch.float32)

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        self._rng.seed(seed)
        self.target = self._draw()
        self.count = torch.zeros(self.num_envs, dtype=torch.int64)
        return {keys.OBSERVATION: self._obs()}

    def _step(self, action: torch.Tensor) -> EnvStep:
        reward = (action == self.target).to(torch.float32).unsqueeze(-1)
        self.count = self.count + 1
        truncated = self.count >= self.episode_length
        self.count = self.count.masked_fill(truncated, 0)
        self.target = self._draw()
        obs = self._obs()
        return EnvStep(
            next={keys.OBSERVATION: obs, keys.REWARD: reward, **_flags(torch.zeros_like(truncated), truncated)},
            root={keys.OBSERVATION: obs.clone()},
        )

    def state_dict(self) -> dict:
        return {"target": self.target.clone(), "count": self.count.clone(), "rng": self._rng.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.target = state["target"].clone()
        self.count = state["count"].clone()
        self._rng.load_state_dict(state["rng"])


class InfiniteHorizonEnv(EnvBase):
    """Constant reward 1 forever, cut by a time limit (truncation, never termination).

    The true value of every state is ``1 / (1 - gamma)``; an estimator that bootstraps at
    truncation recovers it, one that treats truncation as termination does not. The
    observation is constant, so a critic must learn one number.

    Args:
        num_envs: number of sub-envs.
        max_episode_steps: truncation horizon.
    """

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 10) -> None:
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Box(0, 1, (1,), np.float32),
            single_action_space=gym.spaces.Discrete(2),
        )
        self.max_episode_steps = max_episode_steps
        self.count = torch.zeros(num_envs, dtype=torch.int64)

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        self.count = torch.zeros(self.num_envs, dtype=torch.int64)
        return {keys.OBSERVATION: torch.ones(self.num_envs, 1)}

    def _step(self, action: torch.Tensor) -> EnvStep:
        self.count = self.count + 1
        truncated = self.count >= self.max_episode_steps
        self.count = self.count.masked_fill(truncated, 0)
        return EnvStep(
            next={
                keys.OBSERVATION: torch.ones(self.num_envs, 1),
                keys.REWARD: torch.ones(self.num_envs, 1),
                **_flags(torch.zeros_like(truncated), truncated),
            },
            root={keys.OBSERVATION: torch.ones(self.num_envs, 1)},
        )

    def state_dict(self) -> dict:
        return {"count": self.count.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.count = state["count"].clone()
