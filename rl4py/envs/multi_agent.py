"""The cooperative multi-agent env layout: ``n_agents`` agents per sub-env, batched as
``[num_envs, n_agents]``, and the reshape that turns a multi-agent rollout into one sequence per
agent (what shared-weight PPO and MAPPO train on).

Layout of one step of a :class:`MultiAgentEnv` (``B`` sub-envs, ``A`` agents)::

    root:  "observation"   [B, A, obs_dim] float  each agent's own observation
           "state"         [B, state_dim]  float  the global state (privileged: a centralized critic's input)
           "agent_active"  [B, A]          bool   the agent is in play (false once it finished early)
           "action_mask"   [B, A, n]       bool   allowed actions (masked envs only)
           "action"        [B, A] int (one Discrete choice per agent) or [B, A, d] float (Box)
    next:  the same observation entries, and
           ("next", "agent_reward")     [B, A] float  each agent's reward
           ("next", "reward")           [B, 1] float  the team's: the mean of the agents' rewards
           ("next", "agent_terminated") [B, A] bool   the agent's own episode ended (the env goes on)
           ("next", "terminated" / "truncated" / "done") [B, 1] bool  the sub-env's episode

The team reward is the mean over agents, so an episode return is the mean per-agent return (the
"episode_reward_mean" TorchRL and the MAPPO papers report). A sub-env resets when all its agents
are done.
"""

from __future__ import annotations

from abc import abstractmethod

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep
from rl4py.keys import NestedKey

__all__ = ["CRITIC_INPUTS", "MultiAgentEnv", "agents_to_batch", "check_agent_spaces"]

#: what a critic may read in :func:`agents_to_batch`: ``"local"`` (the agent's own observation:
#: a decentralized critic, IPPO) or ``"global"`` (the env's global state and the agent's one-hot
#: id: a centralized, privileged critic, MAPPO)
CRITIC_INPUTS = ("local", "global")

#: per-agent entries of a rollout: their agent dim (dim 2 of ``[B, T, A, ...]``) moves next to the batch
_PER_AGENT_ROOT = (keys.OBSERVATION, keys.ACTION, keys.ACTION_LOG_PROB, keys.ACTION_MASK)


def check_agent_spaces(owner: str, spaces: dict[str, gym.Space], what: str) -> gym.Space:
    """The one space every agent shares; raises ``ValueError`` naming the agents whose spaces differ
    (a shared-weight policy needs identical per-agent spaces)."""
    items = list(spaces.items())
    first_name, first = items[0]
    for name, space in items[1:]:
        if space != first:
            raise ValueError(
                f"{owner}: agents {first_name!r} and {name!r} have different {what} spaces ({first} and {space}); "
                "a shared-weight policy needs every agent's space to be the same (pad the smaller ones in a wrapper)"
            )
    return first


