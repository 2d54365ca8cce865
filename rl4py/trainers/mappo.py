"""Shared-weight multi-agent PPO: IPPO (each agent's critic reads its own observation) and MAPPO
(a centralized, privileged critic reads the global state) on a :class:`~rl4py.envs.MultiAgentEnv`.

One actor serves every agent (its weights are shared; ``agent_ids=True`` on the env gives it the
agents' one-hot ids). The update body :func:`mappo_update` reshapes the rollout into one sequence
per agent (:func:`~rl4py.envs.agents_to_batch`) and runs PPO's estimator and loss on it unchanged,
so the plain loop (:func:`train_mappo`), :class:`~rl4py.trainers.MAPPOModule` (Lightning) and
``rl4py fit`` share it. Deployment needs only the actor: it reads one agent's observation.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModule
from torch import nn

from rl4py import keys
from rl4py.envs.multi_agent import CRITIC_INPUTS, MultiAgentEnv, agents_to_batch
from rl4py.modules.activations import activation_class
from rl4py.modules.mlp import MLP
from rl4py.trainers.actor_critic import (
    ActorCriticParts,
    LossFactory,
    build_for_env,
    make_networks,
    run_actor_critic,
)
from rl4py.trainers.ppo import PPOConfig, ppo_parts, ppo_schedules, reset_exploration
from rl4py.trainers.tracking import Progress, TrainResult
from rl4py.trainers.updates import minibatch_update, num_threads
from rl4py.values.base import ValueEstimator

__all__ = ["MAPPOConfig", "agent_spaces", "build_mappo", "mappo_update", "train_mappo"]


@dataclass(frozen=True)
class MAPPOConfig(PPOConfig):
    """Shared-weight PPO's hyperparameters: :class:`~rl4py.trainers.PPOConfig`'s (CleanRL's
    defaults; a minibatch counts agent-steps, ``num_envs * n_agents * rollout_length`` per rollout)
    and what the critic reads.

    ``critic_input="global"`` is MAPPO (Yu et al. 2022, "The Surprising Effectiveness of PPO in
    Cooperative Multi-Agent Games"): the critic reads the env's global state and the agent's
    one-hot id, information the actor does not have; ``"local"`` is IPPO (de Witt et al. 2020),
    every network reading only the agent's own observation.
    """

    critic_input: str = "global"
    """``"global"`` (MAPPO: a centralized, privileged critic) or ``"local"`` (IPPO)."""
    per_agent_reward: bool = False
    """Train each agent on its own reward (``("next", "agent_reward")``) instead of the team's."""

    def check(self) -> None:
        super().check()
        if self.critic_input not in CRITIC_INPUTS:
            raise ValueError(
                f"{type(self).__name__}: critic_input must be one of {CRITIC_INPUTS}, got {self.critic_input!r}"
            )
        if self.gsde:
            raise ValueError(f"{type(self).__name__}: gsde is not supported for multi-agent actors")


def agent_spaces(observation_space: gym.Space, action_space: gym.Space) -> tuple[gym.spaces.Box, gym.Space, int, int]:
    """One agent's observation and action spaces, the number of agents and the global state's
    size, from a :class:`~rl4py.envs.MultiAgentEnv`'s single-env spaces.

    Raises:
        TypeError: the spaces are not a multi-agent env's (a ``Dict`` observation space with
            ``"observation"`` ``[A, obs_dim]`` and ``"state"``; a ``MultiDiscrete`` or ``[A, d]`` ``Box`` action space).
    """
    if not (
        isinstance(observation_space, gym.spaces.Dict)
        and keys.OBSERVATION in observation_space.spaces
        and keys.STATE in observation_space.spaces
    ):
        raise TypeError(
            f"build_mappo: needs a multi-agent env's spaces (rl4py.envs.MultiAgentEnv: a Dict observation space with "
            f"'observation' [n_agents, obs_dim] and 'state'), got {observation_space}"
        )
    obs = observation_space.spaces[keys.OBSERVATION]
    n_agents, obs_dim = obs.shape
    state_dim = int(observation_space.spaces[keys.STATE].shape[0])
    agent_obs = gym.spaces.Box(-np.inf, np.inf, (int(obs_dim),), np.float32)
    if isinstance(action_space, gym.spaces.MultiDiscrete) and action_space.shape == (n_agents,):
        agent_action: gym.Space = gym.spaces.Discrete(int(action_space.nvec[0]), start=int(action_space.start[0]))
    elif (
        isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 2 and action_space.shape[0] == n_agents
    ):
        agent_action = gym.spaces.Box(action_space.low[0], action_space.high[0], dtype=action_space.dtype)
    else:
        raise TypeError(
            f"build_mappo: the action space must be one choice per agent (MultiDiscrete of {n_agents} or a "
            f"[{n_agents}, d] Box), got {action_space}"
        )
    return agent_obs, agent_action, int(n_agents), state_dim


def build_mappo(
    observation_space: gym.Space,
    action_space: gym.Space,
    config: MAPPOConfig,
    *,
    masked: bool = False,
    actor: nn.Module | None = None,
    critic: nn.Module | None = None,
    loss: LossFactory | None = None,
    value_estimator: ValueEstimator | None = None,
) -> ActorCriticParts:
    """The shared actor (one agent's observation -> its action distribution), the critic (the
    agent's observation, or with ``critic_input="global"`` ``"critic_observation"``: the global
    state and the agent's one-hot id), PPO's loss and the value estimator.

    Args:
        observation_space, action_space: a :class:`~rl4py.envs.MultiAgentEnv`'s single-env spaces.
        config: the hyperparameters.
        masked: the env returns ``"action_mask"`` ``[B, A, n]``.
        actor, critic, loss, value_estimator: components used instead of the built ones (a given
            critic must read ``"critic_observation"`` with ``critic_input="global"``).
    """
    config.refuse_shadowed(actor=actor, critic=critic, loss=loss, value_estimator=value_estimator)
    agent_obs, agent_action, n_agents, state_dim = agent_spaces(observation_space, action_space)
    if config.critic_input == "global" and critic is None:
        activation = activation_class(config.activation, type(config).__name__)
        critic = TensorDictModule(
            MLP(state_dim + n_agents, 1, config.num_cells, activation, output_gain=1.0),
            in_keys=[keys.CRITIC_OBSERVATION],
            out_keys=[keys.STATE_VALUE],
        )
    actor, critic = make_networks(
        agent_obs, agent_action, config, masked=masked, actor=actor, critic=critic, gsde=False
    )
    return ppo_parts(actor, critic, config, loss=loss, value_estimator=value_estimator)


def mappo_update(
    parts: ActorCriticParts,
    rollout: TensorDictBase,
    optimizer: torch.optim.Optimizer,
    config: MAPPOConfig,
    generator: torch.Generator | None,
    *,
    backward: Callable[[torch.Tensor], None] | None = None,
    keep_time: bool = False,
    chunk_length: int | None = None,
) -> TensorDictBase:
    """The update body: :func:`~rl4py.envs.agents_to_batch`, the estimator stages on every agent's
    sequence, then ``epochs`` x ``num_minibatches`` PPO steps over the agent-steps in play (an agent's
    steps after it finished early are left out; the minibatches then keep the size they would have had).

    Args and returns as :func:`~rl4py.trainers.actor_critic.actor_critic_update` (``rollout``:
    a multi-agent rollout ``[B, T]``; recurrent minibatches are not supported).
    """
    if keep_time or chunk_length is not None:
        raise ValueError("mappo_update: sequence minibatches (keep_time) are not supported for multi-agent PPO")
    batch = agents_to_batch(rollout, per_agent_reward=config.per_agent_reward, critic_input=config.critic_input)
    with num_threads(config.update_threads):
        for stage in parts.estimators:
            stage(batch)
        active = batch.get(keys.AGENT_ACTIVE).reshape(-1)
        common = {
            "epochs": config.epochs,
            "max_grad_norm": config.max_grad_norm,
            "generator": generator,
            "backward": backward,
            "skip_nonfinite": config.skip_nonfinite,
        }
        if bool(active.all()):
            return minibatch_update(parts.loss, optimizer, batch, num_minibatches=config.num_minibatches, **common)
        in_play = batch.reshape(-1)[active]
        size = max(1, active.numel() // config.num_minibatches)
        if in_play.shape[0] < size:
            size = in_play.shape[0]
        return minibatch_update(parts.loss, optimizer, in_play, num_minibatches=None, minibatch_size=size, **common)


def train_mappo(
    env: MultiAgentEnv,
    config: MAPPOConfig | None = None,
    progress: Progress | None = None,
    progress_every: int = 10,
    *,
    actor: nn.Module | None = None,
    critic: nn.Module | None = None,
    loss: LossFactory | None = None,
    value_estimator: ValueEstimator | None = None,
    on_update: Callable[[TensorDictBase, int], object] | None = None,
) -> TrainResult:
    """Trains one shared policy for every agent of ``env`` with PPO (MAPPO with
    ``critic_input="global"``, the default; IPPO with ``"local"``).

    Args:
        env: a batched multi-agent env (:class:`~rl4py.envs.MultiAgentEnv`: the PettingZoo or VMAS
            adapter, or a native team task).
        config: hyperparameters (``MAPPOConfig()`` if ``None``); ``target_return`` is on the team's
            episode return (the mean per-agent return).
        progress, progress_every: where to report, every ``progress_every`` iterations.
        actor, critic, loss, value_estimator: components replacing the built ones (:func:`build_mappo`).
        on_update: called after each update with its stats and the env steps so far.

    Returns:
        A :class:`~rl4py.trainers.TrainResult` with modules ``actor`` (deployable alone: it reads one
        agent's observation) and ``critic``; ``frames`` counts env steps (all agents of a sub-env
        step together).

    Examples:
        >>> from rl4py.envs import Rendezvous
        >>> result = train_mappo(Rendezvous(num_envs=4), MAPPOConfig(total_frames=1024))
        >>> result.frames
        1024
    """
    if not isinstance(env, MultiAgentEnv):
        raise TypeError(
            f"train_mappo: env must be a multi-agent env (rl4py.envs.MultiAgentEnv), got {type(env).__name__}; "
            "use train_ppo for single-agent envs"
        )
    config = config or MAPPOConfig()
    start = time.perf_counter()
    parts = build_for_env(
        build_mappo, env, config, actor=actor, critic=critic, loss=loss, value_estimator=value_estimator
    )
    return run_actor_critic(
        env,
        parts,
        config,
        owner="train_mappo",
        start=start,
        modules={"actor": parts.actor, "critic": parts.critic},
        learning_rate=functools.partial(ppo_schedules, config, parts),
        after_update=functools.partial(reset_exploration, parts.policy),
        on_update=on_update,
        progress=progress,
        progress_every=progress_every,
        update=mappo_update,
        rows_per_env=env.n_agents,
    )
