"""The Ray actor-learner's learner as a LightningModule: Ray workers act, the Trainer learns.

The rollouts reach ``training_step`` through an ``IterableDataset`` that takes them from the
:class:`~rl4py.actor_learner.WorkerPool` as they finish (the staleness accounting and the drops of
:func:`~rl4py.trainers.train_impala_ray`); the update is the shared body
:func:`~rl4py.trainers.actor_critic_update` with Lightning's optimizer and ``manual_backward``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import torch
from tensordict import TensorDictBase
from torch.utils.data import DataLoader, IterableDataset

from rl4py.actor_learner.stats import ActorLearnerStats
from rl4py.actor_learner.workers import make_worker_env
from rl4py.envs.action_masks import has_action_mask
from rl4py.trainers.actor_critic import actor_critic_update, make_optimizer
from rl4py.trainers.config import lightning_config
from rl4py.trainers.impala import build_impala
from rl4py.trainers.impala_ray import ImpalaRayConfig, _pool_for, _ray_session
from rl4py.trainers.lightning_base import Progress
from rl4py.trainers.tracking import EpisodeTracker

__all__ = ["ImpalaRayModule"]


def _identity(item: TensorDictBase) -> TensorDictBase:
    return item


class _WorkerRollouts(IterableDataset):
    """The learner's batches: worker rollouts as they arrive, stale ones dropped and counted,
    ``rollouts_per_update`` of them concatenated along the env dim."""

    def __init__(self, module: ImpalaRayModule) -> None:
        self.module = module

    def __iter__(self) -> Iterator[TensorDictBase]:
        module = self.module
        module.start_workers()
        config, stats = module.config, module.stats
        batch: list[TensorDictBase] = []
        while True:
            rollout, info = module.pool.next(config.rollout_timeout_s)
            if stats.arrived == 0:
                stats.start()
            module.env_frames += info.frames
            module.tracker.update(rollout)
            if not stats.record_arrival(stats.updates - info.version, info.frames):
                continue
            batch.append(rollout)
            if len(batch) == config.rollouts_per_update:
                yield batch[0] if len(batch) == 1 else torch.cat(batch, dim=0)
                batch = []


class ImpalaRayModule(pl.LightningModule):
    """IMPALA on Ray under a Lightning ``Trainer``: ``num_workers`` Ray rollout workers collect with the
    weights they last pulled; each ``training_step`` is one learner update (V-trace targets, the
    actor-critic loss) on the rollouts that arrived, and every ``broadcast_every`` updates the weights
    are published with a new version.

    Ray starts when training starts (``ray.init(address=config.address)`` unless one runs already) and
    the workers stop when it ends. Logged at x = env steps: the update's ``losses/*``,
    ``charts/episodic_return``, ``charts/env_steps`` and the actor-learner's counters
    (``actor_learner/staleness_mean``, ``dropped``, ``lost_rollouts``, ``worker_restarts``,
    ``learner_utilisation``, ``policy_version``). Stops at ``total_frames`` or ``target_return``.

    One learner process: the module refuses several devices (under DDP every rank would need its own
    workers; use :func:`~rl4py.trainers.train_impala_ray`'s cluster address with one learner).

    Args:
        env: the workers' env name (:func:`~rl4py.envs.make_env`: ``"CartPole-v1"``, ``"CartPole"``).
        config: the hyperparameters (an :class:`~rl4py.trainers.ImpalaRayConfig` or a mapping of its
            fields); leave ``seed`` at its default: ``seed_everything`` seeds the run.
        env_kwargs: extra arguments of ``make_env``.
    """

    def __init__(self, env: str, config: ImpalaRayConfig | dict | None = None, env_kwargs: dict | None = None) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.config = lightning_config(config, ImpalaRayConfig, "ImpalaRayModule")
        self.config.check_minibatches(self.config.num_envs * self.config.rollouts_per_update, "ImpalaRayModule")
        self.save_hyperparameters()
        self.hparams["config"] = dataclasses.asdict(self.config)
        self.env_name = env
        self.env_kwargs = dict(env_kwargs or {})
        self.env_frames = 0
        self.stats = ActorLearnerStats(self.config.max_staleness)
        self.tracker = EpisodeTracker(self.config.window, self.config.target_return)
        self.pool = None
        self.built = False
        self._session = None

    # ----------------------------------------------------------------- build
    def configure_model(self) -> None:
        """Builds the networks, the loss and the value estimator from a one-env probe's spaces."""
        if self.built:
            return
        probe = make_worker_env(self.env_name, 1, self.env_kwargs)
        spaces = probe.single_observation_space, probe.single_action_space
        masked = has_action_mask(probe)
        probe.close()
        self.parts = build_impala(*spaces, self.config, masked=masked)
        self.actor, self.critic, self.loss = self.parts.actor, self.parts.critic, self.parts.loss
        self.value_estimator = self.parts.value_estimator
        self._shuffle = torch.Generator().manual_seed(torch.initial_seed() % 2**63)
        self.built = True

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return make_optimizer(self.loss, self.config)

    # ------------------------------------------------------------ the workers
    def start_workers(self) -> None:
        """Joins or starts Ray and starts the workers with the current weights (once per fit: the
        rollouts' iterator calls it)."""
        if self.pool is not None:
            return
        if self.trainer.world_size > 1:
            raise ValueError(
                "ImpalaRayModule has one learner process (its workers are Ray actors); run it on one device, "
                f"not {self.trainer.world_size}"
            )
        self._session = _ray_session(self.config.address)
        self._session.__enter__()
        self.pool = _pool_for(self.env_name, self.config.replace(device=str(self.device)), self.env_kwargs)
        self.pool.start(self.parts.policy, self.parts.actor.state_dict(), version=self.stats.updates, stats=self.stats)

    def on_train_end(self) -> None:
        self._stop_workers()

    def on_exception(self, exception: BaseException) -> None:
        self._stop_workers()

    def _stop_workers(self) -> None:
        if self.pool is not None:
            self.pool.stop()
            self.pool = None
        if self._session is not None:
            session, self._session = self._session, None
            session.__exit__(None, None, None)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_WorkerRollouts(self), batch_size=None, collate_fn=_identity, generator=torch.Generator())

    # -------------------------------------------------------------- training
    def training_step(self, batch: TensorDictBase, batch_idx: int) -> None:
        began = time.perf_counter()
        stats = actor_critic_update(
            self.parts,
            batch.to(self.device),
            self.optimizers(),
            self.config,
            self._shuffle,
            backward=self.manual_backward,
        )
        self.stats.learner_seconds += time.perf_counter() - began
        self.stats.updates += 1
        if self.stats.updates % self.config.broadcast_every == 0:
            self.pool.publish(self.parts.actor.state_dict(), self.stats.updates)
        metrics = {f"losses/{name}": float(value) for name, value in stats.items()}
        metrics["charts/env_steps"] = float(self.env_frames)
        if self.tracker.recent:
            metrics["charts/episodic_return"] = self.tracker.mean_return
        metrics.update({f"actor_learner/{k}": float(v) for k, v in self.stats.summary().items()})
        for logger in self.loggers:
            logger.log_metrics(metrics, step=self.env_frames)
        self.trainer.callback_metrics.update({k: torch.tensor(v) for k, v in metrics.items()})
        self.trainer.progress_bar_metrics.update(
            {k: metrics[k] for k in ("charts/episodic_return", "actor_learner/staleness_mean") if k in metrics}
        )
        if self.env_frames >= self.config.total_frames or self.tracker.solved:
            self.trainer.should_stop = True

    # ---------------------------------------------- what rl4py's callbacks read
    @property
    def global_env_frames(self) -> int:
        """Env steps of every rollout that reached the learner."""
        return self.env_frames

    @property
    def mean_recent_return(self) -> float:
        """Mean return of the last ``window`` finished episodes (NaN before the first)."""
        return self.tracker.mean_return

    def progress(self) -> Progress:
        """Env steps done and the budget, for the progress bar."""
        return Progress(self.env_frames, self.config.total_frames, "env steps")

    # ------------------------------------------------------------ checkpoint
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        cls = type(self)
        checkpoint["rl4py"] = {
            "module": f"{cls.__module__}.{cls.__qualname__}",
            "ranks": [{"env_frames": self.env_frames, "recent_returns": list(self.tracker.recent), "collector": None}],
            "updates": self.stats.updates,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restores the weights' version and the frame count (the workers start anew: their envs and
        in-flight rollouts are not part of a checkpoint, as in any actor-learner)."""
        self.configure_model()
        saved = checkpoint.get("rl4py", {})
        self.stats.updates = int(saved.get("updates", 0))
        ranks = saved.get("ranks", [{}])
        self.env_frames = int(ranks[0].get("env_frames", 0))
