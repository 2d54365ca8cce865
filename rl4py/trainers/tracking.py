"""Bookkeeping shared by the plain-loop trainers: episode returns, the solve check, results."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

import torch
from tensordict import TensorDictBase

from rl4py.collectors.sync import finished_episodes, finished_head_returns
from rl4py.loggers.base import Logger
from rl4py.loggers.names import progress_metrics, stat_key

__all__ = ["EpisodeTracker", "ProgressLine", "ProgressReporter", "TrainResult"]


class EpisodeTracker:
    """Keeps the returns and lengths of the last ``window`` finished episodes.

    For an env with ``K > 1`` reward heads the returns are the sums over the heads (what
    :class:`~rl4py.envs.EpisodeStats` writes as ``"episode_return"``, and what ``target_return``
    compares with); :attr:`mean_head_returns` keeps each head's mean.

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
        self.recent_lengths: deque[int] = deque(maxlen=window)
        #: per-head returns of the last ``window`` episodes (envs with several reward heads)
        self.recent_heads: deque[tuple[float, ...]] = deque(maxlen=window)
        self.episodes = 0

    def update(self, rollout: TensorDictBase) -> None:
        """Adds the episodes that ended in ``rollout`` (see :func:`rl4py.finished_episodes`)."""
        returns, lengths = finished_episodes(rollout)
        values = returns.tolist()
        self.recent.extend(values)
        self.recent_lengths.extend(lengths.tolist())
        heads = finished_head_returns(rollout)
        if heads is not None:
            self.recent_heads.extend(tuple(row) for row in heads.tolist())
        self.episodes += len(values)

    @property
    def mean_head_returns(self) -> tuple[float, ...] | None:
        """Each reward head's mean return over the last ``window`` episodes (``None`` for a one-head
        env or before the first episode)."""
        if not self.recent_heads:
            return None
        n = len(self.recent_heads)
        return tuple(sum(col) / n for col in zip(*self.recent_heads))

    @property
    def mean_return(self) -> float:
        """Mean return of the last ``window`` finished episodes (NaN before the first one)."""
        return sum(self.recent) / len(self.recent) if self.recent else float("nan")

    @property
    def max_return(self) -> float:
        """Best return among the last ``window`` finished episodes (NaN before the first one)."""
        return max(self.recent) if self.recent else float("nan")

    @property
    def mean_length(self) -> float:
        """Mean length in env steps of the last ``window`` finished episodes (NaN before the first one)."""
        return sum(self.recent_lengths) / len(self.recent_lengths) if self.recent_lengths else float("nan")

    @property
    def solved(self) -> bool:
        """``window`` episodes have finished and their mean reached ``target_return``."""
        return (
            self.target_return is not None
            and len(self.recent) == self.window
            and self.mean_return >= self.target_return
        )


