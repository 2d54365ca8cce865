"""A batched, torch-native Acrobot matching gymnasium's ``Acrobot-v1``."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.seeding import SeededGenerator

__all__ = ["Acrobot"]


class Acrobot(EnvBase):
    """Two-link acrobot swing-up with any number of sub-envs, as tensor ops on any device.

    Dynamics (the "book" equations of Sutton and Barto, as gymnasium's default), fourth-order
    Runge-Kutta integration over ``dt = 0.2``, angle wrapping to ``[-pi, pi]``, velocity bounds
    ``4 pi`` and ``9 pi``, the goal ``-cos(th1) - cos(th1 + th2) > 1`` (terminates), reward ``-1`` per
    step and ``0`` on the step that reaches the goal, reset distribution (every state variable
    uniform in ``[-0.1, 0.1]``, rounded to float32 as gymnasium does) and the 500-step truncation
    match gymnasium's ``Acrobot-v1``.

    Observation ``[B, 6]`` float32: ``cos(th1), sin(th1), cos(th2), sin(th2), dth1, dth2``. Action
    ``[B]`` int64 in ``{0, 1, 2}``: torque ``-1, 0, +1`` on the joint between the links.

    Args:
        num_envs: number of sub-envs B.
        device: device of the state and of every returned tensor.
        max_episode_steps: truncation horizon (500 as in ``Acrobot-v1``).
        dtype: dtype of the internal state; ``torch.float64`` (gymnasium's) matches gymnasium to
            round-off, ``torch.float32`` (default) is faster. Observations are float32.
        validate: check actions (see :class:`EnvBase`).

    Examples:
        >>> env = Acrobot(num_envs=8)
        >>> td = env.reset(seed=0)
        >>> td["observation"].shape
        torch.Size([8, 6])
        >>> td["action"] = env.rand_action()
        >>> td, root = env.step_and_reset(td)
        >>> td["next", "reward"].unique().tolist()
        [-1.0]
    """

    dt = 0.2
    link_length_1 = 1.0
    link_length_2 = 1.0
    link_mass_1 = 1.0
    link_mass_2 = 1.0
    link_com_pos_1 = 0.5
    link_com_pos_2 = 0.5
    link_moi = 1.0
    max_vel_1 = 4 * math.pi
    max_vel_2 = 9 * math.pi
    gravity = 9.8
    avail_torque = (-1.0, 0.0, 1.0)
    #: native dynamics: entries checked at the first step only (see EnvBase)
    trusted_entries = True

    def __init__(
        self,
        num_envs: int = 1,
        device: torch.device | str = "cpu",
        max_episode_steps: int = 500,
        dtype: torch.dtype = torch.float32,
        validate: bool = True,
    ) -> None:
        high = np.array([1.0, 1.0, 1.0, 1.0, self.max_vel_1, self.max_vel_2], dtype=np.float32)
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Box(-high, high, dtype=np.float32),
            single_action_space=gym.spaces.Discrete(3),
            device=device,
            validate=validate,
        )
        self.check_outputs = False  # the bounded dynamics cannot produce NaN/inf from valid actions
        if max_episode_steps < 1:
            raise ValueError(f"Acrobot: max_episode_steps must be >= 1, got {max_episode_steps}")
        self.max_episode_steps = max_episode_steps
        self.dtype = dtype
        self._rng = SeededGenerator(self.device)
        self.state = torch.zeros(num_envs, 4, dtype=dtype, device=self.device)
        self.elapsed_steps = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self._torques = torch.tensor(self.avail_torque, dtype=dtype, device=self.device)

    def _initial_state(self) -> torch.Tensor:
        u = torch.rand(self.num_envs, 4, generator=self._rng.generator, dtype=self.dtype, device=self.device)
        # gymnasium draws in float64 and stores the draw as float32
        return (u * 0.2 - 0.1).to(torch.float32).to(self.dtype)

    @staticmethod
    def _observe(state: torch.Tensor) -> torch.Tensor:
        th1, th2 = state[:, 0], state[:, 1]
        return torch.stack((th1.cos(), th1.sin(), th2.cos(), th2.sin(), state[:, 2], state[:, 3]), -1).to(torch.float32)

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        self._rng.seed(seed)
        self.state = self._initial_state()
        self.elapsed_steps = torch.zeros_like(self.elapsed_steps)
        return {keys.OBSERVATION: self._observe(self.state)}

    def derivatives(self, state: torch.Tensor, torque: torch.Tensor) -> torch.Tensor:
        """Time derivative of the state under ``torque`` (gymnasium's ``_dsdt``, "book" dynamics).

        The expressions keep gymnasium's order of operations, so float64 results agree to the last bits.

        Args:
            state: ``[B, 4]`` (``th1``, ``th2``, ``dth1``, ``dth2``).
            torque: ``[B]``.

        Returns:
            ``[B, 4]``: ``(dth1, dth2, ddth1, ddth2)``.
        """
        m1, m2 = self.link_mass_1, self.link_mass_2
        l1, lc1, lc2 = self.link_length_1, self.link_com_pos_1, self.link_com_pos_2
        i1 = i2 = self.link_moi
        g = self.gravity
        theta1, theta2, dtheta1, dtheta2 = state.unbind(-1)
        cos2, sin2 = theta2.cos(), theta2.sin()
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos2) + i1 + i2
        d2 = m2 * (lc2**2 + l1 * lc2 * cos2) + i2
        phi2 = m2 * lc2 * g * (theta1 + theta2 - math.pi / 2.0).cos()
        phi1 = (
            -m2 * l1 * lc2 * dtheta2**2 * sin2
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin2
            + (m1 * lc1 + m2 * l1) * g * (theta1 - math.pi / 2).cos()
            + phi2
        )
        ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * sin2 - phi2) / (
            m2 * lc2**2 + i2 - d2**2 / d1
        )
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return torch.stack((dtheta1, dtheta2, ddtheta1, ddtheta2), dim=-1)

    def dynamics(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """One RK4 step of ``dt`` seconds, then angle wrapping and velocity bounds (gymnasium's ``step``).

        Args:
            state: ``[B, 4]``.
            action: ``[B]`` in ``{0, 1, 2}``.

        Returns:
            The next state ``[B, 4]``.
        """
        torque = self._torques[action.long()]
        dt, dt2 = self.dt, self.dt / 2.0
        k1 = self.derivatives(state, torque)
        k2 = self.derivatives(state + dt2 * k1, torque)
        k3 = self.derivatives(state + dt2 * k2, torque)
        k4 = self.derivatives(state + dt * k3, torque)
        new = state + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        angles = new[:, :2]
        # gymnasium's wrap() subtracts or adds 2 pi until the angle is in [-pi, pi]; one RK4 step moves an
        # angle by at most ~0.2 s * 9 pi plus the acceleration's share, so two rounds reach every case
        for _ in range(2):
            angles = torch.where(angles > math.pi, angles - 2 * math.pi, angles)
            angles = torch.where(angles < -math.pi, angles + 2 * math.pi, angles)
        dtheta1 = new[:, 2].clamp(-self.max_vel_1, self.max_vel_1)
        dtheta2 = new[:, 3].clamp(-self.max_vel_2, self.max_vel_2)
        return torch.stack((angles[:, 0], angles[:, 1], dtheta1, dtheta2), dim=-1)

    def _step(self, action: torch.Tensor) -> EnvStep:
        next_state = self.dynamics(self.state, action)
        th1, th2 = next_state[:, 0], next_state[:, 1]
        terminated = (-th1.cos() - (th2 + th1).cos() > 1.0).unsqueeze(-1)
        elapsed = self.elapsed_steps + 1
        truncated = (elapsed >= self.max_episode_steps).unsqueeze(-1)
        done = terminated | truncated
        self.state = torch.where(done, self._initial_state(), next_state)
        self.elapsed_steps = elapsed.masked_fill_(done.squeeze(-1), 0)
        return EnvStep(
            next={
                keys.OBSERVATION: self._observe(next_state),
                keys.REWARD: terminated.to(torch.float32) - 1.0,
                keys.TERMINATED: terminated,
                keys.TRUNCATED: truncated,
                keys.DONE: done,
            },
            root={keys.OBSERVATION: self._observe(self.state)},
        )

    def state_dict(self) -> dict:
        return {"state": self.state.clone(), "elapsed_steps": self.elapsed_steps.clone(), "rng": self._rng.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.state = state["state"].to(self.device, self.dtype).clone()
        self.elapsed_steps = state["elapsed_steps"].to(self.device).clone()
        self._rng.load_state_dict(state["rng"])

    def draw_observation(self, observation: torch.Tensor, width: int = 500, height: int = 500) -> torch.Tensor:
        """Draws sub-envs from their observations as gymnasium's ``Acrobot-v1`` does (``rgb_array``).

        The one drawing path of this env: :meth:`render` and :class:`~rl4py.envs.PixelObservation`
        call it. The angles are recovered exactly (to float32 round-off) as ``atan2(sin, cos)``.

        Args:
            observation: ``[B, 6]`` (``cos th1, sin th1, cos th2, sin th2, dth1, dth2``).
            width, height: image size in pixels; the picture is square (gymnasium's 500x500).

        Returns:
            ``[B, height, width, 3]`` uint8 on ``observation``'s device (see
            :func:`~rl4py.envs.rendering.draw_acrobot`).
        """
        from rl4py.envs.rendering import draw_acrobot  # kept local: the renderer is optional to the dynamics

        if observation.dim() != 2 or observation.shape[-1] != 6:
            raise ValueError(f"Acrobot: draw_observation needs observations [B, 6], got {tuple(observation.shape)}")
        if width != height:
            raise ValueError(f"Acrobot: the picture is square, got width={width} != height={height}")
        th1 = torch.atan2(observation[:, 1], observation[:, 0])
        th2 = torch.atan2(observation[:, 3], observation[:, 2])
        state = torch.stack((th1, th2, observation[:, 4], observation[:, 5]), dim=-1)
        return draw_acrobot(state, width, self.link_length_1)

    def render(self, index: int | None = None, size: int = 500) -> torch.Tensor:
        """Draws the current state as gymnasium's ``Acrobot-v1`` does (``rgb_array``), without pygame
        (through :meth:`draw_observation`).

        Args:
            index: ``None`` draws every sub-env; an int draws only that sub-env.
            size: image width and height in pixels (gymnasium's 500).

        Returns:
            ``[B, size, size, 3]`` uint8, or ``[size, size, 3]`` for one ``index``, on the env's device.
        """
        observation = self._observe(self.state)
        if index is None:
            return self.draw_observation(observation, size, size)
        if not -self.num_envs <= index < self.num_envs:
            raise IndexError(f"Acrobot: render index {index} is out of range for num_envs={self.num_envs}")
        return self.draw_observation(observation[index].unsqueeze(0), size, size)[0]
