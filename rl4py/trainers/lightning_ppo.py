"""PPO and recurrent PPO as LightningModules: the config, builder and update body of
:mod:`rl4py.trainers.ppo` / :mod:`rl4py.trainers.recurrent_ppo`, one rollout per training step."""

from __future__ import annotations

import gymnasium as gym
from torch import nn

from rl4py.trainers.actor_critic import LossFactory
from rl4py.trainers.lightning_actor_critic import ActorCriticModule
from rl4py.trainers.lightning_base import RolloutDataset
from rl4py.trainers.ppo import PPOConfig, build_ppo, ppo_schedules, reset_exploration
from rl4py.trainers.recurrent_ppo import RecurrentPPOConfig, build_recurrent_ppo
from rl4py.values.base import ValueEstimator

__all__ = ["PPOModule", "RecurrentPPOModule", "RolloutDataset"]


class PPOModule(ActorCriticModule):
    """PPO trained by the Lightning ``Trainer`` (CPU or GPUs, one or many processes with DDP).

    The hyperparameters are one :class:`~rl4py.trainers.PPOConfig` (the plain loop's table:
    ``--model.config.lr 1e-3`` on the command line); every component is a typed constructor
    argument that ``LightningCLI`` (``rl4py fit``) swaps from YAML or the command line:
    ``--model.loss.class_path rl4py.losses.PPOLoss --model.loss.init_args.dual_clip 3.0``,
    ``--model.value_estimator.class_path rl4py.values.VTrace``. Each training step collects one
    rollout and runs the update body of :func:`~rl4py.trainers.train_ppo` (``epochs`` x
    ``num_minibatches`` optimizer steps, one ``manual_backward`` each, so DDP all-reduces every
    minibatch's gradients). Training stops at ``config.total_frames`` env steps (all ranks), at
    ``config.target_return``, or at the Trainer's own limits; ``anneal_lr`` decays the learning
    rate over ``total_frames`` as in the plain loop.

    Each rank owns its env and collector, seeded ``seed + 1000 * rank`` from ``seed_everything``;
    episode returns go through torchmetrics so the logged values are reduced across ranks.
    Checkpoints hold the networks, the optimizer, the env and collector state, the counters, the
    episode metrics and the RNG states, so a resumed run continues exactly.

    Args:
        env: a native env name or a gymnasium id (see :func:`rl4py.envs.make_env`).
        config: the hyperparameters (``num_envs`` is per rank).
        env_kwargs: extra constructor arguments of the env.
        normalize_observations: wrap each rank's env in :class:`~rl4py.envs.ObservationNorm`.
        actor, critic: networks to train instead of the built MLPs.
        loss: builds the loss from ``(actor, critic)`` instead of the config's ``PPOLoss``.
        value_estimator: the estimator stage instead of the config's ``estimator``; its value
            network (and, for V-trace, its actor) become this module's critic (and actor).

    Examples:
        >>> import lightning.pytorch as pl
        >>> model = PPOModule("CartPole", PPOConfig(num_envs=8, rollout_length=16, total_frames=256))
        >>> trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False,
        ...                      enable_model_summary=False, max_epochs=-1)
        >>> trainer.fit(model)
        >>> model.env_frames
        256
    """

    config_class = PPOConfig
    config: PPOConfig
    component_args = ("actor", "critic", "loss", "value_estimator")

    def __init__(
        self,
        env: str = "CartPole",
        config: PPOConfig | None = None,
        env_kwargs: dict | None = None,
        normalize_observations: bool = False,
        actor: nn.Module | None = None,
        critic: nn.Module | None = None,
        loss: LossFactory | None = None,
        value_estimator: ValueEstimator | None = None,
    ) -> None:
        super().__init__(env, config, env_kwargs, normalize_observations)
        self._given = {"actor": actor, "critic": critic, "loss": loss, "value_estimator": value_estimator}
        self.config.refuse_shadowed(**self._given)  # fail at construction, not when fit starts

    def build(self, observation_space: gym.Space, action_space: gym.Space, masked: bool) -> None:
        self.set_parts(build_ppo(observation_space, action_space, self.config, masked=masked, **self._given))

    def learning_rate(self, frames_done: int) -> float | None:
        # ppo_schedules also sets the loss's clip range (anneal_clip)
        lr = ppo_schedules(self.config, self.parts, frames_done)
        return lr if self.config.anneal_lr else None

    def after_update(self) -> None:
        reset_exploration(self.parts.policy)  # a gSDE actor's new noise for the next rollout


class RecurrentPPOModule(ActorCriticModule):
    """Recurrent PPO (LSTM / GRU / block-GRU cores, truncated back-propagation through time)
    trained by the Lightning ``Trainer``: :func:`~rl4py.trainers.train_recurrent_ppo`'s config,
    builder and update body, with everything :class:`PPOModule` does (DDP, exact resume, the CLI).

    Args:
        env: a native env name or a gymnasium id.
        config: the hyperparameters (``num_minibatches`` counts sequences).
        env_kwargs: extra constructor arguments of the env.
        normalize_observations: wrap each rank's env in :class:`~rl4py.envs.ObservationNorm`.
        policy: a :class:`~rl4py.modules.recurrent_actor.RecurrentActorCritic` instead of the built one.
        loss: builds the loss from ``(policy.actor, policy.critic)``.
        value_estimator: the estimator stage instead of the config's ``estimator``.
    """

    config_class = RecurrentPPOConfig
    config: RecurrentPPOConfig
    component_args = ("policy", "loss", "value_estimator")
    keep_time = True

    def __init__(
        self,
        env: str = "CartPole",
        config: RecurrentPPOConfig | None = None,
        env_kwargs: dict | None = None,
        normalize_observations: bool = False,
        policy: nn.Module | None = None,
        loss: LossFactory | None = None,
        value_estimator: ValueEstimator | None = None,
    ) -> None:
        super().__init__(env, config, env_kwargs, normalize_observations)
        self._given = {"policy": policy, "loss": loss, "value_estimator": value_estimator}
        self.config.refuse_shadowed(**self._given)  # fail at construction, not when fit starts

    def build(self, observation_space: gym.Space, action_space: gym.Space, masked: bool) -> None:
        parts = build_recurrent_ppo(observation_space, action_space, self.config, masked=masked, **self._given)
        self.policy = parts.policy  # the recurrent actor-critic: cores, heads, initial state
        self.set_parts(parts)

    @property
    def chunk_length(self) -> int | None:
        return self.config.chunk_length

    def learning_rate(self, frames_done: int) -> float | None:
        lr = ppo_schedules(self.config, self.parts, frames_done)  # also sets the loss's clip range (anneal_clip)
        return lr if self.config.anneal_lr else None