def _cell(value: float | None, width: int, digits: int = 4) -> str:
    """``value`` right-aligned in ``width`` columns: ``digits`` significant digits, ``-`` for NaN or missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-".rjust(width)
    if isinstance(value, int) or (math.isfinite(value) and value == int(value) and abs(value) < 10**digits):
        return str(int(value)).rjust(width)
    return f"{value:.{digits}g}".rjust(width)


class ProgressLine(dict):
    """One progress record: a ``dict`` whose ``str`` is a readable fixed-column console line.

    ``print(line)`` (``progress=print``) shows, for example::

        env steps     32768  steps/s    5120  mean return    187.5  lr    0.00025  policy_loss   -0.01234  ...

    env steps, steps per second (whole numbers), the mean return (``-`` until an episode has
    finished), the trainer's extras (``updates``, ``epsilon``, ``lr``) and every stats field under its
    :func:`~rl4py.loggers.names.stat_key` name (without ``losses/``), each with 4 significant digits
    in a fixed width, so that successive lines line up.

    Args:
        record: the measurements.
        stat_fields: which keys are the update's stats fields.
    """

    _HEAD = ("frames", "seconds", "steps_per_second", "mean_return", "max_return", "mean_length")
    _LABELS: ClassVar[dict[str, str]] = {"learning_rate": "lr"}

    def __init__(self, record: dict, stat_fields: frozenset[str] = frozenset()) -> None:
        super().__init__(record)
        self.stat_fields = frozenset(stat_fields)

    def __str__(self) -> str:
        sps = self.get("steps_per_second")
        cells = [
            f"env steps {_cell(self.get('frames'), 9)}",
            f"steps/s {_cell(None if sps is None else round(sps), 7)}",
            f"mean return {_cell(self.get('mean_return', float('nan')), 8)}",
        ]
        for key, value in self.items():
            if key in self._HEAD:
                continue
            label = stat_key(key).removeprefix("losses/") if key in self.stat_fields else self._LABELS.get(key, key)
            cells.append(f"{label} {_cell(value, 10)}")
        return "  ".join(cells)


#: what a plain loop reports to: a callable taking the record, an rl4py :class:`~rl4py.loggers.Logger`,
#: or a Lightning logger (anything with ``log_metrics(metrics, step)``: ``lightning.fabric.loggers.CSVLogger``, ...)
Progress = Union[Callable[[ProgressLine], None], Logger, Any]


class ProgressReporter:
    """Reports a plain loop's measurements every ``every`` iterations, and keeps them.

    Each record (a :class:`ProgressLine`) holds ``frames``, ``seconds`` (since ``start``, a
    ``time.perf_counter()`` value), ``steps_per_second``, the trainer's extra numbers, ``mean_return``
    (with an :class:`EpisodeTracker`, also ``max_return``, ``mean_length`` and, for an env with
    several reward heads, ``mean_return_head{h}``) and every field of the last update's stats (as
    floats). :attr:`history` lists them for the :class:`TrainResult`.

    ``progress`` receives them as follows:

    - a callable is called with the record (``print`` writes a readable line, see :class:`ProgressLine`);
    - an rl4py :class:`~rl4py.loggers.Logger` gets ``log_scalars(progress_metrics(record), step=frames)``;
    - a Lightning logger (``lightning.fabric.loggers.TensorBoardLogger``, ``CSVLogger``,
      ``lightning.pytorch.loggers.WandbLogger``, ...) gets ``log_metrics(progress_metrics(record), step=frames)``.

    The metrics carry the names the LightningModules log (:mod:`rl4py.loggers.names`). :meth:`finish`
    flushes a logger (the caller still closes it).

    Args:
        progress: where to report, or ``None`` for no reports.
        every: iterations between reports (>= 1).
        start: the trainer's start time.
    """

    def __init__(self, progress: Progress | None, every: int, start: float) -> None:
        if progress is not None and every < 1:
            raise ValueError(f"ProgressReporter: progress_every must be >= 1, got {every}")
        if not (progress is None or isinstance(progress, Logger) or hasattr(progress, "log_metrics")) and not callable(
            progress
        ):
            raise TypeError(
                f"ProgressReporter: progress must be a callable, an rl4py Logger or a Lightning logger, "
                f"got {type(progress).__name__}"
            )
        self.progress = progress
        self.every = every
        self.start = start
        self.history: list[ProgressLine] = []

    def maybe_report(
        self,
        iteration: int,
        frames: int,
        mean_return: float | EpisodeTracker,
        stats: TensorDictBase | None = None,
        **extra: float,
    ) -> None:
        """Reports on iterations that are multiples of ``every`` (when there is a callback).

        Args:
            iteration: the loop's iteration (from 1).
            frames: env steps so far.
            mean_return: the recent mean return, or the :class:`EpisodeTracker` to read it (and
                ``max_return``, ``mean_length``) from.
            stats: the last update's stats (scalar fields).
            **extra: further numbers (``learning_rate``, ``epsilon``, ``updates``).
        """
        if self.progress is None or iteration % self.every:
            return
        seconds = time.perf_counter() - self.start
        if isinstance(mean_return, EpisodeTracker):
            episodes = {
                "mean_return": mean_return.mean_return,
                "max_return": mean_return.max_return,
                "mean_length": mean_return.mean_length,
            }
            for h, value in enumerate(mean_return.mean_head_returns or ()):
                episodes[f"mean_return_head{h}"] = value
        else:
            episodes = {"mean_return": mean_return}
        fields = {k: float(v) for k, v in stats.items()} if stats is not None else {}
        line = ProgressLine(
            {"frames": frames, "seconds": seconds, "steps_per_second": frames / seconds, **extra, **episodes, **fields},
            stat_fields=frozenset(fields),
        )
        self.history.append(line)
        if isinstance(self.progress, Logger):
            self.progress.log_scalars(progress_metrics(line, line.stat_fields), frames)
        elif hasattr(self.progress, "log_metrics"):
            self.progress.log_metrics(progress_metrics(line, line.stat_fields), step=frames)
        else:
            self.progress(line)

    def finish(self) -> None:
        """Flushes a logger (``flush()``; a Lightning logger's ``save()``); the caller closes it."""
        if isinstance(self.progress, Logger):
            self.progress.flush()
        elif hasattr(self.progress, "log_metrics"):
            self.progress.save()


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
    """The progress records (:class:`ProgressLine`, dicts), one per report."""
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
