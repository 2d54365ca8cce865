"""What an actor-learner run counts: the staleness of every rollout the learner received, the
rollouts it dropped, the work lost to dead workers, and the fraction of wall time spent learning."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["ActorLearnerStats", "WorkerRestart"]


@dataclass(frozen=True)
class WorkerRestart:
    """One dead worker replaced by a fresh one."""

    worker: int
    """The worker's slot (0 .. ``num_workers - 1``)."""
    lost_rollouts: int
    """Rollout requests in flight on the dead worker: their env steps never reached the learner."""
    reason: str
    """The error the learner saw (Ray's ``ActorDiedError`` text, shortened)."""


@dataclass
class ActorLearnerStats:
    """Counters of an asynchronous actor-learner run, updated by the learner loop.

    The staleness of a rollout is the number of learner updates between the weights that
    collected it and the learner's weights when it arrives (its oldest step's ``"policy_version"``
    subtracted from the learner's version). Every arrival lands in :attr:`staleness_histogram`;
    those more than ``max_staleness`` updates behind are dropped (counted in :attr:`dropped`,
    never learned from), so ``accepted + dropped == arrived == sum(staleness_histogram.values())``.

    Args:
        max_staleness: drop rollouts more than this many updates behind (``None``: keep all).

    Examples:
        >>> stats = ActorLearnerStats(max_staleness=2)
        >>> [stats.record_arrival(s) for s in (0, 1, 3)]
        [True, True, False]
        >>> stats.arrived, stats.accepted, stats.dropped, dict(stats.staleness_histogram)
        (3, 2, 1, {0: 1, 1: 1, 3: 1})
    """

    max_staleness: int | None = None
    staleness_histogram: Counter = field(default_factory=Counter)
    """Arrived rollouts by staleness (learner updates behind)."""
    accepted: int = 0
    """Rollouts learned from."""
    dropped: int = 0
    """Rollouts that arrived more than ``max_staleness`` updates behind and were discarded."""
    dropped_frames: int = 0
    """Env steps in the dropped rollouts."""
    lost_rollouts: int = 0
    """Rollout requests that died with their worker."""
    restarts: list[WorkerRestart] = field(default_factory=list)
    """Every worker replacement, in order."""
    updates: int = 0
    """Learner updates (the policy version: one per batch learned from)."""
    broadcasts: int = 0
    """Weight broadcasts to the workers (``ray.put`` once each)."""
    learner_seconds: float = 0.0
    """Wall time inside the update body."""
    started: float = field(default_factory=time.perf_counter)
    """``time.perf_counter()`` when the learner loop started (:meth:`start` resets it)."""

    def __post_init__(self) -> None:
        if self.max_staleness is not None and self.max_staleness < 0:
            raise ValueError(f"ActorLearnerStats: max_staleness must be >= 0 or None, got {self.max_staleness}")

    def start(self) -> None:
        """Marks the start of the learner loop (the utilisation's denominator counts from here)."""
        self.started = time.perf_counter()

    @property
    def arrived(self) -> int:
        """Rollouts that reached the learner (accepted or dropped)."""
        return sum(self.staleness_histogram.values())

    @property
    def worker_restarts(self) -> int:
        """Workers replaced after dying."""
        return len(self.restarts)

    def record_arrival(self, staleness: int, frames: int = 0) -> bool:
        """Counts one arriving rollout ``staleness`` updates behind (of ``frames`` env steps);
        returns whether the learner keeps it.

        Raises:
            ValueError: a negative staleness (a rollout from weights the learner has not made yet).
        """
        if staleness < 0:
            raise ValueError(
                f"ActorLearnerStats: a rollout {staleness} updates behind is from the future; the policy versions "
                "stamped by the workers must not exceed the learner's"
            )
        self.staleness_histogram[staleness] += 1
        if self.max_staleness is not None and staleness > self.max_staleness:
            self.dropped += 1
            self.dropped_frames += frames
            return False
        self.accepted += 1
        return True

    def record_restart(self, worker: int, lost_rollouts: int, reason: str) -> WorkerRestart:
        """Counts a dead worker's replacement and the ``lost_rollouts`` it took with it."""
        event = WorkerRestart(worker, lost_rollouts, reason)
        self.restarts.append(event)
        self.lost_rollouts += lost_rollouts
        return event

    @property
    def mean_staleness(self) -> float:
        """Mean staleness over the arrived rollouts (NaN before the first)."""
        n = self.arrived
        return sum(s * c for s, c in self.staleness_histogram.items()) / n if n else float("nan")

    @property
    def max_seen_staleness(self) -> int:
        """The largest staleness seen (0 before the first arrival)."""
        return max(self.staleness_histogram, default=0)

    @property
    def learner_utilisation(self) -> float:
        """Fraction of the wall time since :meth:`start` spent in learner updates."""
        elapsed = time.perf_counter() - self.started
        return self.learner_seconds / elapsed if elapsed > 0 else 0.0

    def summary(self) -> dict[str, float]:
        """The counters as flat numbers, for a progress record: ``policy_version``, ``staleness_mean``,
        ``staleness_max``, ``staleness_<k>`` (arrivals ``k`` behind, for ``k`` from 0 to the largest
        seen), ``dropped``, ``lost_rollouts``, ``worker_restarts``, ``learner_utilisation``."""
        out = {
            "policy_version": float(self.updates),
            "staleness_mean": self.mean_staleness,
            "staleness_max": float(self.max_seen_staleness),
        }
        for k in range(self.max_seen_staleness + 1):
            out[f"staleness_{k}"] = float(self.staleness_histogram.get(k, 0))
        out.update(
            dropped=float(self.dropped),
            lost_rollouts=float(self.lost_rollouts),
            worker_restarts=float(self.worker_restarts),
            learner_utilisation=self.learner_utilisation,
        )
        return out
