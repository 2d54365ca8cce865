"""A batched, torch-native Pendulum matching gymnasium's ``Pendulum-v1``."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.compiled import CompiledStep
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
        compile: run the physics step through ``torch.compile`` (see :class:`~rl4py.envs.CartPole`).

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
    trusted_entries = True

    def __init__(
        self,
        num_envs: int = 1,
        device: torch.device | str = "cpu",
        max_episode_steps: int = 200,
        g: float = 10.0,
        dtype: torch.dtype = torch.float32,
        validate: bool = True,
        compile: bool = False,
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
        self._physics = CompiledStep(pendulum_physics, "Pendulum", compile)

    def _initial_state(self, n: int | None = None) -> torch.Tensor:
        """Fresh states ``[n, 2]`` (``n`` defaults to ``num_envs``)."""
        n = self.num_envs if n is None else n
        u = torch.rand(n, 2, generator=self._rng.generator, dtype=self.dtype, device=self.device)
        return (u * 2.0 - 1.0) * self._high

    def _auto_reset(self, state: torch.Tensor, ended: torch.Tensor) -> torch.Tensor:
        """``state`` ``[B, 2]`` with the rows of the ``ended`` ``[B, 1]`` sub-envs replaced by fresh states
        (drawn for every sub-env on an accelerator, only for those that reset on the CPU; see
        :class:`~rl4py.envs.CartPole`)."""
        if self.device.type != "cpu":
            return torch.where(ended, self._initial_state(), state)
        ids = ended.squeeze(-1).nonzero().squeeze(-1)
        if ids.numel() == 0:
            return state
        state = state.clone()
        state[ids] = self._initial_state(ids.numel())
        return state

    @staticmethod
    def _observe(state: torch.Tensor) -> torch.Tensor:
        return pendulum_observe(state)

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
        return pendulum_dynamics(state, torque, self.g)

    def _step(self, action: torch.Tensor) -> EnvStep:
        next_state, next_obs, reward, truncated, self.elapsed_steps = self._physics(
            self.state, action, self.elapsed_steps, self.g, self.max_episode_steps
        )
        self.state = self._auto_reset(next_state, truncated)
        return EnvStep(
            next={
                keys.OBSERVATION: next_obs,
                keys.REWARD: reward,
                keys.TERMINATED: torch.zeros_like(truncated),
                keys.TRUNCATED: truncated,
                keys.DONE: truncated.clone(),
            },
            root={keys.OBSERVATION: pendulum_observe(self.state)},
        )

    def state_dict(self) -> dict:
        return {"state": self.state.clone(), "elapsed_steps": self.elapsed_steps.clone(), "rng": self._rng.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.state = state["state"].to(self.device, self.dtype).clone()
        self.elapsed_steps = state["elapsed_steps"].to(self.device).clone()
        self._rng.load_state_dict(state["rng"])


def pendulum_observe(state: torch.Tensor) -> torch.Tensor:
    """``[B, 2]`` (``th``, ``thdot``) -> ``[B, 3]`` float32 (``cos th``, ``sin th``, ``thdot``)."""
    th, thdot = state[:, 0], state[:, 1]
    return torch.stack((th.cos(), th.sin(), thdot), dim=-1).to(torch.float32)


def pendulum_dynamics(state: torch.Tensor, torque: torch.Tensor, g: float) -> tuple[torch.Tensor, torch.Tensor]:
    """gymnasium's pendulum step ``(next_state [B, 2], cost [B])`` from ``state`` ``[B, 2]`` and the
    clipped ``torque`` ``[B]``, in gymnasium's order of operations (its float64 results to round-off)."""
    m, length, dt = Pendulum.m, Pendulum.length, Pendulum.dt
    th, thdot = state[:, 0], state[:, 1]
    th_norm = torch.remainder(th + math.pi, 2 * math.pi).sub_(math.pi)
    # angle_normalize(th)^2 + 0.1 thdot^2 + 0.001 u^2
    cost = th_norm.square_().addcmul_(thdot, thdot, value=0.1).addcmul_(torque, torque, value=0.001)
    accel = (th.sin() * (3 * g / (2 * length))).add_(torque, alpha=3.0 / (m * length**2))
    new_thdot = torch.add(thdot, accel, alpha=dt).clamp_(-Pendulum.max_speed, Pendulum.max_speed)
    new_th = torch.add(th, new_thdot, alpha=dt)
    return torch.stack((new_th, new_thdot), dim=-1), cost


def pendulum_physics(
    state: torch.Tensor, action: torch.Tensor, elapsed: torch.Tensor, g: float, max_steps: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A Pendulum step but the auto-reset's draw.

    Args:
        state: ``[B, 2]``; action: ``[B, 1]`` torque (clipped here); elapsed: ``[B]`` int64;
        g: gravity; max_steps: the truncation horizon.

    Returns:
        ``(next_state [B, 2], next_obs [B, 3], reward [B, 1], truncated [B, 1], elapsed)`` (the
        step counters after auto-reset).
    """
    torque = action[:, 0].to(state.dtype).clamp(-Pendulum.max_torque, Pendulum.max_torque)
    next_state, cost = pendulum_dynamics(state, torque, g)
    elapsed = elapsed + 1
    truncated = (elapsed >= max_steps).unsqueeze(-1)
    reward = cost.neg_().to(torch.float32).unsqueeze(-1)
    return (
        next_state,
        pendulum_observe(next_state),
        reward,
        truncated,
        elapsed.masked_fill_(truncated.squeeze(-1), 0),
    )
