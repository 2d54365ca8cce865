"""Batched environments with a TensorDict interface: native torch envs, the gymnasium adapter, wrappers."""

from rl4py.envs.acrobot import Acrobot
from rl4py.envs.action_masks import check_masked_action, has_action_mask, mask_size, random_allowed_action
from rl4py.envs.base import EnvBase, EnvStep, check_finite
from rl4py.envs.cartpole import CartPole
from rl4py.envs.factory import NATIVE_ENVS, make_env
from rl4py.envs.gridworld import CORRIDOR_LAYOUT, GridWorld
from rl4py.envs.gym_adapter import GymEnv
from rl4py.envs.heroes import HERO_TYPES, HeroLane, HeroType, hero_compositions
from rl4py.envs.mountain_car import MountainCar, MountainCarContinuous
from rl4py.envs.multi_agent import CRITIC_INPUTS, MultiAgentEnv, agents_to_batch, check_agent_spaces
from rl4py.envs.multi_discrete import MultiDiscreteTarget
from rl4py.envs.pendulum import Pendulum
from rl4py.envs.pettingzoo_adapter import PettingZooEnv
from rl4py.envs.pixels import PixelObservation
from rl4py.envs.rendering import draw_cartpole, draw_gridworld
from rl4py.envs.rendezvous import Rendezvous
from rl4py.envs.reward_shaping import EXTRINSIC_REWARD, CountBonus, PotentialShaping
from rl4py.envs.vector_env import NativeVectorEnv
from rl4py.envs.vmas_adapter import VmasEnv
from rl4py.envs.wrappers import (
    EnvWrapper,
    EpisodeStats,
    FrozenObservationNorm,
    NormalizeReward,
    ObservationNorm,
    RewardClip,
    find_wrapper,
)

__all__ = [
    "CORRIDOR_LAYOUT",
    "CRITIC_INPUTS",
    "EXTRINSIC_REWARD",
    "HERO_TYPES",
    "NATIVE_ENVS",
    "Acrobot",
    "CartPole",
    "CountBonus",
    "EnvBase",
    "EnvStep",
    "EnvWrapper",
    "EpisodeStats",
    "FrozenObservationNorm",
    "GridWorld",
    "GymEnv",
    "HeroLane",
    "HeroType",
    "MountainCar",
    "MountainCarContinuous",
    "MultiAgentEnv",
    "MultiDiscreteTarget",
    "NativeVectorEnv",
    "NormalizeReward",
    "ObservationNorm",
    "Pendulum",
    "PettingZooEnv",
    "PixelObservation",
    "PotentialShaping",
    "Rendezvous",
    "RewardClip",
    "VmasEnv",
    "agents_to_batch",
    "check_agent_spaces",
    "check_finite",
    "check_masked_action",
    "draw_cartpole",
    "draw_gridworld",
    "find_wrapper",
    "has_action_mask",
    "hero_compositions",
    "make_env",
    "mask_size",
    "random_allowed_action",
]
