"""What the actor-critic LightningModules (PPO, recurrent PPO, IMPALA) share: the components a
builder makes for the env, the optimizer, and the training step around the shared update body
:func:`~rl4py.trainers.actor_critic.actor_critic_update`."""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch
from tensordict import TensorDictBase
from torch import nn

from rl4py.envs.base import EnvBase
from rl4py.loggers.names import LEARNING_RATE
from rl4py.trainers.actor_critic import ActorCriticConfig, ActorCriticParts, actor_critic_update, make_optimizer
from rl4py.trainers.lightning_base import RolloutModule

__all__ = ["ActorCriticModule"]


class ActorCriticModule(RolloutModule):
    """Base of :class:`~rl4py.trainers.PPOModule`, :class:`~rl4py.trainers.RecurrentPPOModule` and
    :class:`~rl4py.trainers.ImpalaModule`.

    A subclass's :meth:`build` calls its algorithm's builder and hands the parts to
    :meth:`set_parts`, which registers ``actor``, ``critic``, ``loss`` and ``value_estimator`` as
    submodules. Each training step: one rollout, :meth:`learning_rate`, the update body,
    :meth:`after_update`, logging, the stop rules.
    """

    config: ActorCriticConfig
    #: minibatches of whole sequences (recurrent policies)
    keep_time: bool = False

    def set_parts(self, parts: ActorCriticParts) -> None:
        """Keeps the built parts and registers the networks, the loss and the estimator stages."""
        self.parts = parts
        self.actor = parts.actor
        self.critic = parts.critic
        self.loss = parts.loss
        self.value_estimator = parts.value_estimator
        # the other stages (UPGO after the value estimator, an intrinsic reward before it): checkpointed and moved too
        self.estimator_stages = nn.ModuleList(s for s in parts.estimators if s is not self.value_estimator)

    def collection_policy(self) -> nn.Module:
        return self.parts.policy

    def on_collector_built(self, env: EnvBase) -> None:
        sequence = (self.chunk_length or self.config.rollout_length) if self.keep_time else 1
        self.config.check_minibatches(env.num_envs, type(self).__name__, sequence)
        # a CPU generator (permutations move to the device): its state resumes on any device
        self._shuffle = torch.Generator().manual_seed(self.rank_seed)

    @property
    def optimizer_steps_per_rollout(self) -> int:
        return self.config.epochs * self.config.num_minibatches

    @property
    def chunk_length(self) -> int | None:
        """Truncated-BPTT chunk length (recurrent modules)."""
        return None

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return make_optimizer(self.loss, self.config)

    def learning_rate(self, frames_done: int) -> float | None:
        """The learning rate of the next update given the env steps (all ranks) before its rollout;
        ``None`` leaves it."""
        return None

    def after_update(self) -> None:
        """Called after each update (IMPALA moves its behaviour policy)."""

    # -------------------------------------------------------------- training
    def training_step(self, dataloader_iter: Iterator) -> None:
        start = time.perf_counter()
        rollout = self.next_rollout(dataloader_iter)
        optimizer = self.optimizers()
        lr = self.learning_rate(self.global_env_frames - self.collector.frames_per_rollout * self.trainer.world_size)
        if lr is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr
        stats = self.update(rollout)
        self.after_update()
        frames = self.collector.frames_per_rollout * self.trainer.world_size
        self.log_metrics(
            stats,
            {"charts/SPS": frames / (time.perf_counter() - start), LEARNING_RATE: optimizer.param_groups[0]["lr"]},
        )
        self.stop_if_done()

    def update(self, rollout: TensorDictBase) -> TensorDictBase:
        """The update body on one rollout (``manual_backward``: under DDP, every minibatch's
        gradients are all-reduced)."""
        return actor_critic_update(
            self.parts,
            rollout,
            self.optimizers(),
            self.config,
            self._shuffle,
            backward=self.backward_pass,
            keep_time=self.keep_time,
            chunk_length=self.chunk_length,
        )

    # ------------------------------------------------------------ checkpoint
    def extra_checkpoint_state(self) -> dict:
        return {"shuffle_rng": self._shuffle.get_state()}

    def load_extra_checkpoint_state(self, state: dict) -> None:
        self._shuffle.set_state(state["shuffle_rng"])
