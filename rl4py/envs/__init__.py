"""Batched environments with a TensorDict interface: native torch envs, the gymnasium adapter, wrappers."""

from rl4py.envs.base import EnvBase, EnvStep, check_finite
from rl4py.envs.cartpole import CartPole
from rl4py.envs.gym_adapter import GymEnv
from rl4py.envs.wrappers import EnvWrapper, EpisodeStats, ObservationNorm, RewardClip, find_wrapper

__all__ = [
    "CartPole",
    "EnvBase",
    "EnvStep",
    "EnvWrapper",
    "EpisodeStats",
    "GymEnv",
    "ObservationNorm",
    "RewardClip",
    "check_finite",
    "find_wrapper",
]
