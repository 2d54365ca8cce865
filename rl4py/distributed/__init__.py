"""Distributed helpers for plain loops: gradient sync over ``torch.distributed`` (Lightning does DDP
itself), and a check that every process was started with the same settings."""

from rl4py.distributed.consistency import check_same_settings, settings_differences
from rl4py.distributed.gradient_sync import GradientSync, LocalSync, TorchDistributedSync, sync_gradients

__all__ = [
    "GradientSync",
    "LocalSync",
    "TorchDistributedSync",
    "check_same_settings",
    "settings_differences",
    "sync_gradients",
]
