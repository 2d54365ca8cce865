"""Batched environments with a TensorDict interface: native torch envs, the gymnasium adapter, wrappers."""

from rl4py.envs.acrobot import Acrobot
from rl4py.envs.action_masks import check_masked_action, has_action_mask, mask_size, random_allowed_action
from rl4py.envs.base import EnvBase, EnvStep, check_finite
from rl4py.envs.cartpole import CartPole
from rl4py.envs.coin_corridor import CoinCorridor
from rl4py.envs.deep_sea import DeepSea
from rl4py.envs.factory import NATIVE_ENVS, make_env
from rl4py.envs.gridworld import CORRIDOR_LAYOUT, GridWorld
from rl4py.envs.gym_adapter import GymEnv
from rl4py.envs.heroes import HERO_TYPES, HeroLane, HeroType, hero_compositions
from rl4py.envs.hidden_opponent import OPPONENT, OPPONENT_STYLE, HiddenOpponent
from rl4py.envs.left_right import LeftRight, left_side_fraction
from rl4py.envs.mountain_car import MountainCar, MountainCarContinuous
from rl4py.envs.multi_agent import CRITIC_INPUTS, MultiAgentEnv, agents_to_batch, check_agent_spaces
from rl4py.envs.multi_discrete import MultiDiscreteTarget
from rl4py.envs.pendulum import Pendulum
from rl4py.envs.pettingzoo_adapter import PettingZooEnv
from rl4py.envs.pixels import PixelObservation
from rl4py.envs.rendering import draw_cartpole, draw_gridworld
from rl4py.envs.rendezvous import Rendezvous
from rl4py.envs.reward_shaping import EXTRINSIC_REWARD, CountBonus, PotentialShaping, VisitCounts, grid_cells
from rl4py.envs.vector_env import NativeVectorEnv
from rl4py.envs.vmas_adapter import VmasEnv
from rl4py.envs.wrappers import (
    EnvWrapper,
    EpisodeStats,
    FrozenObservationNorm,
    NormalizeReward,
    ObservationNorm,
    RewardClip,
    SumRewardHeads,
    find_wrapper,
    require_one_reward_head,
)
from rl4py.envs.z_conditioning import PSEUDO_REWARD, Z_STATISTICS, ZConditioning, z_pseudo_reward

__all__ = [
    "CORRIDOR_LAYOUT",
    "CRITIC_INPUTS",
    "EXTRINSIC_REWARD",
    "HERO_TYPES",
    "NATIVE_ENVS",
    "PSEUDO_REWARD",
    "Z_STATISTICS",
    "OPPONENT",
    "OPPONENT_STYLE",
    "Acrobot",
    "CartPole",
    "CoinCorridor",
    "CountBonus",
    "DeepSea",
    "EnvBase",
    "EnvStep",
    "EnvWrapper",
    "EpisodeStats",
    "FrozenObservationNorm",
    "GridWorld",
    "GymEnv",
    "HeroLane",
    "HeroType",
    "LeftRight",
    "HiddenOpponent",
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
    "SumRewardHeads",
    "ZConditioning",
    "VisitCounts",
    "check_finite",
    "check_masked_action",
    "draw_cartpole",
    "draw_gridworld",
    "find_wrapper",
    "grid_cells",
    "has_action_mask",
    "hero_compositions",
    "left_side_fraction",
    "make_env",
    "mask_size",
    "random_allowed_action",
    "require_one_reward_head",
    "z_pseudo_reward",
]
