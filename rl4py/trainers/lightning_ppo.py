"""PPO as a LightningModule: one rollout per training step, epochs x minibatches inside the step."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from functools import partial

import torch

from rl4py.losses.ppo import PPOLoss
from rl4py.trainers.lightning_actor_critic import ActorCriticModule, LossFactory
from rl4py.trainers.lightning_base import RolloutDataset
from rl4py.trainers.updates import num_threads
from rl4py.values.base import ValueEstimator
from rl4py.values.gae import GAE

__all__ = ["PPOModule", "RolloutDataset"]


def _linear_decay(rollouts_done: int, total: int) -> float:
    """CleanRL's annealing factor ``1 - done / total`` (floored at 0)."""
    return max(0.0, 1.0 - rollouts_done / total)


class PPOModule(ActorCriticModule):
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
        self.build(loss, value_estimator, default=lambda: GAE(0.99, 0.95))

    def configure_optimizers(self) -> torch.optim.Optimizer | dict:
        optimizer = super().configure_optimizers()
        hp = self.hparams
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

    def training_step(self, dataloader_iter: Iterator) -> None:
        start = time.perf_counter()
        rollout = self.next_rollout(dataloader_iter)
        with num_threads(self.hparams.update_threads):
            self.value_estimator(rollout)
            stats = self.update(rollout)
        if self.hparams.anneal_lr:
            self.lr_schedulers().step()  # manual optimization: Lightning does not step it
        self.log_update(stats, start)
        self.stop_at_target()