class MultiAgentEnv(EnvBase):
    """Base of the multi-agent envs (the PettingZoo and VMAS adapters, native team tasks).

    Subclasses implement :meth:`_reset` and :meth:`_step` returning the entries of the module's
    layout; :meth:`_observation` appends the agents' one-hot ids (``agent_ids=True``) and
    :meth:`_step_entries` packs a step.

    Args:
        num_envs: sub-envs B.
        n_agents: agents per sub-env A.
        agent_observation_space: one agent's flat ``Box`` observation space (before ids).
        agent_action_space: one agent's ``Discrete`` or flat ``Box`` action space.
        state_dim: size of the global state.
        masked: the env returns ``"action_mask"`` (discrete actions only).
        agent_ids: append each agent's one-hot id to its observation (a shared policy can then
            tell the agents apart).
        device: device of every tensor.
        validate: check actions and returned entries (see :class:`~rl4py.envs.EnvBase`).
    """

    def __init__(
        self,
        *,
        num_envs: int,
        n_agents: int,
        agent_observation_space: gym.spaces.Box,
        agent_action_space: gym.Space,
        state_dim: int,
        masked: bool = False,
        agent_ids: bool = False,
        device: torch.device | str = "cpu",
        validate: bool = True,
    ) -> None:
        name = type(self).__name__
        if not isinstance(n_agents, int) or n_agents < 1:
            raise ValueError(f"{name}: n_agents must be a positive int, got {n_agents!r}")
        if not isinstance(agent_observation_space, gym.spaces.Box) or len(agent_observation_space.shape) != 1:
            raise TypeError(f"{name}: each agent's observation space must be a flat Box, got {agent_observation_space}")
        self.n_agents = n_agents
        self.agent_ids = agent_ids
        obs_dim = int(agent_observation_space.shape[0]) + (n_agents if agent_ids else 0)
        #: one agent's observation space, ids included: what the shared actor reads
        self.agent_observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        #: one agent's action space
        self.agent_action_space = agent_action_space
        if isinstance(agent_action_space, gym.spaces.Discrete):
            joint: gym.Space = gym.spaces.MultiDiscrete(
                [int(agent_action_space.n)] * n_agents, start=[int(agent_action_space.start)] * n_agents
            )
        elif isinstance(agent_action_space, gym.spaces.Box) and len(agent_action_space.shape) == 1:
            if masked:
                raise ValueError(f"{name}: action masks apply to discrete actions, not to {agent_action_space}")
            joint = gym.spaces.Box(
                np.tile(agent_action_space.low, (n_agents, 1)),
                np.tile(agent_action_space.high, (n_agents, 1)),
                dtype=agent_action_space.dtype,
            )
        else:
            raise TypeError(
                f"{name}: each agent's action space must be Discrete or a flat Box, got {agent_action_space}"
            )
        spaces = {
            keys.OBSERVATION: gym.spaces.Box(-np.inf, np.inf, (n_agents, obs_dim), np.float32),
            keys.STATE: gym.spaces.Box(-np.inf, np.inf, (int(state_dim),), np.float32),
            keys.AGENT_ACTIVE: gym.spaces.MultiBinary(n_agents),
        }
        self.observation_keys = (keys.OBSERVATION, keys.STATE, keys.AGENT_ACTIVE)
        self.masked = masked
        if masked:
            spaces[keys.ACTION_MASK] = gym.spaces.MultiBinary((n_agents, int(agent_action_space.n)))
            self.observation_keys = (*self.observation_keys, keys.ACTION_MASK)
        self.state_dim = int(state_dim)
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Dict(spaces),
            single_action_space=joint,
            device=device,
            validate=validate,
        )
        self._eye = torch.eye(n_agents, device=self.device)

    # ---------------------------------------------------------------- layout
    def _entry_spec(self, key: NestedKey) -> tuple[tuple[int, ...] | None, str | None, str]:
        b, a = self.num_envs, self.n_agents
        if key == keys.ACTION_MASK and self.masked:
            n = int(self.agent_action_space.n)
            return (b, a, n), "bool", f"[num_envs, n_agents, {n}] bool, the allowed actions of each agent"
        if key == keys.AGENT_REWARD:
            return (b, a), "float", "[num_envs, n_agents] float, each agent's reward"
        if key in (keys.AGENT_TERMINATED, keys.AGENT_ACTIVE):
            return (b, a), "bool", "[num_envs, n_agents] bool"
        return super()._entry_spec(key)

    def check_action(self, action: torch.Tensor) -> None:
        super().check_action(action)
        if self.masked and self.validate:
            mask = self._current_mask()
            allowed = mask.gather(-1, (action - int(self.agent_action_space.start)).long().unsqueeze(-1)).squeeze(-1)
            if not bool(allowed.all()):
                env, agent = (~allowed).nonzero()[0].tolist()
                raise ValueError(
                    f"{self.name}: agent {agent} of sub-env {env} took action {int(action[env, agent])}, which its "
                    "'action_mask' forbids"
                )

    def _current_mask(self) -> torch.Tensor:
        """The ``[B, A, n]`` mask of the current step (masked envs override)."""
        raise TypeError(f"{self.name}: masked=True needs _current_mask()")

    def _observation(self, agent_obs: torch.Tensor) -> torch.Tensor:
        """``[B, A, o]`` -> ``[B, A, obs_dim]``: appends the one-hot ids with ``agent_ids``."""
        if not self.agent_ids:
            return agent_obs
        return torch.cat([agent_obs, self._eye.expand(agent_obs.shape[0], -1, -1)], -1)

    def _step_entries(
        self,
        observation: dict[NestedKey, torch.Tensor],
        agent_reward: torch.Tensor,
        agent_terminated: torch.Tensor,
        terminated: torch.Tensor,
        truncated: torch.Tensor,
    ) -> dict[NestedKey, torch.Tensor]:
        """The ``"next"`` entries of a step: the true next observation entries, the agents' and the
        team's reward, the flags (``terminated``/``truncated`` ``[B]`` bool of the sub-envs)."""
        terminated = terminated.reshape(-1, 1)
        truncated = truncated.reshape(-1, 1) & ~terminated
        return {
            **observation,
            keys.AGENT_REWARD: agent_reward,
            keys.REWARD: agent_reward.mean(-1, keepdim=True),
            keys.AGENT_TERMINATED: agent_terminated,
            keys.TERMINATED: terminated,
            keys.TRUNCATED: truncated,
            keys.DONE: terminated | truncated,
        }

    @abstractmethod
    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]: ...

    @abstractmethod
    def _step(self, action: torch.Tensor) -> EnvStep: ...


