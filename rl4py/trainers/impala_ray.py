"""IMPALA as an asynchronous actor-learner on Ray: rollout workers (Ray actors, each with its env and
a policy copy) act while this process learns with V-trace. Its defaults table is
:class:`ImpalaRayConfig` (an :class:`~rl4py.trainers.ImpalaConfig` with the workers' fields), its
builder :func:`~rl4py.trainers.build_impala`, its update body
:func:`~rl4py.trainers.actor_critic_update`, its plain loop :func:`train_impala_ray`. The Ray side
(workers, the bounded request queue, weight broadcast, dead-worker replacement, centralized
inference) is :mod:`rl4py.actor_learner`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from tensordict import TensorDictBase
from torch import nn

from rl4py.actor_learner.pool import WorkerPool
from rl4py.actor_learner.stats import ActorLearnerStats
from rl4py.actor_learner.workers import EnvSpec, make_worker_env
from rl4py.envs.action_masks import has_action_mask
from rl4py.trainers.actor_critic import LossFactory, actor_critic_update, make_optimizer
from rl4py.trainers.config import _at_least
from rl4py.trainers.impala import ImpalaConfig, build_impala
from rl4py.trainers.tracking import EpisodeTracker, Progress, ProgressReporter, TrainResult
from rl4py.values.base import ValueEstimator

__all__ = ["ActorLearnerResult", "ImpalaRayConfig", "train_impala_ray"]


@dataclass(frozen=True)
class ImpalaRayConfig(ImpalaConfig):
    """The V-trace actor-critic with real remote actors: ``num_workers`` Ray workers of ``num_envs``
    sub-envs each collect while the learner updates; V-trace corrects for the rollouts' staleness.

    Frames count the env steps of every rollout that reached the learner (dropped ones included);
    rollouts lost with a dead worker never arrive and are not counted."""

    num_envs: int = 8
    """Sub-envs per worker."""
    num_workers: int = 2
    """Rollout workers (Ray actors)."""
    policy_lag: int = 0
    """Unused here (the workers' lag is real, see ``max_staleness``); must stay 0."""
    broadcast_every: int = 1
    """Learner updates between weight broadcasts (K): one ``ray.put`` each, pulled by the workers."""
    max_staleness: int | None = 16
    """Drop (and count) rollouts more than this many learner updates behind; ``None`` keeps all."""
    in_flight: int = 2
    """Rollout requests outstanding per worker: the queue ahead of the learner holds at most
    ``num_workers * in_flight`` rollouts, and a worker waits when its requests are all done."""
    rollouts_per_update: int = 1
    """Worker rollouts concatenated (along the env dim) into one learner batch."""
    max_restarts: int = 3
    """Dead workers replaced over the run before a further death raises."""
    num_cpus_per_worker: float = 1.0
    """Ray CPUs reserved per worker (and for the central inference server)."""
    worker_threads: int | None = 1
    """torch threads in each worker process (``None``: Ray's default)."""
    inference: str = "worker"
    """``"worker"``: each worker runs its policy copy; ``"central"``: one batched inference actor on
    the learner's device answers every worker's steps (SEED RL)."""
    inference_wait_ms: float = 2.0
    """Longest wait of the central inference server for a batch to fill."""
    address: str | None = None
    """Ray cluster to join (``"auto"``, ``"ray://host:10001"``, ...); ``None`` starts Ray on this
    machine. Ignored when Ray is already initialised. The same code runs either way."""
    device: str = "cpu"
    """The learner's device (and the central inference server's)."""
    rollout_timeout_s: float = 300.0
    """Longest wait for any worker's rollout before the run fails."""

    SHADOWED_BY = {
        **ImpalaConfig.SHADOWED_BY,
        ("workers",): (
            "num_workers",
            "in_flight",
            "max_restarts",
            "num_cpus_per_worker",
            "worker_threads",
            "inference",
            "inference_wait_ms",
        ),
    }

    def check(self) -> None:
        super().check()
        if self.policy_lag != 0:
            raise ValueError(
                f"ImpalaRayConfig: policy_lag must be 0, got {self.policy_lag}: the workers' lag is real here; "
                "bound it with max_staleness"
            )
        for name in ("num_workers", "broadcast_every", "in_flight", "rollouts_per_update"):
            _at_least(self, name, 1)
        _at_least(self, "max_restarts", 0)
        _at_least(self, "num_cpus_per_worker", 0)
        _at_least(self, "inference_wait_ms", 0)
        if self.max_staleness is not None:
            _at_least(self, "max_staleness", 0)
        if self.worker_threads is not None:
            _at_least(self, "worker_threads", 1)
        if self.rollout_timeout_s <= 0:
            raise ValueError(f"ImpalaRayConfig: rollout_timeout_s must be > 0, got {self.rollout_timeout_s}")
        if self.inference not in ("worker", "central"):
            raise ValueError(f"ImpalaRayConfig: inference must be 'worker' or 'central', got {self.inference!r}")


@dataclass
class ActorLearnerResult(TrainResult):
    """A :class:`~rl4py.trainers.TrainResult` with the actor-learner's counters."""

    stats: ActorLearnerStats = field(default_factory=ActorLearnerStats)
    """Staleness histogram, dropped and lost rollouts, worker restarts, learner time."""
    inference_stats: dict[str, float] | None = None
    """The central inference server's batching counters (``inference="central"``), else ``None``."""


@contextlib.contextmanager
def _ray_session(address: str | None = None, **init_kwargs: Any) -> Iterator[None]:
    """Uses the running Ray, or starts one (``ray.init(address=address, **init_kwargs)``) and
    shuts it down on exit.

    Raises:
        ImportError: Ray is not installed (``pip install "rl4py[ray]"``).
    """
    try:
        import ray
    except ImportError as error:
        raise ImportError('the actor-learner needs Ray: pip install "rl4py[ray]" (or "ray>=2.40")') from error
    if ray.is_initialized():
        yield
        return
    ray.init(address=address, **init_kwargs)
    try:
        yield
    finally:
        ray.shutdown()


def _pool_for(env: EnvSpec, config: ImpalaRayConfig, env_kwargs: dict | None) -> WorkerPool:
    cuda = torch.device(config.device).type == "cuda"
    return WorkerPool(
        env,
        config.num_workers,
        config.num_envs,
        config.rollout_length,
        seed=config.seed,
        in_flight=config.in_flight,
        max_restarts=config.max_restarts,
        num_cpus=config.num_cpus_per_worker,
        threads=config.worker_threads,
        env_kwargs=env_kwargs,
        inference=config.inference,
        inference_device=config.device,
        inference_wait_s=config.inference_wait_ms / 1000,
        inference_num_cpus=config.num_cpus_per_worker,
        inference_num_gpus=0.5 if cuda else 0.0,
    )


def train_impala_ray(
    env: EnvSpec,
    config: ImpalaRayConfig | None = None,
    progress: Progress | None = None,
    progress_every: int = 10,
    *,
    env_kwargs: dict[str, Any] | None = None,
    actor: nn.Module | None = None,
    critic: nn.Module | None = None,
    loss: LossFactory | None = None,
    value_estimator: ValueEstimator | None = None,
    workers: WorkerPool | None = None,
    on_update: Callable[[TensorDictBase, int], object] | None = None,
) -> ActorLearnerResult:
    """Trains an actor-critic with V-trace while Ray workers collect with the weights they last pulled.

    This process is the learner: it takes rollouts as they finish (:meth:`WorkerPool.next`),
    counts each one's staleness (learner updates since the weights that collected it; more than
    ``max_staleness`` behind: dropped and counted), runs the update body
    :func:`~rl4py.trainers.actor_critic_update` (V-trace targets with the learner's policy, then
    the loss), and every ``broadcast_every`` updates publishes its weights with the new version.
    Pass ``loss=functools.partial(PPOLoss, dual_clip=3.0)`` (and ``epochs > 1``) for PPO's clipped
    objective on V-trace advantages instead of the actor-critic loss.

    Ray: a running Ray is used as is; otherwise ``ray.init(address=config.address)`` starts one on
    this machine or joins a cluster, and is shut down at the end.

    Each progress record holds, besides the usual fields, the learner's ``updates`` (optimizer
    steps) and :meth:`~rl4py.actor_learner.ActorLearnerStats.summary` (``policy_version``,
    ``staleness_mean``, ``staleness_max``, ``staleness_<k>``, ``dropped``, ``lost_rollouts``,
    ``worker_restarts``, ``learner_utilisation``).

    Args:
        env: the workers' env: a name for :func:`~rl4py.envs.make_env` (``"CartPole-v1"``) or a
            picklable factory ``num_envs -> EnvBase`` (built once here too, for its spaces).
        config: hyperparameters.
        progress, progress_every: where to report and the period in learner updates (see
            :class:`~rl4py.trainers.ProgressReporter`).
        env_kwargs: extra arguments of ``make_env`` (with an env name).
        actor, critic, loss, value_estimator: components replacing the built ones (:func:`build_impala`).
        workers: a :class:`~rl4py.actor_learner.WorkerPool` (not started) instead of the one built
            from the config's worker fields; its ``num_envs`` and ``rollout_length`` must match
            the config's. It is stopped at the end.
        on_update: called after each update with its stats and the env frames so far.

    Returns:
        An :class:`ActorLearnerResult` with modules ``actor`` and ``critic`` and the run's
        :class:`~rl4py.actor_learner.ActorLearnerStats`.

    Raises:
        ValueError: a bad config, or ``workers`` whose env or sizes differ from ``env`` and the config.
        RuntimeError: a worker died after ``max_restarts`` replacements.
        TimeoutError: no rollout arrived within ``rollout_timeout_s``.
    """
    config = config or ImpalaRayConfig()
    if not isinstance(config, ImpalaRayConfig):
        raise TypeError(f"train_impala_ray: config must be an ImpalaRayConfig, got {type(config).__name__}")
    start = time.perf_counter()
    config.refuse_shadowed(actor=actor, critic=critic, loss=loss, value_estimator=value_estimator)
    config.refuse_shadowed(workers=workers)
    if workers is not None:
        _check_pool(workers, env, config)
    config.check_minibatches(config.num_envs * config.rollouts_per_update, "train_impala_ray")
    probe = make_worker_env(env, 1, env_kwargs)
    spaces = probe.single_observation_space, probe.single_action_space
    masked = has_action_mask(probe)
    probe.close()
    device = torch.device(config.device)
    torch.manual_seed(config.seed)  # network init
    parts = build_impala(
        *spaces, config, masked=masked, actor=actor, critic=critic, loss=loss, value_estimator=value_estimator
    )
    for module in (parts.loss, *parts.estimators):
        module.to(device)
    optimizer = make_optimizer(parts.loss, config)
    shuffle = torch.Generator(device=device).manual_seed(config.seed)
    tracker = EpisodeTracker(config.window, config.target_return)
    reporter = ProgressReporter(progress, progress_every, start)
    stats = ActorLearnerStats(config.max_staleness)
    pool = workers if workers is not None else _pool_for(env, config, env_kwargs)
    frames = optimizer_steps = 0
    batch: list[TensorDictBase] = []
    with _ray_session(config.address):
        pool.start(parts.policy, parts.actor.state_dict(), version=0, stats=stats)
        try:
            while frames < config.total_frames:
                rollout, info = pool.next(config.rollout_timeout_s)
                if stats.arrived == 0:
                    stats.start()  # utilisation counts from the first rollout, not the workers' start-up
                frames += info.frames
                tracker.update(rollout)
                if tracker.solved:
                    stats.record_arrival(stats.updates - info.version, info.frames)
                    break
                if not stats.record_arrival(stats.updates - info.version, info.frames):
                    continue
                batch.append(rollout)
                if len(batch) < config.rollouts_per_update:
                    continue
                data = (batch[0] if len(batch) == 1 else torch.cat(batch, dim=0)).to(device)
                batch = []
                began = time.perf_counter()
                update_stats = actor_critic_update(parts, data, optimizer, config, shuffle)
                stats.learner_seconds += time.perf_counter() - began
                stats.updates += 1
                optimizer_steps += config.epochs * config.num_minibatches
                if stats.updates % config.broadcast_every == 0:
                    pool.publish(parts.actor.state_dict(), stats.updates)
                if on_update is not None:
                    on_update(update_stats, frames)
                reporter.maybe_report(
                    stats.updates, frames, tracker, update_stats, updates=optimizer_steps, **stats.summary()
                )
            inference_stats = pool.server_stats()
        finally:
            pool.stop()
    reporter.finish()
    parts.policy.load_state_dict(parts.actor.state_dict())
    return ActorLearnerResult(
        solved=tracker.solved,
        frames=frames,
        seconds=time.perf_counter() - start,
        mean_return=tracker.mean_return,
        iterations=stats.updates,
        updates=optimizer_steps,
        modules={"actor": parts.actor, "critic": parts.critic},
        history=reporter.history,
        stats=stats,
        inference_stats=inference_stats,
    )


def _check_pool(pool: WorkerPool, env: EnvSpec, config: ImpalaRayConfig) -> None:
    if not isinstance(pool, WorkerPool):
        raise TypeError(f"train_impala_ray: workers must be a WorkerPool, got {type(pool).__name__}")
    if pool.started:
        raise ValueError("train_impala_ray: the WorkerPool is already started; pass a fresh (or stopped) one")
    if not (pool.env is env or pool.env == env):
        raise ValueError(f"train_impala_ray: env {env!r} differs from the WorkerPool's env {pool.env!r}")
    for name in ("num_envs", "rollout_length"):
        if getattr(pool, name) != getattr(config, name):
            raise ValueError(
                f"train_impala_ray: the WorkerPool has {name}={getattr(pool, name)}, the config "
                f"{name}={getattr(config, name)}; the learner's batches need them equal"
            )
