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

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from rl4py.envs.action_masks import has_action_mask
from rl4py.envs.base import EnvBase
from rl4py.modules.activations import activation_class
from rl4py.modules.recurrent_actor import make_recurrent_actor_critic
from rl4py.trainers.ppo_loop import PPOConfig, run_ppo
from rl4py.trainers.tracking import TrainResult

__all__ = ["RecurrentPPOConfig", "train_recurrent_ppo"]


@dataclass
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


def train_recurrent_ppo(
    env: EnvBase,
    config: RecurrentPPOConfig | None = None,
    progress: Callable[[dict], None] | None = None,
    progress_every: int = 10,
) -> TrainResult:
    """Trains a recurrent PPO agent (separate actor and critic cores) on ``env``.

    The actor fits the env's action space as in :func:`~rl4py.trainers.train_ppo` (categorical,
    masked, multi-categorical or Gaussian). See the module docstring for the state flow.

    Args:
        env: a batched env with a flat ``Box`` observation.
        config: hyperparameters (defaults if ``None``).
        progress: called every ``progress_every`` iterations with a dict of ``frames``, ``seconds``,
            ``steps_per_second``, ``mean_return`` and the loss diagnostics.
        progress_every: iterations between ``progress`` calls.

    Returns:
        A :class:`~rl4py.trainers.TrainResult`; ``modules`` holds ``"policy"`` (the
        :class:`~rl4py.modules.recurrent_actor.RecurrentActorCritic`), ``"actor"`` and ``"critic"``.
    """
    config = config or RecurrentPPOConfig()
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    activation = activation_class(config.activation, "train_recurrent_ppo")
    if config.chunk_length is not None and (config.chunk_length < 1 or config.rollout_length % config.chunk_length):
        raise ValueError(
            f"train_recurrent_ppo: chunk_length must be >= 1 and divide rollout_length {config.rollout_length}, "
            f"got {config.chunk_length}"
        )
    policy = make_recurrent_actor_critic(
        env.single_observation_space,
        env.single_action_space,
        core=config.core,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        n_blocks=config.n_blocks,
        encoder_cells=config.encoder_cells,
        head_cells=config.num_cells,
        activation=activation,
        recurrent_critic=config.recurrent_critic,
        masked=has_action_mask(env),
        init_log_std=config.init_log_std,
    ).to(env.device)
    return run_ppo(
        env,
        config,
        policy=policy,
        actor=policy.actor,
        critic=policy.critic,
        value_network=policy.value_network,
        modules={"policy": policy, "actor": policy.actor, "critic": policy.critic},
        start=start,
        progress=progress,
        progress_every=progress_every,
        keep_time=True,
        chunk_length=config.chunk_length,
    )