def agents_to_batch(
    rollout: TensorDictBase, *, per_agent_reward: bool = False, critic_input: str = "local"
) -> TensorDict:
    """One sequence per agent: a multi-agent rollout ``[B, T]`` (entries ``[B, T, A, ...]``) as a
    single-agent one ``[B, A, T]``, which GAE, PPO's loss and the minibatch update read unchanged.

    Each agent's ``"observation"``, ``"action"``, ``"action_log_prob"``, ``"action_mask"`` (and the
    next observation) move to its own row; the reward is the team reward broadcast to every agent
    or, with ``per_agent_reward``, the agent's own; ``"terminated"`` is the sub-env's or the
    agent's own early finish, ``"done"`` also ends the agent's sequence where it left play;
    ``"agent_active"`` ``[B, A, T, 1]`` marks the steps the agent was in play. With
    ``critic_input="global"``, ``"critic_observation"`` (root and next) is the global state
    followed by the agent's one-hot id, ``[B, A, T, state_dim + A]``.

    Args:
        rollout: a collector rollout of a :class:`MultiAgentEnv`.
        per_agent_reward: train each agent on its own reward instead of the team's.
        critic_input: ``"local"`` or ``"global"`` (:data:`CRITIC_INPUTS`).

    Returns:
        A new ``TensorDict[B, A, T]`` (views of the rollout where the layout allows).

    Raises:
        ValueError: ``critic_input`` is unknown, or the rollout lacks the multi-agent entries.
    """
    if critic_input not in CRITIC_INPUTS:
        raise ValueError(f"agents_to_batch: critic_input must be one of {CRITIC_INPUTS}, got {critic_input!r}")
    nxt = rollout.get(keys.NEXT)
    for key, where in ((keys.AGENT_ACTIVE, rollout), (keys.AGENT_REWARD, nxt)):
        if key not in where:
            raise ValueError(
                f"agents_to_batch: the rollout has no {key!r}; expected a multi-agent env's rollout "
                "(rl4py.envs.MultiAgentEnv: per-agent entries [B, T, A, ...])"
            )
    b, t = rollout.batch_size
    active = rollout.get(keys.AGENT_ACTIVE)
    a = active.shape[-1]

    def agent_major(value: torch.Tensor) -> torch.Tensor:
        return value.movedim(2, 1)

    def broadcast(value: torch.Tensor) -> torch.Tensor:  # [B, T, 1] -> [B, A, T, 1]
        return value.unsqueeze(1).expand(b, a, t, value.shape[-1])

    root: dict = {}
    for key in _PER_AGENT_ROOT:
        value = rollout.get(key, None)
        if value is not None:
            root[key] = agent_major(value)
    root[keys.AGENT_ACTIVE] = agent_major(active.unsqueeze(-1))
    next_active = agent_major(nxt.get(keys.AGENT_ACTIVE).unsqueeze(-1))
    reward = (
        agent_major(nxt.get(keys.AGENT_REWARD).unsqueeze(-1)) if per_agent_reward else broadcast(nxt.get(keys.REWARD))
    )
    terminated = broadcast(nxt.get(keys.TERMINATED)) | agent_major(nxt.get(keys.AGENT_TERMINATED).unsqueeze(-1))
    left_play = root[keys.AGENT_ACTIVE] & ~next_active
    truncated = broadcast(nxt.get(keys.TRUNCATED)) & ~terminated
    done = terminated | truncated | left_play
    next_entries = {
        keys.OBSERVATION: agent_major(nxt.get(keys.OBSERVATION)),
        keys.REWARD: reward,
        keys.TERMINATED: terminated,
        keys.TRUNCATED: truncated,
        keys.DONE: done,
        keys.AGENT_ACTIVE: next_active,
    }
    if critic_input == "global":
        ids = torch.eye(a, device=active.device).view(1, a, 1, a).expand(b, a, t, a)
        root[keys.CRITIC_OBSERVATION] = torch.cat([broadcast(rollout.get(keys.STATE)), ids], -1)
        next_entries[keys.CRITIC_OBSERVATION] = torch.cat([broadcast(nxt.get(keys.STATE)), ids], -1)
    out = TensorDict(root, batch_size=[b, a, t], device=rollout.device)
    out.set(keys.NEXT, TensorDict(next_entries, batch_size=[b, a, t], device=rollout.device))
    return out
