"""Collectors: run a policy on a batched env and yield rollouts as TensorDicts ``[B, T]``."""

from rl4py.collectors.recurrent_state import RecurrentState, is_recurrent
from rl4py.collectors.sync import SyncCollector, finished_episodes

__all__ = ["RecurrentState", "SyncCollector", "finished_episodes", "is_recurrent"]
