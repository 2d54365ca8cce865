"""A batched, torch-native Pendulum matching gymnasium's ``Pendulum-v1``."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.seeding import SeededGenerator

__all__ = ["Pendulum"]


class Pendulum(EnvBase):
    """Inverted-pendulum swing-up with any number of sub-envs, as tensor ops on any device.

    Dynamics, cost ``angle_normalize(th)^2 + 0.1 thdot^2 + 0.001 u^2`` (reward = -cost), torque
    clipping to ``[-2, 2]``, speed clipping to ``[-8, 8]``, reset distribution (``th`` uniform in
    ``[-pi, pi]``, ``thdot`` in ``[-1, 1]``) and the 200-step truncation match gymnasium's
    ``Pendulum-v1``. Never terminates.

    Observation ``[B, 3]`` float32: ``cos(th), sin(th), thdot``. Action ``[B, 1]`` float32 torque;
    values outside ``[-2, 2]`` are clipped when stepped (the stored action is not changed).

    Args:
        num_envs: number of sub-envs B.
        device: device of the state and of every returned tensor.
        max_episode_steps: truncation horizon (200 as in ``Pendulum-v1``).
        g: gravity (10.0 as in gymnasium).
        dtype: dtype of the internal state (``torch.float64`` is gymnasium's).
        validate: check actions (see :class:`EnvBase`).

    Examples:
        >>> env = Pendulum(num_envs=4)
        >>> td = env.reset(seed=0)
        >>> td["action"] = env.rand_action()
        >>> env.step(td)["next", "reward"].shape
        torch.Size([4, 1])
    """

    max_speed = 8.0
    max_torque = 2.0
    dt = 0.05
    m = 1.0
    length = 1.0

    def __init__(
        self,
        num_envs: int = 1,
        device: torch.device | str = "cpu",
        max_episode_steps: int = 200,
        g: float = 10.0,
        dtype: torch.dtype = torch.float32,
        validate: bool = True,
    ) -> None:
        high = np.array([1.0, 1.0, self.max_speed], dtype=np.float32)
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Box(-high, high, dtype=np.float32),
            single_action_space=gym.spaces.Box(-self.max_torque, self.max_torque, (1,), np.float32),
            device=device,
            validate=validate,
        )
        self.check_outputs = False  # finite actions keep every output finite
        if max_episode_steps < 1:
            raise ValueError(f"Pendulum: max_episode_steps must be >= 1, got {max_episode_steps}")
        self.max_episode_steps = max_episode_steps
        self.g = float(g)
        self.dtype = dtype
        self._rng = SeededGenerator(self.device)
        self.state = torch.zeros(num_envs, 2, dtype=dtype, device=self.device)
        self.elapsed_steps = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self._high = torch.tensor([math.pi, 1.0], dtype=dtype, device=self.device)

    def _initial_state(self) -> torch.Tensor:
        u = torch.rand(self.num_envs, 2, generator=self._rng.generator, dtype=self.dtype, device=self.device)
        return (u * 2.0 - 1.0) * self._high

    @staticmethod
    def _observe(state: torch.Tensor) -> torch.Tensor:
        th, thdot = state[:, 0], state[:, 1]
        return torch.stack((th.cos(), th.sin(), thdot), dim=-1).to(torch.float32)

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        self._rng.seed(seed)
        self.state = self._initial_state()
        self.elapsed_steps = torch.zeros_like(self.elapsed_steps)
        return {keys.OBSERVATION: self._observe(self.state)}

    def dynamics(self, state: torch.Tensor, torque: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of gymnasium's pendulum.

        Args:
            state: ``[B, 2]`` (``th``, ``thdot``).
            torque: ``[B]``, already clipped to ``[-2, 2]``.

        Returns:
            ``(next_state [B, 2], cost [B])``.
        """
        th, thdot = state[:, 0], state[:, 1]
        th_norm = torch.remainder(th + math.pi, 2 * math.pi) - math.pi
        cost = th_norm.square() + 0.1 * thdot.square() + 0.001 * torque.square()
        accel = 3 * self.g / (2 * self.length) * th.sin() + 3.0 / (self.m * self.length**2) * torque
        new_thdot = (thdot + accel * self.dt).clamp(-self.max_speed, self.max_speed)
        new_th = th + new_thdot * self.dt
        return torch.stack((new_th, new_thdot), dim=-1), cost

    def _step(self, action: torch.Tensor) -> EnvStep:
        torque = action[:, 0].to(self.dtype).clamp(-self.max_torque, self.max_torque)
        next_state, cost = self.dynamics(self.state, torque)
        elapsed = self.elapsed_steps + 1
        truncated = (elapsed >= self.max_episode_steps).unsqueeze(-1)
        self.state = torch.where(truncated, self._initial_state(), next_state)
        self.elapsed_steps = elapsed.masked_fill(truncated.squeeze(-1), 0)
        terminated = torch.zeros_like(truncated)
        return EnvStep(
            next={
                keys.OBSERVATION: self._observe(next_state),
                keys.REWARD: (-cost).to(torch.float32).unsqueeze(-1),
                keys.TERMINATED: terminated,
                keys.TRUNCATED: truncated,
                keys.DONE: truncated.clone(),
            },
            root={keys.OBSERVATION: self._observe(self.state)},
        )

    def state_dict(self) -> dict:
        return {"state": self.state.clone(), "elapsed_steps": self.elapsed_steps.clone(), "rng": self._rng.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.state = state["state"].to(self.device, self.dtype).clone()
        self.elapsed_steps = state["elapsed_steps"].to(self.device).clone()
        self._rng.load_state_dict(state["rng"])
