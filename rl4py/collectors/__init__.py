"""Collectors: run a policy on a batched env and yield rollouts as TensorDicts ``[B, T]``."""

from rl4py.collectors.recurrent_state import RecurrentState, is_recurrent
from rl4py.collectors.sync import SyncCollector, finished_episodes, finished_head_returns

__all__ = ["RecurrentState", "SyncCollector", "finished_episodes", "finished_head_returns", "is_recurrent"]
