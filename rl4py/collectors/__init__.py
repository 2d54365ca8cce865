"""Collectors: run a policy on a batched env and yield rollouts as TensorDicts ``[B, T]``."""

from rl4py.collectors.sync import SyncCollector, finished_episodes

__all__ = ["SyncCollector", "finished_episodes"]
