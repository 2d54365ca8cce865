"""The IMPALA-style (V-trace) actor-critic as a LightningModule: the config, builder and update body
of :mod:`rl4py.trainers.impala`."""

from __future__ import annotations

import gymnasium as gym
from torch import nn

from rl4py.envs.base import EnvBase
from rl4py.trainers.actor_critic import LossFactory
from rl4py.trainers.impala import BehaviourLag, ImpalaConfig, build_impala
from rl4py.trainers.lightning_actor_critic import ActorCriticModule
from rl4py.values.base import ValueEstimator

__all__ = ["ImpalaModule"]


class ImpalaModule(ActorCriticModule):
    """An actor-critic trained off stale rollouts with V-trace, by the Lightning ``Trainer``.

    Each training step: the behaviour actor (the learner's weights from ``config.policy_lag``
    updates ago, as when actors run ahead of a remote learner) collects one rollout; the value
    estimator (default :class:`~rl4py.values.VTrace`) writes value targets and advantages; with
    ``config.upgo``, :class:`~rl4py.values.UPGO` adds ``"upgo_advantage"``; the loss (default
    :class:`~rl4py.losses.ActorCriticLoss`) runs ``epochs`` x ``num_minibatches`` optimizer steps
    with ``manual_backward`` — :func:`~rl4py.trainers.train_impala`'s update body.

    Swaps work from the CLI as for :class:`~rl4py.trainers.PPOModule`:
    ``--model.value_estimator.init_args.rho_bar 2.0``, ``--model.config.upgo true``.
    Checkpoints hold the learner, the behaviour actor and the learner snapshots it will load
    next, the optimizer, the env and collector state, the counters and the RNG states, so a
    resumed run continues exactly.

    Args:
        env: a native env name or a gymnasium id (see :func:`rl4py.envs.make_env`).
        config: the hyperparameters (``num_envs`` is per rank).
        env_kwargs: extra constructor arguments of the env.
        normalize_observations: wrap each rank's env in :class:`~rl4py.envs.ObservationNorm`.
        actor, critic: networks to train instead of the built MLPs.
        loss: builds the loss from ``(actor, critic)`` instead of ``ActorCriticLoss``.
        value_estimator: the estimator stage instead of V-trace; its value network (and target
            actor) become this module's critic (and learner actor).
    """

    config_class = ImpalaConfig
    config: ImpalaConfig
    component_args = ("actor", "critic", "loss", "value_estimator")

    def __init__(
        self,
        env: str = "CartPole",
        config: ImpalaConfig | None = None,
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
        parts = build_impala(observation_space, action_space, self.config, masked=masked, **self._given)
        self.set_parts(parts)
        # a submodule, so the behaviour weights are in the state dict; no gradients reach it
        self.behaviour = parts.policy
        self.lag = BehaviourLag(self.actor, self.behaviour, self.config.policy_lag)

    @property
    def upgo(self) -> nn.Module | None:
        """The UPGO stage (``config.upgo``), or ``None``."""
        return self.parts.estimators[1] if len(self.parts.estimators) > 1 else None

    def on_collector_built(self, env: EnvBase) -> None:
        super().on_collector_built(env)
        self.lag.restart()  # the learner as the run starts (weights loaded before fit count)

    def after_update(self) -> None:
        self.lag.after_update()

    # ------------------------------------------------------------ checkpoint
    def extra_checkpoint_state(self) -> dict:
        return {**super().extra_checkpoint_state(), **self.lag.state_dict()}

    def load_extra_checkpoint_state(self, state: dict) -> None:
        super().load_extra_checkpoint_state(state)
        self.lag.load_state_dict(state, device=self.device)
