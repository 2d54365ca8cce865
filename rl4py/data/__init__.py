"""Replay buffers: preallocated (or memory-mapped) FIFO storage with uniform, prioritized or slice sampling."""

from rl4py.data.replay_buffer import INDEX, WEIGHT, ReplayBuffer
from rl4py.data.samplers import PrioritizedSampler, RandomSampler, Sampler
from rl4py.data.slice_sampler import SliceSampler
from rl4py.data.storages import MemmapStorage, TensorStorage

__all__ = [
    "INDEX",
    "WEIGHT",
    "MemmapStorage",
    "PrioritizedSampler",
    "RandomSampler",
    "ReplayBuffer",
    "Sampler",
    "SliceSampler",
    "TensorStorage",
]
