"""A batched, torch-native CartPole matching gymnasium's ``CartPole-v1``."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.seeding import SeededGenerator

__all__ = ["CartPole"]


class CartPole(EnvBase):
    """CartPole with any number of sub-envs stepped as tensor ops on any device.

    Dynamics, termination (``|x| > 2.4`` or ``|theta| > 12`` degrees), reward (1 per step,
    the terminal step included), reset distribution (uniform in ``[-0.05, 0.05]``) and the
    500-step truncation match gymnasium's ``CartPole-v1`` (Euler integrator).

    Observation ``[B, 4]`` float32: cart position, cart velocity, pole angle, pole angular
    velocity. Action ``[B]`` int64 in ``{0, 1}`` (push left, push right).

    Args:
        num_envs: number of sub-envs B.
        device: device of the state and of every returned tensor.
        max_episode_steps: truncation horizon (500 as in ``CartPole-v1``).
        dtype: dtype of the internal state; ``torch.float64`` (gymnasium's) matches gymnasium to
            round-off (~1e-16) in a single step, ``torch.float32`` (default) is faster.
            Observations are float32.
        partial_observation: hide the velocities (observation ``[B, 2]``: position and angle),
            a partially observable variant for recurrent policies.
        validate: check actions and outputs (see :class:`EnvBase`).

    Examples:
        >>> env = CartPole(num_envs=8)
        >>> td = env.reset(seed=0)
        >>> td["observation"].shape
        torch.Size([8, 4])
        >>> td["action"] = env.rand_action()
        >>> td, root = env.step_and_reset(td)
        >>> td["next", "reward"].shape
        torch.Size([8, 1])
    """

    gravity = 9.8
    masscart = 1.0
    masspole = 0.1
    total_mass = masspole + masscart
    length = 0.5
    polemass_length = masspole * length
    force_mag = 10.0
    tau = 0.02
    theta_threshold_radians = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def __init__(
        self,
        num_envs: int = 1,
        device: torch.device | str = "cpu",
        max_episode_steps: int = 500,
        dtype: torch.dtype = torch.float32,
        partial_observation: bool = False,
        validate: bool = True,
    ) -> None:
        high = np.array([self.x_threshold * 2, np.inf, self.theta_threshold_radians * 2, np.inf], dtype=np.float32)
        if partial_observation:
            high = high[[0, 2]]
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Box(-high, high, dtype=np.float32),
            single_action_space=gym.spaces.Discrete(2),
            device=device,
            validate=validate,
        )
        self.check_outputs = False  # the dynamics cannot produce NaN/inf from valid actions
        if max_episode_steps < 1:
            raise ValueError(f"CartPole: max_episode_steps must be >= 1, got {max_episode_steps}")
        self.max_episode_steps = max_episode_steps
        self.dtype = dtype
        self.partial_observation = partial_observation
        self._rng = SeededGenerator(self.device)
        self.state = torch.zeros(num_envs, 4, dtype=dtype, device=self.device)
        self.elapsed_steps = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self._force_over_mass = torch.tensor(
            [-self.force_mag / self.total_mass, self.force_mag / self.total_mass], dtype=dtype, device=self.device
        )
        self._thresholds = torch.tensor(
            [self.x_threshold, self.theta_threshold_radians], dtype=dtype, device=self.device
        )

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        # `state` tensors are never modified in place after they are returned, so no copy is needed
        obs = state[:, [0, 2]] if self.partial_observation else state
        return obs.to(torch.float32)

    def _initial_state(self) -> torch.Tensor:
        state = torch.empty(self.num_envs, 4, device=self.device, dtype=self.dtype)
        return state.uniform_(-0.05, 0.05, generator=self._rng.generator)

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        self._rng.seed(seed)
        self.state = self._initial_state()
        self.elapsed_steps = torch.zeros_like(self.elapsed_steps)
        return {keys.OBSERVATION: self._observe(self.state).clone()}

    def dynamics(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """One Euler step of the cart-pole equations (gymnasium's, with constants folded).

        Args:
            state: ``[B, 4]``.
            action: ``[B]`` in ``{0, 1}``.

        Returns:
            The next state ``[B, 4]``.
        """
        m, pml, length = self.total_mass, self.polemass_length, self.length
        theta_dot = state[:, 3]
        costheta, sintheta = state[:, 2].cos(), state[:, 2].sin()
        # temp = (force + pml * theta_dot^2 * sin) / m, with force = +-force_mag
        # .long(): a uint8 index would be read as a boolean mask (a no-op for int64)
        temp = self._force_over_mass[action.long()].addcmul_(theta_dot.square(), sintheta, value=pml / m)
        # thetaacc = (g * sin - cos * temp) / (length * (4/3 - masspole * cos^2 / m))
        denom = costheta.square().mul_(-length * self.masspole / m).add_(length * 4.0 / 3.0)
        thetaacc = (sintheta * self.gravity).addcmul_(costheta, temp, value=-1.0).div_(denom)
        # xacc = temp - pml * thetaacc * cos / m
        xacc = temp.addcmul_(thetaacc, costheta, value=-pml / m)
        derivative = torch.stack((state[:, 1], xacc, theta_dot, thetaacc), dim=-1)
        return torch.add(state, derivative, alpha=self.tau)

    def _step(self, action: torch.Tensor) -> EnvStep:
        next_state = self.dynamics(self.state, action)
        terminated = (next_state[:, 0::2].abs() > self._thresholds).any(-1, keepdim=True)
        elapsed = self.elapsed_steps + 1
        truncated = (elapsed >= self.max_episode_steps).unsqueeze(-1)
        done = terminated | truncated
        self.state = torch.where(done, self._initial_state(), next_state)
        self.elapsed_steps = elapsed.masked_fill_(done.squeeze(-1), 0)
        return EnvStep(
            next={
                keys.OBSERVATION: self._observe(next_state),
                keys.REWARD: torch.ones(self.num_envs, 1, device=self.device),
                keys.TERMINATED: terminated,
                keys.TRUNCATED: truncated,
                keys.DONE: done,
            },
            # a copy: a consumer writing into the observation must not move the cart
            root={keys.OBSERVATION: self._observe(self.state).clone()},
        )

    def state_dict(self) -> dict:
        return {"state": self.state.clone(), "elapsed_steps": self.elapsed_steps.clone(), "rng": self._rng.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.state = state["state"].to(self.device, self.dtype).clone()
        self.elapsed_steps = state["elapsed_steps"].to(self.device).clone()
        self._rng.load_state_dict(state["rng"])

    def render(self, index: int | None = None, width: int = 600, height: int = 400) -> torch.Tensor:
        """Draws the current state as gymnasium's ``CartPole-v1`` does (``rgb_array``), without pygame.

        Args:
            index: ``None`` draws every sub-env; an int draws only that sub-env.
            width: image width in pixels (gymnasium's 600).
            height: image height in pixels (gymnasium's 400).

        Returns:
            ``[B, height, width, 3]`` uint8, or ``[height, width, 3]`` for one ``index``, on the env's device.
        """
        from rl4py.envs.rendering import draw_cartpole  # kept local: the renderer is optional to the dynamics

        if index is None:
            return draw_cartpole(self.state, self.x_threshold, self.length, width, height)
        if not -self.num_envs <= index < self.num_envs:
            raise IndexError(f"CartPole: render index {index} is out of range for num_envs={self.num_envs}")
        return draw_cartpole(self.state[index].unsqueeze(0), self.x_threshold, self.length, width, height)[0]
