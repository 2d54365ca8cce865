"""A partially observable cooperative task: agents on a line meet without seeing each other."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs.base import EnvStep, NestedKey
from rl4py.envs.multi_agent import MultiAgentEnv
from rl4py.envs.seeding import SeededGenerator

__all__ = ["Rendezvous"]


class Rendezvous(MultiAgentEnv):
    """``n_agents`` agents on a line of ``size`` cells must meet; none sees the others.

    Each episode starts the agents on uniformly random cells and draws a hidden background reward
    ``b`` (uniform over ``background``). Every step each agent moves left, stays or moves right
    (``Discrete(3)``: 0, 1, 2; a move past an end stays). The team earns 1 on every step that ends
    with all agents on one cell, plus ``b`` on every step whatever they do (the part of a team's
    score that moves with things outside its control). Episodes are truncated after
    ``episode_length`` steps.

    - **Observation** of an agent ``[size + 1]``: the one-hot of its own cell and the fraction of
      the episode elapsed (plus its one-hot id with ``agent_ids``). It sees neither the other
      agents nor ``b``: the task is partially observable, and a good shared policy is a
      convention (walk to an agreed cell and wait).
    - **State** ``[n_agents * size + 2]``: every agent's one-hot cell, ``b`` and the elapsed
      fraction: what a centralized critic reads. ``b`` moves the return without changing the best
      policy: a critic that reads it predicts returns an agent's own critic cannot, and the
      advantages of an agent's own critic carry ``b``'s noise.
    - **Reward** the team's ``met + b`` (every agent's ``"agent_reward"`` is the same).

    Args:
        num_envs: sub-envs B.
        n_agents: agents per sub-env (>= 2).
        size: cells on the line (>= 2).
        episode_length: steps per episode (>= 1).
        background: the values the hidden per-episode background reward takes.
        agent_ids: append each agent's one-hot id to its observation.
        device: device of the state and of every tensor.
        validate: check actions and returned entries.

    Examples:
        >>> env = Rendezvous(num_envs=2, n_agents=2, size=5)
        >>> td = env.reset(seed=0)
        >>> td["observation"].shape, td["state"].shape
        (torch.Size([2, 2, 6]), torch.Size([2, 12]))
    """

    def __init__(
        self,
        num_envs: int = 1,
        n_agents: int = 2,
        size: int = 5,
        episode_length: int = 20,
        background: tuple[float, ...] = (-4.0, 0.0, 4.0),
        agent_ids: bool = False,
        device: torch.device | str = "cpu",
        validate: bool = True,
    ) -> None:
        if not isinstance(n_agents, int) or n_agents < 2:
            raise ValueError(f"Rendezvous: n_agents must be an int >= 2, got {n_agents!r}")
        if not isinstance(size, int) or size < 2:
            raise ValueError(f"Rendezvous: size must be an int >= 2, got {size!r}")
        if not isinstance(episode_length, int) or episode_length < 1:
            raise ValueError(f"Rendezvous: episode_length must be an int >= 1, got {episode_length!r}")
        background = tuple(float(v) for v in background)
        if not background or not all(np.isfinite(background)):
            raise ValueError(f"Rendezvous: background must be a non-empty tuple of finite values, got {background}")
        super().__init__(
            num_envs=num_envs,
            n_agents=n_agents,
            agent_observation_space=gym.spaces.Box(0.0, 1.0, (size + 1,), np.float32),
            agent_action_space=gym.spaces.Discrete(3),
            state_dim=n_agents * size + 2,
            agent_ids=agent_ids,
            device=device,
            validate=validate,
        )
        self.check_outputs = False  # one-hots, fractions and the given background values are finite
        self.trusted_entries = True
        self.size = size
        self.episode_length = episode_length
        self.background = background
        dev = self.device
        self._background = torch.tensor(background, device=dev)
        self._rng = SeededGenerator(dev)
        #: ``[B, A]`` int64: each agent's cell
        self.position = torch.zeros(num_envs, n_agents, dtype=torch.int64, device=dev)
        #: ``[B]`` float32: the episode's background reward
        self.background_reward = torch.zeros(num_envs, device=dev)
        self.elapsed_steps = torch.zeros(num_envs, dtype=torch.int64, device=dev)
        self._active = torch.ones(num_envs, n_agents, dtype=torch.bool, device=dev)

    def _draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        gen = self._rng.generator
        position = torch.randint(self.size, (self.num_envs, self.n_agents), generator=gen, device=self.device)
        background_reward = self._background[
            torch.randint(len(self.background), (self.num_envs,), generator=gen, device=self.device)
        ]
        return position, background_reward

    def _observe(self, position: torch.Tensor, background_reward: torch.Tensor, elapsed: torch.Tensor) -> dict:
        one_hot = torch.nn.functional.one_hot(position, self.size).float()  # [B, A, size]
        fraction = (elapsed.float() / self.episode_length).unsqueeze(-1)  # [B, 1]
        own = torch.cat([one_hot, fraction.unsqueeze(1).expand(-1, self.n_agents, 1)], -1)
        state = torch.cat([one_hot.flatten(1), background_reward.unsqueeze(-1), fraction], -1)
        return {keys.OBSERVATION: self._observation(own), keys.STATE: state, keys.AGENT_ACTIVE: self._active}

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        self._rng.seed(seed)
        self.position, self.background_reward = self._draw()
        self.elapsed_steps = torch.zeros_like(self.elapsed_steps)
        return self._observe(self.position, self.background_reward, self.elapsed_steps)

    def _step(self, action: torch.Tensor) -> EnvStep:
        position = (self.position + action.long() - 1).clamp(0, self.size - 1)
        met = (position == position[:, :1]).all(-1)
        reward = met.float() + self.background_reward
        elapsed = self.elapsed_steps + 1
        truncated = elapsed >= self.episode_length
        nxt = self._observe(position, self.background_reward, elapsed)
        reset_position, reset_background_reward = self._draw()
        self.position = torch.where(truncated.unsqueeze(-1), reset_position, position)
        self.background_reward = torch.where(truncated, reset_background_reward, self.background_reward)
        self.elapsed_steps = elapsed.masked_fill(truncated, 0)
        next_entries = self._step_entries(
            nxt,
            reward.unsqueeze(-1).expand(-1, self.n_agents).clone(),
            torch.zeros_like(self._active),
            torch.zeros_like(truncated),
            truncated,
        )
        return EnvStep(next=next_entries, root=self._observe(self.position, self.background_reward, self.elapsed_steps))

    def state_dict(self) -> dict:
        return {
            "position": self.position.clone(),
            "background_reward": self.background_reward.clone(),
            "elapsed_steps": self.elapsed_steps.clone(),
            "rng": self._rng.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.position = state["position"].to(self.device).clone()
        self.background_reward = state["background_reward"].to(self.device).clone()
        self.elapsed_steps = state["elapsed_steps"].to(self.device).clone()
        self._rng.load_state_dict(state["rng"])
