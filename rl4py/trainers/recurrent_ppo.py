"""Recurrent PPO in a plain loop: an LSTM/GRU policy, truncated back-propagation through time.

The pieces and how the recurrent state flows through them:

1. :class:`~rl4py.collectors.SyncCollector` runs a :class:`~rl4py.modules.recurrent_actor.RecurrentActorCritic`
   step by step, feeding ``"is_init"`` and the state, and stores both per step in the rollout.
2. :class:`~rl4py.values.GAE` gets its values from the recurrent critic evaluated at every step from
   that step's stored state (:class:`~rl4py.modules.recurrent_actor.StoredStateValue`): the state the
   critic had at collection, which the current parameters reproduce exactly, and for
   ``("next", "state_value")`` the state after the step (the bootstrap at a truncation included).
3. :func:`~rl4py.trainers.minibatch_update` with ``keep_time=True`` cuts the rollout into chunks of
   ``chunk_length`` steps; :class:`~rl4py.losses.PPOLoss` calls ``actor.get_dist(chunks)`` and
   ``critic(chunks)``, which re-run each core over the chunk from its stored first state (resetting
   at ``"is_init"``), with gradient through the whole chunk.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
from tensordict import TensorDictBase
from torch import nn

from rl4py.envs.base import EnvBase
from rl4py.losses.ppo import PPOLoss
from rl4py.modules.activations import activation_class
from rl4py.modules.recurrent_actor import make_recurrent_actor_critic
from rl4py.trainers.actor_critic import (
    ActorCriticParts,
    LossFactory,
    build_for_env,
    make_value_estimator_for,
    run_actor_critic,
    wire_value_estimator,
)
from rl4py.trainers.ppo import PPOConfig, ppo_schedules
from rl4py.trainers.tracking import Progress, TrainResult
from rl4py.values.base import ValueEstimator

__all__ = ["RecurrentPPOConfig", "build_recurrent_ppo", "train_recurrent_ppo"]

CORES = ("lstm", "gru", "block_gru")


@dataclass(frozen=True)
class RecurrentPPOConfig(PPOConfig):
    """:class:`~rl4py.trainers.PPOConfig` plus the recurrent network and the sequence cut.

    ``num_cells`` are the hidden sizes of the heads after the core; ``num_minibatches`` counts
    sequences (``num_envs * rollout_length / chunk_length`` of them per rollout).
    """

    core: str = "lstm"
    """``"lstm"``, ``"gru"`` or ``"block_gru"``."""
    hidden_size: int = 64
    """State size of each core."""
    num_layers: int = 1
    """Stacked core layers (LSTM, GRU)."""
    n_blocks: int = 1
    """Diagonal blocks of a ``"block_gru"`` core."""
    encoder_cells: tuple[int, ...] = ()
    """Hidden sizes of an MLP before each core (empty: the observation goes to the core directly)."""
    recurrent_critic: bool = True
    """Give the critic its own core (else a feed-forward 64-64 MLP on the observation)."""
    chunk_length: int | None = None
    """Truncated BPTT length: each sub-env's rollout is cut into chunks of this many steps (it must
    divide ``rollout_length``); ``None`` back-propagates through whole rollouts."""

    SHADOWED_BY = {
        **{k: v for k, v in PPOConfig.SHADOWED_BY.items() if k != ("actor", "critic")},
        ("policy",): (
            "core",
            "hidden_size",
            "num_layers",
            "n_blocks",
            "encoder_cells",
            "recurrent_critic",
            "num_cells",
            "activation",
            "init_log_std",
        ),
    }

    def check(self) -> None:
        super().check()
        name = type(self).__name__
        if self.core not in CORES:
            raise ValueError(f"{name}: core must be one of {CORES}, got {self.core!r}")
        if self.head_weights is not None:
            raise ValueError(
                f"{name}: head_weights={self.head_weights!r}: the recurrent critic has one value head; "
                "multi-head value decomposition (estimator='multihead_gae') is built by PPOConfig's feed-forward critic"
            )
        if self.chunk_length is not None and (self.chunk_length < 1 or self.rollout_length % self.chunk_length):
            raise ValueError(
                f"{name}: chunk_length must be >= 1 and divide rollout_length {self.rollout_length}, "
                f"got {self.chunk_length}"
            )

    @property
    def sequence_length(self) -> int:
        """Steps per minibatch sequence: ``chunk_length``, or the whole ``rollout_length``."""
        return self.chunk_length if self.chunk_length is not None else self.rollout_length


def build_recurrent_ppo(
    observation_space: gym.Space,
    action_space: gym.Space,
    config: RecurrentPPOConfig,
    *,
    masked: bool = False,
    policy: nn.Module | None = None,
    loss: LossFactory | None = None,
    value_estimator: ValueEstimator | None = None,
) -> ActorCriticParts:
    """Recurrent PPO's components; each one passed in is used instead of built.

    Args:
        observation_space, action_space: one sub-env's spaces.
        config: the hyperparameters.
        masked: the env returns ``"action_mask"``.
        policy: a :class:`~rl4py.modules.recurrent_actor.RecurrentActorCritic` (default: built from
            the config by :func:`~rl4py.modules.recurrent_actor.make_recurrent_actor_critic`).
        loss: builds the loss from ``(policy.actor, policy.critic)`` (default: :class:`~rl4py.losses.PPOLoss`).
        value_estimator: the estimator stage (default: ``config.estimator``); it evaluates
            ``policy.value_network`` (the critic from each step's stored state).

    Returns:
        The parts; the policy that collects is the recurrent actor-critic (it carries the state).
    """
    config.refuse_shadowed(policy=policy, loss=loss, value_estimator=value_estimator)
    if policy is None:
        policy = make_recurrent_actor_critic(
            observation_space,
            action_space,
            core=config.core,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            n_blocks=config.n_blocks,
            encoder_cells=config.encoder_cells,
            head_cells=config.num_cells,
            activation=activation_class(config.activation, type(config).__name__),
            recurrent_critic=config.recurrent_critic,
            masked=masked,
            init_log_std=config.init_log_std,
        )
    factory = loss if loss is not None else functools.partial(PPOLoss, **config.loss_kwargs())
    if value_estimator is None:
        value_estimator = make_value_estimator_for(
            config.estimator,
            gamma=config.gamma,
            lmbda=config.lmbda,
            actor=policy.actor,
            value_network=policy.value_network,
        )
    else:
        wire_value_estimator(value_estimator, policy.value_network, policy.actor)
    return ActorCriticParts(
        policy.actor, policy.critic, factory(policy.actor, policy.critic), [value_estimator], policy=policy
    )


def train_recurrent_ppo(
    env: EnvBase,
    config: RecurrentPPOConfig | None = None,
    progress: Progress | None = None,
    progress_every: int = 10,
    *,
    policy: nn.Module | None = None,
    loss: LossFactory | None = None,
    value_estimator: ValueEstimator | None = None,
    on_update: Callable[[TensorDictBase, int], object] | None = None,
) -> TrainResult:
    """Trains a recurrent PPO agent (separate actor and critic cores) on ``env``.

    The actor fits the env's action space as in :func:`~rl4py.trainers.train_ppo` (categorical,
    masked, multi-categorical or Gaussian). See the module docstring for the state flow.

    Args:
        env: a batched env with a flat ``Box`` observation.
        config: hyperparameters (defaults if ``None``).
        progress: where to report every ``progress_every`` iterations (a callable, an rl4py or a Lightning
            logger: see :class:`~rl4py.trainers.ProgressReporter`).
        progress_every: iterations between ``progress`` calls.
        policy, loss, value_estimator: components replacing the built ones (:func:`build_recurrent_ppo`).
        on_update: called after each update with its stats and the env frames so far (a
            :class:`~rl4py.diagnostics.TrainingHealth`'s ``update``).

    Returns:
        A :class:`~rl4py.trainers.TrainResult`; ``modules`` holds ``"policy"`` (the
        :class:`~rl4py.modules.recurrent_actor.RecurrentActorCritic`), ``"actor"`` and ``"critic"``.
    """
    config = config or RecurrentPPOConfig()
    start = time.perf_counter()
    parts = build_for_env(build_recurrent_ppo, env, config, policy=policy, loss=loss, value_estimator=value_estimator)
    return run_actor_critic(
        env,
        parts,
        config,
        owner="train_recurrent_ppo",
        start=start,
        modules={"policy": parts.policy, "actor": parts.actor, "critic": parts.critic},
        learning_rate=functools.partial(ppo_schedules, config, parts),  # lr and (anneal_clip) clip range
        on_update=on_update,
        progress=progress,
        progress_every=progress_every,
        keep_time=True,
        chunk_length=config.chunk_length,
    )
