"""Helpers shared by the benchmark scripts: JSON-lines output, medians, SB3's solve check."""

from __future__ import annotations

import json
import statistics
import time
from collections import deque


def emit(record: dict) -> None:
    """Prints one JSON line."""
    print(json.dumps(record), flush=True)


def median_or_none(values: list) -> float | None:
    """Median where ``None`` (an unsolved run) counts as infinitely slow; ``None`` if that is the median."""
    ordered = sorted(float("inf") if v is None else v for v in values)
    m = statistics.median(ordered)
    return None if m == float("inf") else m


def sb3_solve_callback(start: float, target: float, window: int, cap_seconds: float):
    """An SB3 callback that stops when the mean of the last ``window`` episodes reaches ``target``
    (``solved_at = (seconds, env steps)``) or after ``cap_seconds``; tracks the best running mean."""
    from stable_baselines3.common.callbacks import BaseCallback

    class SolveCallback(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.recent: deque[float] = deque(maxlen=window)
            self.solved_at: tuple[float, int] | None = None
            self.best_mean = float("-inf")

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.recent.append(info["episode"]["r"])
                    if len(self.recent) == window:
                        self.best_mean = max(self.best_mean, sum(self.recent) / window)
            if len(self.recent) == window and sum(self.recent) / window >= target:
                self.solved_at = (time.perf_counter() - start, self.num_timesteps)
                return False
            return time.perf_counter() - start < cap_seconds

    return SolveCallback()
