"""PPO as a LightningModule: one rollout per training step, epochs x minibatches inside the step."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial

import torch
from tensordict.nn import TensorDictModuleBase

from rl4py.collectors.sync import SyncCollector
from rl4py.envs.action_masks import has_action_mask
from rl4py.envs.factory import make_env
from rl4py.losses.common import LossModule
from rl4py.losses.ppo import PPOLoss
from rl4py.modules.actor_critic import make_actor_critic
from rl4py.modules.actors import ProbabilisticActor
from rl4py.trainers.lightning_base import RolloutDataset, RolloutModule, should_log
from rl4py.trainers.updates import minibatch_update, num_threads
from rl4py.values.base import ValueEstimator
from rl4py.values.gae import GAE

__all__ = ["PPOModule", "RolloutDataset"]

LossFactory = Callable[[ProbabilisticActor, TensorDictModuleBase], LossModule]


def _linear_decay(rollouts_done: int, total: int) -> float:
    """CleanRL's annealing factor ``1 - done / total`` (floored at 0)."""
    return max(0.0, 1.0 - rollouts_done / total)


class PPOModule(RolloutModule):
    """PPO trained by the Lightning ``Trainer`` (CPU or GPUs, one or many processes with DDP).

    Every component is a constructor argument, so ``LightningCLI`` (``rl4py fit``) swaps it from
    YAML or the command line: ``--model.loss.init_args.dual_clip 3.0``,
    ``--model.value_estimator.class_path rl4py.values.VTrace``. Each training step collects one
    rollout and runs ``epochs`` x ``num_minibatches`` optimizer steps (manual optimization, one
    ``manual_backward`` per minibatch, so DDP all-reduces every minibatch's gradients). The
    Trainer's ``max_steps`` counts optimizer steps.

    Each rank owns its env and collector, seeded ``seed + 1000 * rank``; episode returns go
    through torchmetrics (``MeanMetric``/``MaxMetric``) so the logged values are reduced across
    ranks. Checkpoints hold the networks, the optimizer, the env and collector state, the global
    env-step counter and the RNG states, so a resumed run continues exactly.

    Args:
        env: a native env name or a gymnasium id (see :func:`rl4py.envs.make_env`).
        num_envs: sub-envs per rank.
        env_kwargs: extra constructor arguments of the env.
        rollout_length: steps per sub-env per rollout.
        num_cells: hidden sizes of the actor and of the critic.
        loss: builds the loss from ``(actor, critic)``; default :class:`~rl4py.losses.PPOLoss`.
        value_estimator: the estimator stage (default ``GAE(0.99, 0.95)``); its value network (and,
            for V-trace, its actor) are set to this module's critic (and actor).
        lr: Adam learning rate.
        adam_eps: Adam epsilon.
        epochs: passes over each rollout.
        num_minibatches: minibatches per pass.
        max_grad_norm: global gradient-norm clip (``None``: off).
        anneal_lr: decay the learning rate linearly to 0 over the Trainer's ``max_steps`` (CleanRL's
            schedule, one step per rollout; the scheduler state is in the checkpoint).
        normalize_observations: wrap each rank's env in :class:`~rl4py.envs.ObservationNorm`
            (its running statistics are in the checkpoint).
        update_threads: torch threads during the update (``None``: unchanged).
        target_return: stop training once the mean return of the last 20 episodes (this rank's)
            reaches it; ``None`` trains until ``max_steps``.
        seed: base seed of the networks, the sampling and the envs.
    """

    def __init__(
        self,
        env: str = "CartPole",
        num_envs: int = 32,
        env_kwargs: dict | None = None,
        rollout_length: int = 32,
        num_cells: Sequence[int] = (64, 64),
        loss: LossFactory = PPOLoss,
        value_estimator: ValueEstimator | None = None,
        lr: float = 2.5e-4,
        adam_eps: float = 1e-5,
        epochs: int = 4,
        num_minibatches: int = 4,
        max_grad_norm: float | None = 0.5,
        anneal_lr: bool = False,
        normalize_observations: bool = False,
        update_threads: int | None = None,
        target_return: float | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["loss", "value_estimator"])
        if epochs < 1 or num_minibatches < 1:
            raise ValueError(f"PPOModule: epochs and num_minibatches must be >= 1, got {epochs}, {num_minibatches}")
        if (num_envs * rollout_length) % num_minibatches:
            raise ValueError(
                f"PPOModule: num_envs * rollout_length = {num_envs * rollout_length} does not split into "
                f"num_minibatches={num_minibatches} equal minibatches"
            )
        torch.manual_seed(seed)
        probe = make_env(env, num_envs=1, **(env_kwargs or {}))
        self.actor, self.critic = make_actor_critic(
            probe.single_observation_space,
            probe.single_action_space,
            num_cells,
            masked=has_action_mask(probe),
        )
        probe.close()
        self.loss = loss(self.actor, self.critic)
        self.value_estimator = value_estimator if value_estimator is not None else GAE(0.99, 0.95)
        self.value_estimator.value_network = self.critic
        if hasattr(self.value_estimator, "actor") and self.value_estimator.actor is None:
            self.value_estimator.actor = self.actor
        self._shuffle = torch.Generator()

    # ------------------------------------------------------------------ data
    def setup(self, stage: str) -> None:
        if self.collector is not None:
            return
        hp = self.hparams
        self.collector = SyncCollector(
            self.make_rank_env(), self.actor, hp.rollout_length, seed=self.rank_seed, return_same_td=True
        )
        self._shuffle = torch.Generator(device=self.device).manual_seed(self.rank_seed)
        torch.manual_seed(self.rank_seed)  # this rank's action sampling

    def configure_optimizers(self) -> torch.optim.Optimizer | dict:
        hp = self.hparams
        optimizer = torch.optim.Adam(self.loss.parameters(), lr=hp.lr, eps=hp.adam_eps, fused=True)
        if not hp.anneal_lr:
            return optimizer
        max_steps = self.trainer.max_steps
        if max_steps is None or max_steps < 1:
            raise ValueError(
                f"PPOModule: anneal_lr=True decays the learning rate over the Trainer's max_steps; "
                f"set max_steps >= 1 (got {max_steps})"
            )
        # Lightning stops after the training step that reaches max_steps: whole rollouts, rounded up
        rollouts = math.ceil(max_steps / (hp.epochs * hp.num_minibatches))
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, partial(_linear_decay, total=rollouts))
        return {"optimizer": optimizer, "lr_scheduler": schedule}

    # -------------------------------------------------------------- training
    def training_step(self, dataloader_iter: Iterator) -> None:
        hp = self.hparams
        start = time.perf_counter()
        rollout = self.next_rollout(dataloader_iter)
        with num_threads(hp.update_threads):
            self.value_estimator(rollout)
            stats = minibatch_update(
                self.loss,
                self.optimizers(),
                rollout,
                epochs=hp.epochs,
                num_minibatches=hp.num_minibatches,
                max_grad_norm=hp.max_grad_norm,
                generator=self._shuffle,
                backward=self.manual_backward,  # under DDP: all-reduces every minibatch's gradients
            )
        if hp.anneal_lr:
            self.lr_schedulers().step()  # manual optimization: Lightning does not step it
        if should_log(self.trainer):
            log = partial(self.log, on_step=True, on_epoch=False, batch_size=self.collector.frames_per_rollout)
            for key, value in stats.items():
                log(f"losses/{key}", value)
            self.log_common(log)
            log("charts/SPS", self.collector.frames_per_rollout / (time.perf_counter() - start), prog_bar=True)
        self.stop_at_target()

    # ------------------------------------------------------------ checkpoint
    def extra_checkpoint_state(self) -> dict:
        return {"shuffle_rng": self._shuffle.get_state()}

    def load_extra_checkpoint_state(self, state: dict) -> None:
        self._shuffle.set_state(state["shuffle_rng"])
