"""A batched line with equally good resources at both ends: strategies differ in where the agent spends its time."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey

__all__ = ["LeftRight", "left_side_fraction"]


class LeftRight(EnvBase):
    """Cells ``-half .. half`` of a line; each end pays ``end_reward`` per step spent there.

    The agent starts at cell 0 and moves left, stays or moves right (actions 0, 1, 2; moves past
    an end stay there). Both ends pay the same, so going left, going right or splitting the time
    are equally good strategies: a testbed for z-conditioning (:class:`~rl4py.envs.ZConditioning`
    with :func:`left_side_fraction` as the statistic). Episodes are truncated after
    ``max_episode_steps`` steps, never terminated. Deterministic: no random source.

    - **Observation** ``[B, 2 * half + 2]`` float32: the one-hot cell, then the fraction of the
      episode elapsed.
    - **Reward** ``[B, 1]``: ``end_reward`` at either end cell, else 0.

    Args:
        num_envs: number of sub-envs B.
        half: cells on each side of the centre (>= 1).
        max_episode_steps: truncation step (>= 1).
        end_reward: reward per step at an end cell.
        device: device of the state and of every returned tensor.
        validate: check actions and outputs (see :class:`EnvBase`).

    Examples:
        >>> env = LeftRight(num_envs=2)
        >>> td = env.reset(seed=0)
        >>> td["action"] = torch.tensor([0, 2])
        >>> env.step(td)["next", "observation"][:, :7]
        tensor([[0., 0., 1., 0., 0., 0., 0.],
                [0., 0., 0., 0., 1., 0., 0.]])
    """

    trusted_entries = True

    def __init__(
        self,
        num_envs: int = 1,
        half: int = 3,
        max_episode_steps: int = 32,
        end_reward: float = 0.1,
        device: torch.device | str = "cpu",
        validate: bool = True,
    ) -> None:
        if not isinstance(half, int) or half < 1:
            raise ValueError(f"LeftRight: half must be an int >= 1, got {half!r}")
        if not isinstance(max_episode_steps, int) or max_episode_steps < 1:
            raise ValueError(f"LeftRight: max_episode_steps must be an int >= 1, got {max_episode_steps!r}")
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Box(0.0, 1.0, (2 * half + 2,), np.float32),
            single_action_space=gym.spaces.Discrete(3),
            device=device,
            validate=validate,
        )
        self.check_outputs = False
        self.half = half
        self.max_episode_steps = max_episode_steps
        self.end_reward = float(end_reward)
        #: ``[B]`` int64: each sub-env's cell (``-half .. half``) and its steps so far
        self.position = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.elapsed_steps = torch.zeros(num_envs, dtype=torch.int64, device=self.device)

    def _observe(self, position: torch.Tensor, elapsed: torch.Tensor) -> dict[NestedKey, torch.Tensor]:
        obs = torch.zeros(self.num_envs, 2 * self.half + 2, device=self.device)
        obs.scatter_(1, (position + self.half).unsqueeze(-1), 1.0)
        obs[:, -1] = elapsed.float() / self.max_episode_steps
        return {keys.OBSERVATION: obs}

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        self.position = torch.zeros_like(self.position)
        self.elapsed_steps = torch.zeros_like(self.elapsed_steps)
        return self._observe(self.position, self.elapsed_steps)

    def _step(self, action: torch.Tensor) -> EnvStep:
        position = (self.position + action.long() - 1).clamp(-self.half, self.half)
        reward = self.end_reward * (position.abs() == self.half).float()
        elapsed = self.elapsed_steps + 1
        truncated = elapsed >= self.max_episode_steps
        next_obs = self._observe(position, elapsed)
        self.position = position.masked_fill(truncated, 0)
        self.elapsed_steps = elapsed.masked_fill(truncated, 0)
        return EnvStep(
            next={
                **next_obs,
                keys.REWARD: reward.unsqueeze(-1),
                keys.TERMINATED: torch.zeros_like(truncated).unsqueeze(-1),
                keys.TRUNCATED: truncated.unsqueeze(-1),
                keys.DONE: truncated.unsqueeze(-1).clone(),
            },
            root=self._observe(self.position, self.elapsed_steps),
        )

    def state_dict(self) -> dict:
        return {"position": self.position.clone(), "elapsed_steps": self.elapsed_steps.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.position = state["position"].to(self.device).clone()
        self.elapsed_steps = state["elapsed_steps"].to(self.device).clone()


def left_side_fraction(next_observation: torch.Tensor, half: int = 3) -> torch.Tensor:
    """:class:`LeftRight`'s strategy statistic of one step: 1 where the agent is left of the centre.

    Args:
        next_observation: ``("next", "observation")`` ``[B, 2 * half + 2]`` of a step.
        half: the env's ``half``.

    Returns:
        ``[B, 1]`` float: ``1.0`` on cells ``-half .. -1``, else ``0.0``; its mean over an episode
        is the fraction of the time spent on the left.
    """
    if next_observation.shape[-1] != 2 * half + 2:
        raise ValueError(
            f"left_side_fraction: expected observations [B, {2 * half + 2}] (half={half}), "
            f"got {tuple(next_observation.shape)}"
        )
    return next_observation[..., :half].sum(-1, keepdim=True)
