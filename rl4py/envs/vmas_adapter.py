"""VMAS (the Vectorized Multi-Agent Simulator) as a :class:`~rl4py.envs.MultiAgentEnv` (the ``vmas`` extra).

VMAS simulates every sub-env in torch on one device, so the adapter passes tensors through: no
numpy round trip, and the env stays on the policy's device.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs.base import EnvStep, NestedKey
from rl4py.envs.multi_agent import MultiAgentEnv, check_agent_spaces

__all__ = ["VmasEnv"]


def _import_vmas():
    try:
        import vmas
    except ImportError:
        raise ImportError("VmasEnv needs the vmas package: pip install 'rl4py[multiagent]'") from None
    return vmas


def _to_gymnasium(space: Any) -> gym.Space:
    """VMAS describes spaces with ``gym`` (0.26): the same space in gymnasium."""
    if hasattr(space, "n") and not hasattr(space, "nvec"):
        return gym.spaces.Discrete(int(space.n))
    if hasattr(space, "low") and hasattr(space, "high"):
        return gym.spaces.Box(np.asarray(space.low), np.asarray(space.high), dtype=np.float32)
    raise TypeError(f"VmasEnv: unsupported agent space {space}")


class VmasEnv(MultiAgentEnv):
    """A VMAS scenario's ``num_envs`` vectorized sub-envs as one batched multi-agent env.

    Continuous actions (VMAS's default) are clamped to the agents' bounds by VMAS itself
    (``clamp_actions``; a Gaussian policy's sample outside ``[-u_range, u_range]`` acts as the
    bound, the stored action is unchanged). The global ``"state"`` is every agent's observation
    concatenated, as TorchRL's centralized critic reads it. Sub-envs whose episode ended (the
    scenario's ``done`` or ``max_steps``) reset inside the step.

    Args:
        scenario: a VMAS scenario name (``"navigation"``, ``"balance"``, ...).
        num_envs: sub-envs B, simulated together.
        max_steps: truncate episodes after this many steps (``None``: the scenario's own end only).
        continuous_actions: ``Box`` actions (VMAS's default) or ``Discrete`` ones.
        agent_ids: append each agent's one-hot id to its observation.
        seed: VMAS's seed at construction (it seeds torch's global RNG: VMAS draws from it).
        device: the simulation device (the policy's).
        validate: check actions and returned entries.
        **scenario_kwargs: the scenario's settings (``n_agents=3``, ...).

    Examples:
        >>> env = VmasEnv("navigation", num_envs=4, max_steps=100, n_agents=3)
        >>> td = env.reset(seed=0)
        >>> td["observation"].shape, td["state"].shape
        (torch.Size([4, 3, 18]), torch.Size([4, 54]))
    """

    #: VMAS keeps its world in scenario objects and draws from torch's global RNG
    exact_resume = False

    def __init__(
        self,
        scenario: str,
        num_envs: int = 1,
        *,
        max_steps: int | None = None,
        continuous_actions: bool = True,
        agent_ids: bool = False,
        seed: int | None = None,
        device: torch.device | str = "cpu",
        validate: bool = True,
        **scenario_kwargs: Any,
    ) -> None:
        vmas = _import_vmas()
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"VmasEnv: num_envs must be a positive int, got {num_envs!r}")
        self.env = vmas.make_env(
            scenario,
            num_envs=num_envs,
            device=device,
            continuous_actions=continuous_actions,
            max_steps=max_steps,
            seed=seed,
            clamp_actions=True,
            terminated_truncated=True,
            **scenario_kwargs,
        )
        self.scenario = scenario
        agents = self.env.agents
        obs_space = check_agent_spaces(
            "VmasEnv",
            {a.name: _to_gymnasium(self.env.observation_space[i]) for i, a in enumerate(agents)},
            "observation",
        )
        act_space = check_agent_spaces(
            "VmasEnv", {a.name: _to_gymnasium(self.env.action_space[i]) for i, a in enumerate(agents)}, "action"
        )
        self.agents = tuple(a.name for a in agents)
        super().__init__(
            num_envs=num_envs,
            n_agents=len(agents),
            agent_observation_space=obs_space,
            agent_action_space=act_space,
            state_dim=len(agents) * int(obs_space.shape[0]),
            agent_ids=agent_ids,
            device=device,
            validate=validate,
        )
        self._active = torch.ones(num_envs, self.n_agents, dtype=torch.bool, device=self.device)

    def _entries(self, observations: list[torch.Tensor]) -> dict[NestedKey, torch.Tensor]:
        obs = torch.stack(observations, 1)  # [B, A, o]
        return {keys.OBSERVATION: self._observation(obs), keys.STATE: obs.flatten(1), keys.AGENT_ACTIVE: self._active}

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        if seed is not None:
            self.env.seed(seed)
        return self._entries(self.env.reset())

    def _step(self, action: torch.Tensor) -> EnvStep:
        observations, rewards, terminated, truncated, _ = self.env.step(list(action.unbind(1)))
        nxt = self._entries(observations)
        done = terminated | truncated
        root = nxt
        if bool(done.any()):
            if bool(done.all()):
                observations = self.env.reset()
            else:
                for index in done.nonzero().flatten().tolist():
                    observations = self.env.reset_at(index)
            root = self._entries(observations)
        agent_reward = torch.stack(rewards, 1).float()
        step = self._step_entries(
            nxt, agent_reward, torch.zeros_like(self._active), terminated.clone(), truncated.clone()
        )
        return EnvStep(next=step, root=root)
