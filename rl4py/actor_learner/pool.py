"""The rollout workers as Ray actors: requests in flight (the bounded queue), weight broadcast,
and the supervision that replaces a dead worker and counts the work it took with it."""

from __future__ import annotations

import logging
from typing import Any, Literal

import torch
from tensordict import TensorDictBase
from torch import nn

from rl4py.actor_learner.inference import InferenceServer, RemotePolicy
from rl4py.actor_learner.stats import ActorLearnerStats
from rl4py.actor_learner.workers import EnvSpec, RolloutInfo, RolloutWorker, pack_tensors, unpack_rollout

__all__ = ["WorkerPool"]

_log = logging.getLogger("rl4py.actor_learner")

#: seeds of worker ``i``'s ``k``-th incarnation: ``seed + SEED_STRIDE * (i + 1) + RESTART_STRIDE * k``
SEED_STRIDE = 1000
RESTART_STRIDE = 100_003


class WorkerPool:
    """``num_workers`` :class:`RolloutWorker` Ray actors feeding one learner.

    **Bounded queue, backpressure.** Each worker has ``in_flight`` rollout requests outstanding
    (sent once it has started); a finished rollout waits in Ray's object store until the learner takes it
    (:meth:`next`), which sends the worker a new request. So at most ``num_workers * in_flight``
    rollouts exist ahead of the learner, and a worker whose requests are all done waits: when the
    learner is behind, acting slows to its pace instead of piling up stale data.

    **Weights.** :meth:`publish` puts the learner's weights in the object store once
    (``ray.put``) with a version number; every later request carries the reference, and a worker
    fetches the object only when the version is newer than its own (with ``inference="central"``
    the inference server loads it instead). Each step of a rollout is stamped with the version
    that chose its action (``"policy_version"``).

    **Supervision.** A worker that dies (a crash, a lost node, ``ray.kill``) is replaced by a new
    actor in the same slot (reseeded, so it does not replay its predecessor's episodes); the
    requests that were in flight on it are counted as lost in :attr:`stats`
    (:class:`~rl4py.actor_learner.ActorLearnerStats`, ``restarts`` and ``lost_rollouts``) and logged
    on the ``rl4py.actor_learner`` logger. After ``max_restarts`` replacements a further death raises.

    The pool needs a running Ray (``ray.init()`` on one machine, ``ray.init(address=...)`` on a
    cluster: the same code). Every process must be able to import rl4py.

    Args:
        env: the workers' env (see :data:`~rl4py.actor_learner.EnvSpec`).
        num_workers: rollout workers (Ray actors).
        num_envs: sub-envs per worker.
        rollout_length: steps per sub-env per rollout T.
        seed: base seed (worker ``i`` uses ``seed + 1000 * (i + 1)``, plus 100003 per restart).
        in_flight: rollout requests outstanding per worker (>= 1).
        max_restarts: worker replacements allowed over the run.
        num_cpus: Ray CPUs reserved per worker.
        threads: torch threads per worker process.
        env_kwargs: extra arguments of :func:`~rl4py.envs.make_env` (with an env name).
        inference: ``"worker"`` (each worker runs its policy copy) or ``"central"`` (an
            :class:`~rl4py.actor_learner.InferenceServer` answers all workers; SEED RL).
        inference_device: the server's device (the learner's).
        inference_wait_s: the server's longest wait for a batch to fill.
        inference_num_cpus, inference_num_gpus: Ray resources reserved for the server.
    """

    def __init__(
        self,
        env: EnvSpec,
        num_workers: int = 2,
        num_envs: int = 8,
        rollout_length: int = 32,
        *,
        seed: int = 0,
        in_flight: int = 2,
        max_restarts: int = 3,
        num_cpus: float = 1.0,
        threads: int | None = 1,
        env_kwargs: dict[str, Any] | None = None,
        inference: Literal["worker", "central"] = "worker",
        inference_device: str = "cpu",
        inference_wait_s: float = 0.002,
        inference_num_cpus: float = 1.0,
        inference_num_gpus: float = 0.0,
    ) -> None:
        for name, value, low in (
            ("num_workers", num_workers, 1),
            ("num_envs", num_envs, 1),
            ("rollout_length", rollout_length, 1),
            ("in_flight", in_flight, 1),
            ("max_restarts", max_restarts, 0),
        ):
            if value < low:
                raise ValueError(f"WorkerPool: {name} must be >= {low}, got {value}")
        for name, value in (("num_cpus", num_cpus), ("inference_num_cpus", inference_num_cpus)):
            if value < 0:
                raise ValueError(f"WorkerPool: {name} must be >= 0, got {value}")
        if inference not in ("worker", "central"):
            raise ValueError(f"WorkerPool: inference must be 'worker' or 'central', got {inference!r}")
        self.env = env
        self.num_workers = num_workers
        self.num_envs = num_envs
        self.rollout_length = rollout_length
        self.seed = seed
        self.in_flight = in_flight
        self.max_restarts = max_restarts
        self.num_cpus = num_cpus
        self.threads = threads
        self.env_kwargs = env_kwargs
        self.inference = inference
        self.inference_device = inference_device
        self.inference_wait_s = inference_wait_s
        self.inference_num_cpus = inference_num_cpus
        self.inference_num_gpus = inference_num_gpus
        self.handles: list[Any] = []
        """The workers' Ray actor handles, by slot (a replaced worker's slot holds the new one)."""
        self.server: Any = None
        """The inference server's actor handle (``inference="central"``), else ``None``."""
        self.stats = ActorLearnerStats()
        self.version = 0
        """The version of the last published weights."""
        self.incarnations: list[int] = []
        self._requests: dict[Any, int] = {}
        self._starting: dict[Any, int] = {}  # a new worker's readiness ping -> its slot
        self._weights: Any = None
        self._policy: nn.Module | None = None
        self._worker_class: Any = None

    @property
    def frames_per_rollout(self) -> int:
        """Env steps in one worker rollout (``num_envs * rollout_length``)."""
        return self.num_envs * self.rollout_length

    @property
    def started(self) -> bool:
        """:meth:`start` ran and :meth:`stop` did not since."""
        return bool(self.handles)

    @property
    def requests_per_worker(self) -> list[int]:
        """Rollout requests outstanding per slot: ``in_flight`` for a running worker, 0 while it
        starts (its requests go out once it answers a first ping)."""
        counts = [0] * len(self.handles)
        for slot in self._requests.values():
            counts[slot] += 1
        return counts

    @property
    def starting_workers(self) -> list[int]:
        """The slots whose worker has not answered its first ping yet."""
        return sorted(self._starting.values())

    def start(
        self,
        policy: nn.Module,
        weights: dict[str, torch.Tensor] | None = None,
        version: int = 0,
        stats: ActorLearnerStats | None = None,
    ) -> None:
        """Starts the workers (and the inference server) and sends each its first requests.

        Args:
            policy: the policy each worker (or the server) copies; moved to the CPU.
            weights: the first weights to publish (``None``: ``policy``'s own).
            version: their version.
            stats: where restarts and lost work are counted (``None``: a fresh
                :class:`~rl4py.actor_learner.ActorLearnerStats`).

        Raises:
            RuntimeError: Ray is not initialised, or the pool is already started.
        """
        import ray

        if not ray.is_initialized():
            raise RuntimeError(
                "WorkerPool: Ray is not running; call ray.init() (one machine) or ray.init(address=...) "
                "(a cluster) first"
            )
        if self.started:
            raise RuntimeError("WorkerPool: already started; stop() it first")
        if stats is not None:
            self.stats = stats
        self._policy = policy.to("cpu")
        if self.inference == "central":
            server_class = ray.remote(InferenceServer).options(
                num_cpus=self.inference_num_cpus, num_gpus=self.inference_num_gpus, max_restarts=0
            )
            self.server = server_class.remote(
                self._policy,
                device=self.inference_device,
                max_batch=self.num_workers,
                max_wait_s=self.inference_wait_s,
                seed=self.seed,
                threads=self.threads,
            )
        self.publish(weights if weights is not None else self._policy.state_dict(), version)
        self._worker_class = ray.remote(RolloutWorker).options(num_cpus=self.num_cpus, max_restarts=0)
        self.handles = [None] * self.num_workers
        self.incarnations = [0] * self.num_workers
        for slot in range(self.num_workers):
            self._spawn(slot)

    def worker_seed(self, slot: int) -> int:
        """The seed of the worker now in ``slot`` (changes with each restart)."""
        return self.seed + SEED_STRIDE * (slot + 1) + RESTART_STRIDE * self.incarnations[slot]

    def _spawn(self, slot: int) -> None:
        policy = RemotePolicy(self.server) if self.inference == "central" else self._policy
        self.handles[slot] = self._worker_class.remote(
            self.env,
            self.num_envs,
            policy,
            self.rollout_length,
            seed=self.worker_seed(slot),
            index=slot,
            threads=self.threads,
            env_kwargs=self.env_kwargs,
        )
        # requests go out once the worker is up (its env built), so the first ones carry the
        # weights of that moment, not those of the spawn a few seconds earlier
        self._starting[self.handles[slot].ping.remote()] = slot

    def _request(self, slot: int) -> None:
        ref = self.handles[slot].rollout_packed.remote(self.version, [self._weights])
        self._requests[ref] = slot

    def publish(self, state_dict: dict[str, torch.Tensor], version: int) -> None:
        """Broadcasts the learner's weights as ``version``: one ``ray.put``; the workers pull it
        with their next request (the inference server is sent it at once)."""
        import ray

        if version < self.version:
            raise ValueError(f"WorkerPool: version {version} is older than the published {self.version}")
        self._weights = ray.put(pack_tensors(state_dict))
        self.version = version
        self.stats.broadcasts += 1
        if self.server is not None:
            self.server.set_weights.remote(version, [self._weights])

    def next(self, timeout_s: float | None = None) -> tuple[TensorDictBase, RolloutInfo]:
        """The next finished rollout from any worker; that worker gets a new request.

        A dead worker is replaced on the way (see the class docstring).

        Raises:
            RuntimeError: the pool is not started, or a worker died after ``max_restarts`` replacements.
            TimeoutError: no rollout finished within ``timeout_s``.
            ray.exceptions.RayTaskError: a worker's rollout raised (an env or policy error).
        """
        import ray
        from ray.exceptions import ActorUnavailableError, RayActorError

        if not self.started:
            raise RuntimeError("WorkerPool: not started; call start(policy) first")
        while True:
            ready, _ = ray.wait([*self._starting, *self._requests], num_returns=1, timeout=timeout_s)
            if not ready:
                raise TimeoutError(
                    f"WorkerPool: no rollout finished within {timeout_s} s ({self.num_workers} workers, "
                    f"{len(self._starting)} starting, {len(self._requests)} requests in flight); are the workers "
                    "scheduled (Ray CPUs free)?"
                )
            ref = ready[0]
            starting = ref in self._starting
            slot = self._starting.pop(ref) if starting else self._requests.pop(ref)
            try:
                result = ray.get(ref)
            except (RayActorError, ActorUnavailableError) as error:
                self._replace(slot, error, lost=0 if starting else 1)
                continue
            if starting:
                for _ in range(self.in_flight):
                    self._request(slot)
                continue
            packed, info = result
            self._request(slot)
            return unpack_rollout(packed), info

    def _replace(self, slot: int, error: Exception, lost: int) -> None:
        """Replaces the dead worker in ``slot``; ``lost``: its requests already taken off the queue."""
        import ray

        others = [ref for ref, s in self._requests.items() if s == slot]
        for ref in others:
            del self._requests[ref]
        for ref in [ref for ref, s in self._starting.items() if s == slot]:
            del self._starting[ref]
        reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        if self.stats.worker_restarts >= self.max_restarts:
            raise RuntimeError(
                f"WorkerPool: worker {slot} died and the run already replaced {self.stats.worker_restarts} workers "
                f"(max_restarts={self.max_restarts}): {reason}"
            ) from error
        event = self.stats.record_restart(slot, len(others) + lost, reason)
        _log.warning(
            "worker %d died (%s); %d rollout request(s) lost; replacing it (restart %d of at most %d)",
            slot,
            reason,
            event.lost_rollouts,
            self.stats.worker_restarts,
            self.max_restarts,
        )
        ray.kill(self.handles[slot], no_restart=True)
        self.incarnations[slot] += 1
        self._spawn(slot)

    def server_stats(self) -> dict[str, float] | None:
        """The inference server's batching counters (``inference="central"``), else ``None``."""
        if self.server is None:
            return None
        import ray

        return ray.get(self.server.stats.remote())

    def stop(self) -> None:
        """Kills the workers and the server; the pool can be started again."""
        import ray

        for handle in [*self.handles, self.server]:
            if handle is not None:
                ray.kill(handle, no_restart=True)
        self.handles = []
        self.server = None
        self._requests.clear()
        self._starting.clear()
        self._weights = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.stop()
