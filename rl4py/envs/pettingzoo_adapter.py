"""PettingZoo's parallel API as a batched :class:`~rl4py.envs.MultiAgentEnv` (the ``pettingzoo`` extra)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs.base import EnvStep, NestedKey
from rl4py.envs.multi_agent import MultiAgentEnv, check_agent_spaces

__all__ = ["PettingZooEnv"]


def _factory(env: str | Callable[..., Any], kwargs: dict) -> Callable[[], Any]:
    if callable(env):
        return lambda: env(**kwargs)
    if not isinstance(env, str) or not env:
        raise TypeError(f"PettingZooEnv: env must be a module path or a callable, got {env!r}")
    try:
        module = importlib.import_module(env)
    except ImportError as err:
        raise ValueError(
            f"PettingZooEnv: cannot import {env!r} ({err}); expected a module with parallel_env(), such as "
            "'mpe2.simple_spread_v3' (pip install 'rl4py[multiagent]')"
        ) from None
    if not hasattr(module, "parallel_env"):
        raise ValueError(f"PettingZooEnv: module {env!r} has no parallel_env() (PettingZoo's parallel API)")
    return lambda: module.parallel_env(**kwargs)


class PettingZooEnv(MultiAgentEnv):
    """``num_envs`` copies of a PettingZoo parallel env, stepped in turn, as one batched multi-agent env.

    Agents keep the order of ``possible_agents``; every agent's observation and action space must
    be the same (one shared policy). Observations that are a ``Dict`` with ``"observation"`` and
    ``"action_mask"`` (PettingZoo's masking convention) give ``"action_mask"`` ``[B, A, n]``. The
    global ``"state"`` is the env's ``state()`` where it has one, else every agent's observation
    concatenated. An agent that finishes before the others leaves play: its
    ``"agent_active"`` turns false, its observation is zeros, its mask allows every action and its
    action is not sent; the sub-env resets when every agent is done.

    Args:
        env: a module path with ``parallel_env(**kwargs)`` (``"mpe2.simple_spread_v3"``) or a callable
            returning a parallel env.
        num_envs: copies B.
        agent_ids: append each agent's one-hot id to its observation.
        device: device of every returned tensor.
        validate: check actions and returned entries.
        **env_kwargs: passed to ``parallel_env`` (``N=3``, ``max_cycles=25``, ...).

    Raises:
        ValueError: the agents' spaces differ, or ``env`` cannot be imported.
        TypeError: an observation or action space is not supported.

    Examples:
        >>> env = PettingZooEnv("mpe2.simple_spread_v3", num_envs=2, N=3, max_cycles=25)
        >>> td = env.reset(seed=0)
        >>> td["observation"].shape, td["state"].shape
        (torch.Size([2, 3, 18]), torch.Size([2, 54]))
    """

    exact_resume = False

    def __init__(
        self,
        env: str | Callable[..., Any],
        num_envs: int = 1,
        *,
        agent_ids: bool = False,
        device: torch.device | str = "cpu",
        validate: bool = True,
        **env_kwargs: Any,
    ) -> None:
        make = _factory(env, env_kwargs)
        self.envs = [make() for _ in range(num_envs)] if isinstance(num_envs, int) and num_envs >= 1 else []
        if not self.envs:
            raise ValueError(f"PettingZooEnv: num_envs must be a positive int, got {num_envs!r}")
        first = self.envs[0]
        self.agents = tuple(first.possible_agents)
        obs_space = check_agent_spaces(
            "PettingZooEnv", {a: first.observation_space(a) for a in self.agents}, "observation"
        )
        act_space = check_agent_spaces("PettingZooEnv", {a: first.action_space(a) for a in self.agents}, "action")
        masked = isinstance(obs_space, gym.spaces.Dict)
        if masked:
            if set(obs_space.spaces) != {"observation", "action_mask"}:
                raise TypeError(
                    "PettingZooEnv: a Dict observation space must hold exactly 'observation' and 'action_mask', "
                    f"got {list(obs_space.spaces)}"
                )
            obs_space = obs_space.spaces["observation"]
        if not isinstance(obs_space, gym.spaces.Box):
            raise TypeError(f"PettingZooEnv: agents' observations must be Box spaces, got {obs_space}")
        self._obs_shape = obs_space.shape
        flat = gym.spaces.Box(-np.inf, np.inf, (int(np.prod(obs_space.shape)),), np.float32)
        state_space = getattr(first, "state_space", None)
        self._has_state = state_space is not None and hasattr(first, "state")
        state_dim = int(np.prod(state_space.shape)) if self._has_state else len(self.agents) * flat.shape[0]
        super().__init__(
            num_envs=num_envs,
            n_agents=len(self.agents),
            agent_observation_space=flat,
            agent_action_space=act_space,
            state_dim=state_dim,
            masked=masked,
            agent_ids=agent_ids,
            device=device,
            validate=validate,
        )
        a, o = self.n_agents, flat.shape[0]
        self._obs = np.zeros((num_envs, a, o), np.float32)
        self._state = np.zeros((num_envs, state_dim), np.float32)
        self._active = np.ones((num_envs, a), bool)
        n_actions = int(act_space.n) if masked else 0
        self._mask = np.ones((num_envs, a, n_actions), bool)
        self._continuous = isinstance(act_space, gym.spaces.Box)

    def _write(self, i: int, observations: dict) -> None:
        """Stores sub-env ``i``'s observations, masks, active flags and state."""
        self._obs[i] = 0.0
        if self.masked:
            self._mask[i] = True
        self._active[i] = False
        for j, agent in enumerate(self.agents):
            if agent not in observations:
                continue
            obs = observations[agent]
            if self.masked:
                self._mask[i, j] = np.asarray(obs["action_mask"], bool)
                obs = obs["observation"]
            self._obs[i, j] = np.asarray(obs, np.float32).reshape(-1)
            self._active[i, j] = agent in self.envs[i].agents
        if self._has_state:
            self._state[i] = np.asarray(self.envs[i].state(), np.float32).reshape(-1)
        else:
            self._state[i] = self._obs[i].reshape(-1)

    def _entries(self) -> dict[NestedKey, torch.Tensor]:
        dev = self.device
        out = {
            keys.OBSERVATION: self._observation(torch.as_tensor(self._obs.copy(), device=dev)),
            keys.STATE: torch.as_tensor(self._state.copy(), device=dev),
            keys.AGENT_ACTIVE: torch.as_tensor(self._active.copy(), device=dev),
        }
        if self.masked:
            out[keys.ACTION_MASK] = torch.as_tensor(self._mask.copy(), device=dev)
        return out

    def _current_mask(self) -> torch.Tensor:
        return torch.as_tensor(self._mask, device=self.device)

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        for i, env in enumerate(self.envs):
            observations, _ = env.reset(seed=None if seed is None else seed + i)
            self._write(i, observations)
        return self._entries()

    def _step(self, action: torch.Tensor) -> EnvStep:
        actions = action.detach().cpu().numpy()
        b, a = self.num_envs, self.n_agents
        agent_reward = np.zeros((b, a), np.float32)
        agent_terminated = np.zeros((b, a), bool)
        terminated = np.zeros(b, bool)
        truncated = np.zeros(b, bool)
        finished = []
        for i, env in enumerate(self.envs):
            playing = {agent: actions[i, j] for j, agent in enumerate(self.agents) if agent in env.agents}
            if not self._continuous:
                playing = {agent: int(act) for agent, act in playing.items()}
            observations, rewards, terminations, truncations, _ = env.step(playing)
            for j, agent in enumerate(self.agents):
                agent_reward[i, j] = float(rewards.get(agent, 0.0))
                agent_terminated[i, j] = bool(terminations.get(agent, False))
            self._write(i, observations)
            if not env.agents:  # every agent is done: the sub-env's episode ends
                terminated[i] = all(terminations.get(agent, False) for agent in playing)
                truncated[i] = not terminated[i]
                finished.append(i)
                agent_terminated[i] = False  # the sub-env's own flags say it
        nxt = self._entries()  # an agent that just finished keeps its last observation here
        self._obs[~self._active] = 0.0  # ... and is out of play from the next step on
        for i in finished:
            observations, _ = self.envs[i].reset()
            self._write(i, observations)
        dev = self.device
        step = self._step_entries(
            nxt,
            torch.as_tensor(agent_reward, device=dev),
            torch.as_tensor(agent_terminated, device=dev),
            torch.as_tensor(terminated, device=dev),
            torch.as_tensor(truncated, device=dev),
        )
        return EnvStep(next=step, root=self._entries())

    def close(self) -> None:
        for env in self.envs:
            env.close()
