"""Distributed helpers for plain loops: gradient sync over ``torch.distributed`` (Lightning does DDP itself)."""

from rl4py.distributed.gradient_sync import GradientSync, LocalSync, TorchDistributedSync, sync_gradients

__all__ = ["GradientSync", "LocalSync", "TorchDistributedSync", "sync_gradients"]
