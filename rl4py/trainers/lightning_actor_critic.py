"""What the actor-critic LightningModules (PPO, IMPALA) share: the networks built for the env, a
loss and a value estimator wired to them, and the epochs x minibatches update of each rollout."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torch import nn

from rl4py.collectors.sync import SyncCollector
from rl4py.envs.action_masks import has_action_mask
from rl4py.envs.factory import make_env
from rl4py.losses.common import LossModule
from rl4py.modules.actor_critic import make_actor_critic
from rl4py.modules.actors import ProbabilisticActor
from rl4py.trainers.lightning_base import RolloutModule, should_log
from rl4py.trainers.updates import minibatch_update
from rl4py.values.base import ValueEstimator

__all__ = ["ActorCriticModule", "LossFactory"]

LossFactory = Callable[[ProbabilisticActor, TensorDictModuleBase], LossModule]


class ActorCriticModule(RolloutModule):
    """Base of :class:`~rl4py.trainers.PPOModule` and :class:`~rl4py.trainers.ImpalaModule`.

    A subclass saves its hyperparameters (``env``, ``env_kwargs``, ``num_envs``,
    ``rollout_length``, ``num_cells``, ``lr``, ``adam_eps``, ``epochs``, ``num_minibatches``,
    ``max_grad_norm``, ``seed``, ...) and calls :meth:`build`; it may override
    :meth:`collection_policy` (IMPALA collects with a lagging copy of the actor).
    """

    def build(
        self, loss: LossFactory, value_estimator: ValueEstimator | None, default: Callable[[], ValueEstimator]
    ) -> None:
        """Checks the update settings, builds ``actor`` and ``critic`` for the env (seeded by
        ``seed``), the loss from them, and hands the value estimator (``default()`` if ``None``)
        the critic and, if it takes one and has none, the actor."""
        hp = self.hparams
        name = type(self).__name__
        if hp.epochs < 1 or hp.num_minibatches < 1:
            raise ValueError(f"{name}: epochs and num_minibatches must be >= 1, got {hp.epochs}, {hp.num_minibatches}")
        samples = hp.num_envs * hp.rollout_length
        if samples % hp.num_minibatches:
            raise ValueError(
                f"{name}: num_envs * rollout_length = {samples} does not split into "
                f"num_minibatches={hp.num_minibatches} equal minibatches"
            )
        torch.manual_seed(hp.seed)
        probe = make_env(hp.env, num_envs=1, **(hp.env_kwargs or {}))
        self.actor, self.critic = make_actor_critic(
            probe.single_observation_space,
            probe.single_action_space,
            hp.num_cells,
            masked=has_action_mask(probe),
        )
        probe.close()
        self.loss = loss(self.actor, self.critic)
        self.value_estimator = value_estimator if value_estimator is not None else default()
        self.value_estimator.value_network = self.critic
        if hasattr(self.value_estimator, "actor") and self.value_estimator.actor is None:
            self.value_estimator.actor = self.actor
        self._shuffle = torch.Generator()

    def collection_policy(self) -> nn.Module:
        """The policy the collector runs (the actor)."""
        return self.actor

    # ------------------------------------------------------------------ data
    def setup(self, stage: str) -> None:
        if self.collector is not None:
            return
        hp = self.hparams
        self.collector = SyncCollector(
            self.make_rank_env(), self.collection_policy(), hp.rollout_length, seed=self.rank_seed, return_same_td=True
        )
        # a CPU generator (permutations move to the device): its state resumes on any device
        self._shuffle = torch.Generator().manual_seed(self.rank_seed)
        torch.manual_seed(self.rank_seed)  # this rank's action sampling

    def configure_optimizers(self) -> torch.optim.Optimizer | dict:
        hp = self.hparams
        return torch.optim.Adam(self.loss.parameters(), lr=hp.lr, eps=hp.adam_eps, fused=True)

    # -------------------------------------------------------------- training
    def update(self, rollout: TensorDictBase) -> TensorDictBase:
        """``epochs`` x ``num_minibatches`` optimizer steps on ``rollout`` (advantages written);
        returns the loss outputs averaged over the minibatches."""
        hp = self.hparams
        return minibatch_update(
            self.loss,
            self.optimizers(),
            rollout,
            epochs=hp.epochs,
            num_minibatches=hp.num_minibatches,
            max_grad_norm=hp.max_grad_norm,
            generator=self._shuffle,
            backward=self.manual_backward,  # under DDP: all-reduces every minibatch's gradients
        )

    def log_update(self, stats: TensorDictBase, start: float) -> None:
        """On logging steps: every loss output, the episode metrics, env steps and steps/s since ``start``."""
        if not should_log(self.trainer):
            return
        frames = self.collector.frames_per_rollout
        log = partial(self.log, on_step=True, on_epoch=False, batch_size=frames)
        for key, value in stats.items():
            log(f"losses/{key}", value)
        self.log_common(log)
        log("charts/SPS", frames * self.trainer.world_size / (time.perf_counter() - start), prog_bar=True)

    # ------------------------------------------------------------ checkpoint
    def extra_checkpoint_state(self) -> dict:
        return {"shuffle_rng": self._shuffle.get_state()}

    def load_extra_checkpoint_state(self, state: dict) -> None:
        self._shuffle.set_state(state["shuffle_rng"])
