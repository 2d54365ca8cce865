"""Bookkeeping shared by the plain-loop trainers: episode returns, the solve check, results."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tensordict import TensorDictBase

from rl4py.collectors.sync import finished_episodes

__all__ = ["EpisodeTracker", "ProgressReporter", "TrainResult"]


class EpisodeTracker:
    """Keeps the returns of the last ``window`` finished episodes.

    Args:
        window: episodes in the running mean.
        target_return: the mean that counts as solved (``None``: never solved).
    """

    def __init__(self, window: int = 20, target_return: float | None = None) -> None:
        if window < 1:
            raise ValueError(f"EpisodeTracker: window must be >= 1, got {window}")
        self.window = window
        self.target_return = target_return
        self.recent: deque[float] = deque(maxlen=window)
        self.episodes = 0

    def update(self, rollout: TensorDictBase) -> None:
        """Adds the episodes that ended in ``rollout`` (see :func:`rl4py.finished_episodes`)."""
        returns, _ = finished_episodes(rollout)
        values = returns.tolist()
        self.recent.extend(values)
        self.episodes += len(values)

    @property
    def mean_return(self) -> float:
        """Mean return of the last ``window`` finished episodes (NaN before the first one)."""
        return sum(self.recent) / len(self.recent) if self.recent else float("nan")

    @property
    def solved(self) -> bool:
        """``window`` episodes have finished and their mean reached ``target_return``."""
        return (
            self.target_return is not None
            and len(self.recent) == self.window
            and self.mean_return >= self.target_return
        )


class ProgressReporter:
    """Calls ``progress`` every ``every`` iterations with a dict of measurements, and keeps them.

    Each dict holds ``frames``, ``seconds`` (since ``start``, a ``time.perf_counter()`` value),
    ``steps_per_second``, the trainer's extra numbers, ``mean_return`` and every field of the
    last update's stats (as floats). :attr:`history` lists them for the
    :class:`TrainResult`.

    Args:
        progress: the callback, or ``None`` for no reports.
        every: iterations between reports (>= 1).
        start: the trainer's start time.
    """

    def __init__(self, progress: Callable[[dict], None] | None, every: int, start: float) -> None:
        if progress is not None and every < 1:
            raise ValueError(f"ProgressReporter: progress_every must be >= 1, got {every}")
        self.progress = progress
        self.every = every
        self.start = start
        self.history: list[dict] = []

    def maybe_report(
        self,
        iteration: int,
        frames: int,
        mean_return: float,
        stats: TensorDictBase | None = None,
        **extra: float,
    ) -> None:
        """Reports on iterations that are multiples of ``every`` (when there is a callback)."""
        if self.progress is None or iteration % self.every:
            return
        seconds = time.perf_counter() - self.start
        line = {
            "frames": frames,
            "seconds": seconds,
            "steps_per_second": frames / seconds,
            **extra,
            "mean_return": mean_return,
            **({k: float(v) for k, v in stats.items()} if stats is not None else {}),
        }
        self.history.append(line)
        self.progress(line)


@dataclass
class TrainResult:
    """What a plain-loop trainer measured, and the trained networks."""

    solved: bool
    """``target_return`` was reached."""
    frames: int
    """Env steps collected."""
    seconds: float
    """Wall time from the start of the trainer call."""
    mean_return: float
    """Mean return of the last ``window`` finished episodes (NaN if none finished)."""
    iterations: int
    """Rollouts collected."""
    modules: dict[str, torch.nn.Module]
    """The trained modules by name (``"actor"``, ``"critic"``, ``"loss"``, ...; see each trainer)."""
    history: list[dict] = field(default_factory=list)
    """The dicts passed to ``progress``."""
    updates: int = 0
    """Optimizer steps taken."""

    def module(self, name: str) -> torch.nn.Module:
        """``modules[name]``, with an error listing the names this result holds."""
        if name not in self.modules:
            raise KeyError(f"TrainResult: no module {name!r}; this trainer returned {sorted(self.modules)}")
        return self.modules[name]

    @property
    def actor(self) -> torch.nn.Module:
        """The trained policy."""
        return self.module("actor")

    @property
    def critic(self) -> torch.nn.Module:
        """The trained value network (actor-critic trainers)."""
        return self.module("critic")

    @property
    def loss(self) -> torch.nn.Module:
        """The loss module, where the trainer returns it (DQN: online and target networks)."""
        return self.module("loss")
