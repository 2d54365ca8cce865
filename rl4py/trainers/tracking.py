"""Bookkeeping shared by the plain-loop trainers: episode returns, the solve check, results."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import torch
from tensordict import TensorDictBase

from rl4py.collectors.sync import finished_episodes

__all__ = ["EpisodeTracker", "TrainResult"]


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
