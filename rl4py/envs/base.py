"""The batched, TensorDict-in / TensorDict-out environment interface.

Every rl4py environment (native torch envs, the gymnasium adapter, wrappers)
subclasses :class:`EnvBase`. Subclasses implement two hooks on raw tensors,
:meth:`EnvBase._reset` and :meth:`EnvBase._step`; the base class validates
input, wraps results in TensorDicts and exposes the gymnasium spaces.

Layout of one step (TorchRL-compatible)::

    root:  "observation" [B, *obs_shape], "action" [B, *action_shape]
    next:  ("next", "observation")  true next observation (the terminal one at an episode end)
           ("next", "reward")       [B, 1] float
           ("next", "terminated")   [B, 1] bool
           ("next", "truncated")    [B, 1] bool
           ("next", "done")         [B, 1] bool, terminated | truncated

Finished sub-envs are reset inside the step: :meth:`EnvBase.step_and_reset`
returns the transition and the root TensorDict of the following step, whose
observation is the first one of the new episode where a sub-env finished.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector.utils import batch_space
from tensordict import TensorDict

from rl4py import keys
from rl4py.keys import NestedKey

__all__ = ["EnvBase", "EnvStep", "NestedKey", "check_finite"]


class EnvStep(NamedTuple):
    """The raw tensors of one batched step.

    Attributes:
        next: entries stored under ``"next"``: the observation entries of the true next state,
            ``"reward"`` ``[B, 1]``, ``"terminated"``/``"truncated"``/``"done"`` ``[B, 1]`` bool,
            and any extra per-step entries (for example ``"episode_return"``).
        root: the observation entries of the following step's root, after auto-reset.
    """

    next: dict[NestedKey, torch.Tensor]
    root: dict[NestedKey, torch.Tensor]


def check_finite(env_name: str, key: NestedKey, value: torch.Tensor) -> None:
    """Raises ``ValueError`` if a floating tensor holds NaN or inf.

    Args:
        env_name: the env named in the message.
        key: the TensorDict key named in the message.
        value: the tensor to check.
    """
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        bad = (~torch.isfinite(value)).nonzero()[0].tolist()
        raise ValueError(
            f"{env_name}: {key!r} holds a non-finite value {value[tuple(bad)].item()} at index {bad}; "
            "expected finite numbers"
        )


class EnvBase(ABC):
    """Base class of batched environments with a TensorDict interface.

    Args:
        num_envs: number of sub-environments B stepped together.
        single_observation_space: observation space of one sub-env.
        single_action_space: action space of one sub-env.
        device: device of every tensor the env returns and accepts.
        validate: check every action (shape, dtype, bounds) and every observation and
            reward (NaN/inf) and raise a ``ValueError`` naming the problem. Costs a few
            microseconds per step.
    """

    #: observation entries the env returns (``"observation"``, ``"action_mask"``, ...).
    observation_keys: tuple[NestedKey, ...] = (keys.OBSERVATION,)
    #: :meth:`state_dict` captures everything the env's future depends on, so a restored env
    #: continues exactly; envs that cannot (a gymnasium env's internals) set this to False.
    exact_resume: bool = True

    def __init__(
        self,
        *,
        num_envs: int,
        single_observation_space: gym.Space,
        single_action_space: gym.Space,
        device: torch.device | str = "cpu",
        validate: bool = True,
    ) -> None:
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"{type(self).__name__}: num_envs must be a positive int, got {num_envs!r}")
        self.num_envs = num_envs
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            # tensors report cuda:N, never bare "cuda": compare actions against the indexed device
            device = torch.device("cuda", torch.cuda.current_device())
        self.device = device
        self.single_observation_space = single_observation_space
        self.single_action_space = single_action_space
        self.observation_space = batch_space(single_observation_space, num_envs)
        self.action_space = batch_space(single_action_space, num_envs)
        self.validate = validate
        #: check observations and rewards for NaN/inf when ``validate`` (native envs whose
        #: dynamics cannot produce them switch this off).
        self.check_outputs = True
        self.batch_size = torch.Size([num_envs])
        self._action_shape = (num_envs, *(single_action_space.shape or ()))

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        """Resets every sub-env; returns the observation entries, each ``[B, ...]``."""

    @abstractmethod
    def _step(self, action: torch.Tensor) -> EnvStep:
        """Steps every sub-env with ``action`` ``[B, *action_shape]`` and auto-resets finished ones."""

    # ------------------------------------------------------------- tensor API
    @property
    def name(self) -> str:
        """The name used in error messages."""
        return type(self).__name__

    def reset_tensors(self, seed: int | None = None) -> dict[NestedKey, torch.Tensor]:
        """Resets all sub-envs and returns the raw observation entries (the collector's fast path)."""
        obs = self._reset(seed)
        if self.validate and self.check_outputs:
            for key, value in obs.items():
                check_finite(self.name, key, value)
        return obs

    def step_tensors(self, action: torch.Tensor) -> EnvStep:
        """Validates ``action`` and steps; the raw-tensor form of :meth:`step_and_reset`."""
        if self.validate:
            self.check_action(action)
        out = self._step(action)
        if self.validate and self.check_outputs:
            for key, value in out.next.items():
                check_finite(self.name, (keys.NEXT, key) if isinstance(key, str) else (keys.NEXT, *key), value)
        return out

    def check_action(self, action: torch.Tensor) -> None:
        """Raises ``ValueError``/``TypeError`` if ``action`` does not fit ``action_space``."""
        space = self.single_action_space
        if not isinstance(action, torch.Tensor):
            raise TypeError(f"{self.name}: 'action' must be a torch.Tensor, got {type(action).__name__}")
        if tuple(action.shape) != self._action_shape:
            raise ValueError(
                f"{self.name}: 'action' has shape {tuple(action.shape)}, expected {self._action_shape} "
                f"(num_envs={self.num_envs}, action space {space})"
            )
        if action.device != self.device:
            raise ValueError(f"{self.name}: 'action' is on {action.device}, expected {self.device}")
        if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
            if action.is_floating_point() or action.dtype == torch.bool or action.is_complex():
                raise TypeError(
                    f"{self.name}: 'action' has dtype {action.dtype}, expected an integer dtype for {space}"
                )
            low, high = self._action_bounds()
            if isinstance(space, gym.spaces.Discrete):
                lo, hi = torch.aminmax(action)  # one fused reduction on the hot path
                ok = lo.item() >= self._discrete_range[0] and hi.item() < self._discrete_range[1]
            else:
                ok = bool(((action >= low) & (action < high)).all())
            if not ok:
                bad = ((action < low) | (action >= high)).nonzero()[0].tolist()
                raise ValueError(
                    f"{self.name}: 'action' holds {action[tuple(bad)].item()} at index {bad}, "
                    f"outside the action space {space}"
                )
        elif isinstance(space, gym.spaces.Box):
            if not action.is_floating_point():
                raise TypeError(
                    f"{self.name}: 'action' has dtype {action.dtype}, expected a floating dtype for {space}"
                )
            check_finite(self.name, keys.ACTION, action)
        elif isinstance(space, gym.spaces.MultiBinary):
            if action.is_floating_point() or action.is_complex():
                raise TypeError(
                    f"{self.name}: 'action' has dtype {action.dtype}, expected an integer or bool dtype for {space}"
                )
            if action.dtype != torch.bool and not bool(((action == 0) | (action == 1)).all()):
                bad = ((action != 0) & (action != 1)).nonzero()[0].tolist()
                raise ValueError(
                    f"{self.name}: 'action' holds {action[tuple(bad)].item()} at index {bad}, expected 0 or 1 "
                    f"for {space}"
                )

    def _action_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        if getattr(self, "_bounds", None) is None:
            space = self.single_action_space
            n = space.n if isinstance(space, gym.spaces.Discrete) else space.nvec
            low = torch.as_tensor(np.asarray(space.start), device=self.device)
            self._bounds = (low, low + torch.as_tensor(np.asarray(n), device=self.device))
            if isinstance(space, gym.spaces.Discrete):
                self._discrete_range = (int(space.start), int(space.start + space.n))
        return self._bounds

    # -------------------------------------------------------- TensorDict API
    def _td(self, entries: dict[NestedKey, torch.Tensor]) -> TensorDict:
        td = TensorDict({}, batch_size=self.batch_size, device=self.device)
        for key, value in entries.items():
            td.set(key, value)
        return td

    def reset(self, seed: int | None = None) -> TensorDict:
        """Resets every sub-env.

        Args:
            seed: seeds the env's random generator; ``None`` draws a seed from torch's global RNG
                on the first reset and continues the current stream afterwards.

        Returns:
            TensorDict ``[B]`` with ``"observation"`` (and the other observation keys).
        """
        return self._td(self.reset_tensors(seed))

    def step_and_reset(self, td: TensorDict) -> tuple[TensorDict, TensorDict]:
        """Steps with ``td["action"]`` and resets finished sub-envs.

        Args:
            td: TensorDict ``[B]`` holding ``"action"``.

        Returns:
            ``(td, next_root)``: ``td`` with the ``"next"`` entries filled in (true next
            observation, reward, done flags), and the root TensorDict ``[B]`` of the following
            step (the reset observation where a sub-env finished).
        """
        out = self.step_tensors(td.get(keys.ACTION))
        td.set(keys.NEXT, self._td(out.next))
        return td, self._td(out.root)

    def step(self, td: TensorDict) -> TensorDict:
        """Steps with ``td["action"]``; returns ``td`` with ``"next"`` filled in.

        Finished sub-envs are reset; use :meth:`step_and_reset` to also get the root of the
        following step.
        """
        return self.step_and_reset(td)[0]

    def rand_action(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Samples a uniformly random action ``[B, *action_shape]`` on the env's device."""
        space = self.single_action_space
        if isinstance(space, gym.spaces.Discrete):
            return torch.randint(
                int(space.start), int(space.start + space.n), (self.num_envs,), generator=generator, device=self.device
            )
        if isinstance(space, gym.spaces.MultiDiscrete):
            nvec = torch.as_tensor(space.nvec, device=self.device)
            u = torch.rand(self._action_shape, generator=generator, device=self.device)
            return (u * nvec).long().clamp_max(nvec - 1) + torch.as_tensor(space.start, device=self.device)
        if isinstance(space, gym.spaces.Box):
            if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
                raise ValueError(
                    f"{self.name}: rand_action needs finite bounds to sample uniformly, got {space}; "
                    "pass a policy to the collector instead of None"
                )
            low = torch.as_tensor(space.low, device=self.device)
            high = torch.as_tensor(space.high, device=self.device)
            u = torch.rand(self._action_shape, generator=generator, device=self.device)
            return low + u * (high - low)
        if isinstance(space, gym.spaces.MultiBinary):
            return torch.randint(0, 2, self._action_shape, generator=generator, device=self.device)
        raise TypeError(f"{self.name}: rand_action does not support action space {space}")

    # ------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict:
        """State to restore the env exactly (RNG, sub-env states). Empty by default."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restores :meth:`state_dict`."""
        if state:
            raise ValueError(f"{self.name} holds no state, got keys {sorted(state)}")

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op for envs without resources
        """Releases resources (sub-processes, windows)."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_envs={self.num_envs}, observation_space={self.single_observation_space}, "
            f"action_space={self.single_action_space}, device={self.device})"
        )
