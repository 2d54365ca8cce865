"""Adapter from gymnasium environments to rl4py's batched TensorDict interface."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey

__all__ = ["GymEnv"]

EnvSpec = str | gym.Env | VectorEnv | Callable[[], gym.Env]


def _make_vector_env(env: EnvSpec, num_envs: int, env_kwargs: dict[str, Any]) -> VectorEnv:
    if isinstance(env, VectorEnv):
        if num_envs not in (1, env.num_envs):
            raise ValueError(f"GymEnv: num_envs={num_envs} but the VectorEnv has {env.num_envs} sub-envs")
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode not in (AutoresetMode.SAME_STEP, AutoresetMode.DISABLED):
            raise ValueError(
                f"GymEnv: the VectorEnv uses autoreset_mode={mode}, which hides the true final observation "
                "behind an extra reset step; build it with autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP "
                "(or DISABLED), or pass the env id or a factory and let GymEnv build it"
            )
        return env
    if isinstance(env, str):
        return gym.make_vec(
            env,
            num_envs=num_envs,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
            **env_kwargs,
        )
    if isinstance(env, gym.Env):
        if num_envs != 1:
            raise ValueError(
                f"GymEnv: got one gymnasium.Env instance but num_envs={num_envs}; pass an env id or a "
                "zero-argument factory to run several copies"
            )
        return SyncVectorEnv([lambda: env], autoreset_mode=AutoresetMode.SAME_STEP)
    if callable(env):
        return SyncVectorEnv([env] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP)
    raise TypeError(
        "GymEnv: env must be an env id, a gymnasium.Env, a gymnasium.vector.VectorEnv or a factory, "
        f"got {type(env).__name__}"
    )


class GymEnv(EnvBase):
    """Runs any gymnasium env (id, instance, factory or ``VectorEnv``) behind the rl4py interface.

    The adapter asks gymnasium for same-step auto-reset, so ``("next", "observation")`` is the
    true final observation at an episode end and the reset observation goes to the next root.
    Observations become float32 tensors (integer ones keep an integer dtype); actions are
    converted to numpy for gymnasium.

    Args:
        env: an env id (``"CartPole-v1"``), a ``gymnasium.Env`` (with ``num_envs=1``), a
            zero-argument factory returning a ``gymnasium.Env``, or a ``VectorEnv`` in
            ``SAME_STEP`` or ``DISABLED`` auto-reset mode.
        num_envs: number of sub-envs (ignored for a ``VectorEnv``, which has its own).
        device: device of the returned tensors.
        validate: check actions, observations and rewards.
        **env_kwargs: passed to ``gymnasium.make_vec`` when ``env`` is an id.

    Examples:
        >>> env = GymEnv("CartPole-v1", num_envs=4)
        >>> env.reset(seed=0)["observation"].shape
        torch.Size([4, 4])
    """

    def __init__(
        self,
        env: EnvSpec,
        num_envs: int = 1,
        device: torch.device | str = "cpu",
        validate: bool = True,
        **env_kwargs: Any,
    ) -> None:
        self.env = _make_vector_env(env, num_envs, env_kwargs)
        self._autoreset = self.env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        obs_space = self.env.single_observation_space
        if isinstance(obs_space, gym.spaces.Dict):
            self.observation_keys = tuple(
                keys.OBSERVATION if k == keys.OBSERVATION else (keys.OBSERVATION, k) for k in obs_space.spaces
            )
        super().__init__(
            num_envs=self.env.num_envs,
            single_observation_space=obs_space,
            single_action_space=self.env.single_action_space,
            device=device,
            validate=validate,
        )
        spec = getattr(self.env, "spec", None)
        self._name = f"GymEnv({spec.id if spec is not None else type(self.env).__name__})"
        self._seed: int | None = None

    @property
    def name(self) -> str:
        return self._name

    def _to_tensor(self, value: Any) -> torch.Tensor:
        array = np.asarray(value)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        # a copy: vector envs built with copy=False reuse their buffers on the next step
        return torch.tensor(array, device=self.device)

    def _obs_entries(self, obs: Any) -> dict[NestedKey, torch.Tensor]:
        if isinstance(obs, dict):
            return {
                keys.OBSERVATION if k == keys.OBSERVATION else (keys.OBSERVATION, k): self._to_tensor(v)
                for k, v in obs.items()
            }
        return {keys.OBSERVATION: self._to_tensor(obs)}

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        if seed is None and self._seed is None:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        if seed is not None:
            self._seed = seed
        obs, _ = self.env.reset(seed=seed)
        return self._obs_entries(obs)

    def _step(self, action: torch.Tensor) -> EnvStep:
        np_action = action.detach().cpu().numpy()
        obs, reward, terminated, truncated, info = self.env.step(np_action)
        done = np.logical_or(terminated, truncated)
        final_obs = obs
        if done.any():
            if self._autoreset == AutoresetMode.SAME_STEP:
                final_obs = _with_final_obs(obs, info, done)
            else:  # DISABLED: reset the finished sub-envs ourselves (the reset may reuse obs' buffer)
                final_obs = {k: np.array(v, copy=True) for k, v in obs.items()} if isinstance(obs, dict) else obs.copy()
                obs, _ = self.env.reset(options={"reset_mask": done})
        b = self.num_envs
        next_entries = self._obs_entries(final_obs)
        next_entries.update(
            {
                keys.REWARD: torch.as_tensor(np.asarray(reward, dtype=np.float32), device=self.device).view(b, 1),
                keys.TERMINATED: torch.as_tensor(np.asarray(terminated, dtype=bool), device=self.device).view(b, 1),
                keys.TRUNCATED: torch.as_tensor(np.asarray(truncated, dtype=bool), device=self.device).view(b, 1),
                keys.DONE: torch.as_tensor(done, device=self.device).view(b, 1),
            }
        )
        return EnvStep(next=next_entries, root=self._obs_entries(obs))

    def close(self) -> None:
        self.env.close()


def _with_final_obs(obs: Any, info: dict, done: np.ndarray) -> Any:
    """Replaces the reset observation by ``info["final_obs"]`` where a sub-env finished."""
    final = info["final_obs"]
    if isinstance(obs, dict):
        out = {k: np.array(v, copy=True) for k, v in obs.items()}
        for i in np.flatnonzero(done):
            for k in out:
                out[k][i] = final[i][k]
        return out
    out = np.array(obs, copy=True)
    for i in np.flatnonzero(done):
        out[i] = final[i]
    return out
