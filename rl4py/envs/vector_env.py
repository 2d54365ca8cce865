"""Adapter from rl4py's batched envs to gymnasium's ``VectorEnv`` (numpy in, numpy out)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv

from rl4py import keys
from rl4py.envs.base import EnvBase, NestedKey
from rl4py.envs.wrappers import require_one_reward_head

__all__ = ["NativeVectorEnv"]

_STEP_KEYS = (keys.OBSERVATION, keys.REWARD, keys.TERMINATED, keys.TRUNCATED, keys.DONE)


def _numpy(value: torch.Tensor) -> np.ndarray:
    # a copy: the arrays handed out must not alias tensors the env may reuse
    return value.detach().cpu().numpy().copy()


def _info_name(key: NestedKey) -> str:
    return key if isinstance(key, str) else "/".join(key)


class NativeVectorEnv(VectorEnv):
    """A ``gymnasium.vector.VectorEnv`` over an rl4py :class:`EnvBase` (CartPole, Acrobot, ...).

    Lets gymnasium's vector wrappers (``RecordEpisodeStatistics``, ``NormalizeReward``,
    ``ClipReward``, ...) and other libraries drive a native env: actions, observations, rewards
    and flags are numpy arrays, with gymnasium's dtypes (rewards float64, flags bool).

    rl4py envs reset a finished sub-env inside the step that ends it, so the adapter declares
    ``metadata["autoreset_mode"] = AutoresetMode.SAME_STEP`` and follows gymnasium's same-step
    convention: the observation a step returns is the new episode's first one where a sub-env
    finished, and the terminal observation is in ``infos["final_obs"]`` (an object array ``[B]``,
    ``None`` where the sub-env did not finish; mask ``infos["_final_obs"]``) with the terminal
    step's info in ``infos["final_info"]`` (mask ``infos["_final_info"]``). Observation entries
    besides ``"observation"`` (``"action_mask"``) are infos of every step, the terminal ones in
    ``final_info``; other per-step entries (``"episode_return"`` of :class:`EpisodeStats`) are infos
    where no episode ended and ``final_info`` where one did. gymnasium's observation wrappers
    (``NormalizeObservation``, ``TransformObservation``, ...) accept only next-step envs and refuse
    this one with a ``ValueError``.

    Args:
        env: the rl4py env; its sub-envs are the vector env's. Observations must be a single
            entry (no ``Dict`` observation space).
        render_mode: ``"rgb_array"`` makes :meth:`render` return one ``[H, W, 3]`` uint8 frame per
            sub-env (the env needs a ``render()`` method); ``None`` (default) renders nothing.

    Raises:
        TypeError: ``env`` is not an :class:`EnvBase` or has a ``Dict`` observation space.
        ValueError: ``render_mode`` is not supported.

    Examples:
        >>> import numpy as np
        >>> from gymnasium.wrappers.vector import RecordEpisodeStatistics
        >>> from rl4py.envs import CartPole
        >>> envs = RecordEpisodeStatistics(NativeVectorEnv(CartPole(num_envs=4)))
        >>> obs, infos = envs.reset(seed=0)
        >>> obs.shape, obs.dtype
        ((4, 4), dtype('float32'))
        >>> obs, rewards, terminated, truncated, infos = envs.step(np.ones(4, dtype=np.int64))
        >>> rewards
        array([1., 1., 1., 1.])
    """

    def __init__(self, env: EnvBase, render_mode: str | None = None) -> None:
        if not isinstance(env, EnvBase):
            raise TypeError(f"NativeVectorEnv: env must be an rl4py EnvBase, got {type(env).__name__}")
        require_one_reward_head(env, "NativeVectorEnv")
        if isinstance(env.single_observation_space, gym.spaces.Dict):
            raise TypeError(
                f"NativeVectorEnv({env.name}): the observation space {env.single_observation_space} is a Dict; "
                "expected a single observation entry"
            )
        if render_mode not in (None, "rgb_array"):
            raise ValueError(
                f"NativeVectorEnv({env.name}): render_mode must be None or 'rgb_array', got {render_mode!r}"
            )
        if render_mode is not None and not callable(getattr(env, "render", None)):
            raise ValueError(f"NativeVectorEnv({env.name}): render_mode={render_mode!r} needs an env with render()")
        self.env = env
        self.num_envs = env.num_envs
        self.single_observation_space = env.single_observation_space
        self.single_action_space = env.single_action_space
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        self.metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": ["rgb_array"]}
        self.render_mode = render_mode
        self._extra_obs_keys = tuple(k for k in env.observation_keys if k != keys.OBSERVATION)
        self._action_dtype = (
            torch.float32
            if isinstance(self.single_action_space, gym.spaces.Box) and self.single_action_space.dtype == np.float32
            else None
        )
        self._reset_done = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Resets every sub-env.

        Args:
            seed: one int seeds the env's generator (the same first observations as
                ``env.reset(seed)``); ``None`` continues its stream. A batched native env has one
                generator, so a list of per-sub-env seeds is refused.
            options: not supported (``None`` or empty).

        Returns:
            ``(observations [B, *obs_shape], infos)``.
        """
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise TypeError(
                f"NativeVectorEnv({self.env.name}): seed must be an int or None (one generator drives every "
                f"sub-env), got {type(seed).__name__} {seed!r}"
            )
        if options:
            raise ValueError(f"NativeVectorEnv({self.env.name}): reset options are not supported, got {options!r}")
        super().reset(seed=None if seed is None else int(seed))
        entries = self.env.reset_tensors(None if seed is None else int(seed))
        self._reset_done = True
        infos: dict[str, Any] = {}
        everywhere = np.ones(self.num_envs, dtype=bool)
        for key in self._extra_obs_keys:
            infos[_info_name(key)], infos[f"_{_info_name(key)}"] = _numpy(entries[key]), everywhere.copy()
        return _numpy(entries[keys.OBSERVATION]), infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Steps every sub-env; finished ones are reset in the same step.

        Args:
            actions: ``[B, *action_shape]`` array-like (numpy, list or tensor) in ``action_space``.

        Returns:
            ``(observations, rewards [B] float64, terminations [B] bool, truncations [B] bool, infos)``;
            see the class docstring for ``final_obs`` / ``final_info``.
        """
        if not self._reset_done:
            raise RuntimeError(f"NativeVectorEnv({self.env.name}): call reset() before step()")
        action = torch.as_tensor(np.asarray(actions), device=self.env.device)
        if self._action_dtype is not None and action.is_floating_point():
            action = action.to(self._action_dtype)
        out = self.env.step_tensors(action)
        nxt, root = out.next, out.root
        done = _numpy(nxt[keys.DONE]).reshape(self.num_envs)
        infos: dict[str, Any] = {}
        everywhere = np.ones(self.num_envs, dtype=bool)
        for key in self._extra_obs_keys:
            infos[_info_name(key)], infos[f"_{_info_name(key)}"] = _numpy(root[key]), everywhere.copy()
        extra_step_keys = [k for k in nxt if k not in _STEP_KEYS and k not in self._extra_obs_keys]
        for key in extra_step_keys:
            infos[_info_name(key)], infos[f"_{_info_name(key)}"] = _numpy(nxt[key]), ~done
        if done.any():
            final_obs = np.full(self.num_envs, None, dtype=object)
            terminal = _numpy(nxt[keys.OBSERVATION])
            for i in np.flatnonzero(done):
                final_obs[i] = terminal[i]
            final_info: dict[str, Any] = {}
            for key in (*self._extra_obs_keys, *extra_step_keys):
                value = _numpy(nxt[key])
                value[~done] = 0
                final_info[_info_name(key)], final_info[f"_{_info_name(key)}"] = value, done.copy()
            infos["final_obs"], infos["_final_obs"] = final_obs, done.copy()
            infos["final_info"], infos["_final_info"] = final_info, done.copy()
        return (
            _numpy(root[keys.OBSERVATION]),
            _numpy(nxt[keys.REWARD]).reshape(self.num_envs).astype(np.float64),
            _numpy(nxt[keys.TERMINATED]).reshape(self.num_envs),
            _numpy(nxt[keys.TRUNCATED]).reshape(self.num_envs),
            infos,
        )

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One ``[H, W, 3]`` uint8 frame per sub-env with ``render_mode="rgb_array"``, else ``None``."""
        if self.render_mode is None:
            return None
        return tuple(_numpy(self.env.render()))

    def close_extras(self, **kwargs: Any) -> None:
        """Closes the wrapped env."""
        self.env.close()

    def __repr__(self) -> str:
        return f"NativeVectorEnv({self.env.name}, num_envs={self.num_envs})"
