"""Batched, torch-native mountain cars matching gymnasium's ``MountainCar-v0`` and ``MountainCarContinuous-v0``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.seeding import SeededGenerator

__all__ = ["MountainCar", "MountainCarContinuous"]

MIN_POSITION = -1.2
MAX_POSITION = 0.6
MAX_SPEED = 0.07
GRAVITY = 0.0025


class _MountainCarBase(EnvBase):
    """State, reset, auto-reset and checkpointing shared by both mountain cars."""

    goal_position: float

    #: native dynamics: entries checked at the first step only (see EnvBase)
    trusted_entries = True

    def __init__(
        self,
        num_envs: int,
        device: torch.device | str,
        max_episode_steps: int,
        single_action_space: gym.Space,
        dtype: torch.dtype,
        validate: bool,
    ) -> None:
        low = np.array([MIN_POSITION, -MAX_SPEED], dtype=np.float32)
        high = np.array([MAX_POSITION, MAX_SPEED], dtype=np.float32)
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Box(low, high, dtype=np.float32),
            single_action_space=single_action_space,
            device=device,
            validate=validate,
        )
        if max_episode_steps < 1:
            raise ValueError(f"{self.name}: max_episode_steps must be >= 1, got {max_episode_steps}")
        self.max_episode_steps = max_episode_steps
        self.dtype = dtype
        self._rng = SeededGenerator(self.device)
        self.state = torch.zeros(num_envs, 2, dtype=dtype, device=self.device)
        self.elapsed_steps = torch.zeros(num_envs, dtype=torch.int64, device=self.device)

    def _initial_state(self) -> torch.Tensor:
        """Position uniform in ``[-0.6, -0.4]``, velocity 0 (gymnasium's reset)."""
        u = torch.rand(self.num_envs, generator=self._rng.generator, dtype=self.dtype, device=self.device)
        return torch.stack((u * 0.2 - 0.6, torch.zeros_like(u)), dim=-1)

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        self._rng.seed(seed)
        self.state = self._initial_state()
        self.elapsed_steps = torch.zeros_like(self.elapsed_steps)
        return {keys.OBSERVATION: self.state.to(torch.float32)}

    def _finish(self, next_state: torch.Tensor, reward: torch.Tensor, terminated: torch.Tensor) -> EnvStep:
        elapsed = self.elapsed_steps + 1
        truncated = (elapsed >= self.max_episode_steps).unsqueeze(-1)
        done = terminated | truncated
        self.state = torch.where(done, self._initial_state(), next_state)
        self.elapsed_steps = elapsed.masked_fill_(done.squeeze(-1), 0)
        return EnvStep(
            next={
                keys.OBSERVATION: next_state.to(torch.float32),
                keys.REWARD: reward.to(torch.float32).unsqueeze(-1),
                keys.TERMINATED: terminated,
                keys.TRUNCATED: truncated,
                keys.DONE: done,
            },
            root={keys.OBSERVATION: self.state.to(torch.float32)},
        )

    def state_dict(self) -> dict:
        return {"state": self.state.clone(), "elapsed_steps": self.elapsed_steps.clone(), "rng": self._rng.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.state = state["state"].to(self.device, self.dtype).clone()
        self.elapsed_steps = state["elapsed_steps"].to(self.device).clone()
        self._rng.load_state_dict(state["rng"])

    def draw_observation(self, observation: torch.Tensor, width: int = 600, height: int = 400) -> torch.Tensor:
        """Draws sub-envs from their observations as gymnasium's mountain cars do (``rgb_array``).

        The one drawing path of these envs: :meth:`render` and :class:`~rl4py.envs.PixelObservation`
        call it. The observation is the state (the velocity is not drawn), so the picture is exact.

        Args:
            observation: ``[B, 2]`` (position, velocity).
            width, height: image size in pixels (gymnasium's 600x400).

        Returns:
            ``[B, height, width, 3]`` uint8 on ``observation``'s device (see
            :func:`~rl4py.envs.rendering.draw_mountain_car`).
        """
        from rl4py.envs.rendering import draw_mountain_car  # kept local: the renderer is optional to the dynamics

        if observation.dim() != 2 or observation.shape[-1] != 2:
            raise ValueError(f"{self.name}: draw_observation needs observations [B, 2], got {tuple(observation.shape)}")
        return draw_mountain_car(observation[:, 0], self.goal_position, MIN_POSITION, MAX_POSITION, width, height)

    def render(self, index: int | None = None, width: int = 600, height: int = 400) -> torch.Tensor:
        """Draws the current state as gymnasium's mountain cars do (``rgb_array``), without pygame
        (through :meth:`draw_observation`).

        Args:
            index: ``None`` draws every sub-env; an int draws only that sub-env.
            width, height: image size in pixels (gymnasium's 600x400).

        Returns:
            ``[B, height, width, 3]`` uint8, or ``[height, width, 3]`` for one ``index``, on the env's device.
        """
        observation = self.state.to(torch.float32)
        if index is None:
            return self.draw_observation(observation, width, height)
        if not -self.num_envs <= index < self.num_envs:
            raise IndexError(f"{self.name}: render index {index} is out of range for num_envs={self.num_envs}")
        return self.draw_observation(observation[index].unsqueeze(0), width, height)[0]


class MountainCar(_MountainCarBase):
    """Mountain car with three discrete pushes, any number of sub-envs, as tensor ops on any device.

    Dynamics (``v += (a - 1) 0.001 - 0.0025 cos(3 x)``, speed clipped to ``[-0.07, 0.07]``, position
    to ``[-1.2, 0.6]``, the car stops at the left wall), the goal ``x >= 0.5`` (terminates), reward
    ``-1`` on every step (the terminal one included), reset (position uniform in ``[-0.6, -0.4]``,
    velocity 0) and the 200-step truncation match gymnasium's ``MountainCar-v0``.

    Observation ``[B, 2]`` float32: position, velocity. Action ``[B]`` int64 in ``{0, 1, 2}``:
    push left, no push, push right.

    Args:
        num_envs: number of sub-envs B.
        device: device of the state and of every returned tensor.
        max_episode_steps: truncation horizon (200 as in ``MountainCar-v0``).
        dtype: dtype of the internal state; ``torch.float64`` (gymnasium's) matches gymnasium to
            round-off, ``torch.float32`` (default) is faster. Observations are float32.
        validate: check actions (see :class:`EnvBase`).

    Examples:
        >>> env = MountainCar(num_envs=4)
        >>> td = env.reset(seed=0)
        >>> td["action"] = torch.full((4,), 2)
        >>> td = env.step(td)
        >>> td["next", "observation"].shape, td["next", "reward"].squeeze(-1).tolist()
        (torch.Size([4, 2]), [-1.0, -1.0, -1.0, -1.0])
    """

    force = 0.001
    goal_position = 0.5

    def __init__(
        self,
        num_envs: int = 1,
        device: torch.device | str = "cpu",
        max_episode_steps: int = 200,
        dtype: torch.dtype = torch.float32,
        validate: bool = True,
    ) -> None:
        super().__init__(num_envs, device, max_episode_steps, gym.spaces.Discrete(3), dtype, validate)
        self.check_outputs = False  # bounded dynamics
        self._pushes = torch.tensor([-self.force, 0.0, self.force], dtype=dtype, device=self.device)

    def dynamics(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """One step of gymnasium's ``MountainCar-v0``.

        Args:
            state: ``[B, 2]`` (position, velocity).
            action: ``[B]`` in ``{0, 1, 2}``.

        Returns:
            The next state ``[B, 2]``.
        """
        position, velocity = state[:, 0], state[:, 1]
        velocity = (velocity + (self._pushes[action.long()] + (3 * position).cos() * -GRAVITY)).clamp(
            -MAX_SPEED, MAX_SPEED
        )
        position = (position + velocity).clamp(MIN_POSITION, MAX_POSITION)
        velocity = velocity.masked_fill((position == MIN_POSITION) & (velocity < 0), 0.0)  # stopped by the wall
        return torch.stack((position, velocity), dim=-1)

    def _step(self, action: torch.Tensor) -> EnvStep:
        next_state = self.dynamics(self.state, action)
        terminated = ((next_state[:, 0] >= self.goal_position) & (next_state[:, 1] >= 0)).unsqueeze(-1)
        reward = torch.full((self.num_envs,), -1.0, device=self.device)
        return self._finish(next_state, reward, terminated)


class MountainCarContinuous(_MountainCarBase):
    """Mountain car with a continuous force, any number of sub-envs, as tensor ops on any device.

    Dynamics (``v += 0.0015 clip(a, -1, 1) - 0.0025 cos(3 x)``, then the clips and the left wall of
    :class:`MountainCar`), the goal ``x >= 0.45`` (terminates), reward ``100`` on the step that
    reaches the goal minus ``0.1 a^2`` on every step (``a`` unclipped, as gymnasium), reset and the
    999-step truncation match gymnasium's ``MountainCarContinuous-v0``. Never changes the stored
    action.

    gymnasium computes this env in float32 after an episode's first step (it stores the state as
    float32 every step; its reset state and first step are float64) and clips the force with
    Python floats; the state here is float64 holding the same values, and every step rounds where
    numpy does, so episodes stepped with float32 actions (the action space's dtype) agree with
    gymnasium's bit for bit.

    Observation ``[B, 2]`` float32: position, velocity. Action ``[B, 1]`` float32 force in ``[-1, 1]``.

    Args:
        num_envs: number of sub-envs B.
        device: device of the state and of every returned tensor.
        max_episode_steps: truncation horizon (999 as in ``MountainCarContinuous-v0``).
        validate: check actions (see :class:`EnvBase`).

    Examples:
        >>> env = MountainCarContinuous(num_envs=4)
        >>> td = env.reset(seed=0)
        >>> td["action"] = torch.full((4, 1), 0.5)
        >>> td = env.step(td)
        >>> td["next", "reward"].squeeze(-1).tolist()
        [-0.02500000037252903, -0.02500000037252903, -0.02500000037252903, -0.02500000037252903]
    """

    power = 0.0015
    goal_position = 0.45

    def __init__(
        self,
        num_envs: int = 1,
        device: torch.device | str = "cpu",
        max_episode_steps: int = 999,
        validate: bool = True,
    ) -> None:
        space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        super().__init__(num_envs, device, max_episode_steps, space, torch.float64, validate)
        self.check_outputs = False  # finite actions (checked) keep every output finite

    def dynamics(
        self, state: torch.Tensor, action: torch.Tensor, first: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of gymnasium's ``MountainCarContinuous-v0``, with numpy's float32 roundings.

        Args:
            state: ``[B, 2]`` float64 (position, velocity).
            action: ``[B, 1]`` force, rounded to float32 and clipped to ``[-1, 1]`` here.
            first: ``[B]`` bool, the sub-envs at their episode's first step (computed in float64 as
                gymnasium does from its float64 reset state); ``None``: none of them.

        Returns:
            ``(next_state [B, 2] float64 holding float32 values, terminated [B] bool)``.
        """
        if first is None:
            first = torch.zeros(state.shape[0], dtype=torch.bool, device=state.device)
        p64, v64 = state[:, 0], state[:, 1]
        p32, v32 = p64.float(), v64.float()
        gravity = torch.where(first, 3 * p64, (3 * p32).double()).cos() * GRAVITY
        a32 = action[:, 0].float()
        # a force beyond [-1, 1] becomes a Python float in gymnasium, so its push is computed in float64
        clipped = a32.abs() > 1.0
        push = torch.where(
            clipped, a32.sign().double() * self.power - gravity, (a32 * self.power - gravity.float()).double()
        )
        velocity = torch.where(first, v64 + push, (v32 + push.float()).double()).clamp(-MAX_SPEED, MAX_SPEED)
        position = torch.where(first, p64 + velocity, (p32 + velocity.float()).double()).clamp(
            MIN_POSITION, MAX_POSITION
        )
        velocity = velocity.masked_fill((position == MIN_POSITION) & (velocity < 0), 0.0)
        # float64 comparisons at the first step, float32 ones after (numpy 2 compares a float32 with a
        # Python float in float32)
        at_goal = torch.where(first, position >= self.goal_position, position.float() >= self.goal_position)
        terminated = at_goal & (velocity >= 0)
        return torch.stack((position, velocity), dim=-1).float().double(), terminated

    def _step(self, action: torch.Tensor) -> EnvStep:
        next_state, terminated = self.dynamics(self.state, action, first=self.elapsed_steps == 0)
        reward = terminated.double() * 100.0 - action[:, 0].double().square() * 0.1
        return self._finish(next_state, reward, terminated.unsqueeze(-1))
