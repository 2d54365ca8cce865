"""Build an env from a name: rl4py's native envs by class name, anything else through gymnasium."""

from __future__ import annotations

from typing import Any

import torch

from rl4py.envs.acrobot import Acrobot
from rl4py.envs.base import EnvBase
from rl4py.envs.cartpole import CartPole
from rl4py.envs.gridworld import GridWorld
from rl4py.envs.gym_adapter import GymEnv
from rl4py.envs.mountain_car import MountainCar, MountainCarContinuous
from rl4py.envs.multi_discrete import MultiDiscreteTarget
from rl4py.envs.pendulum import Pendulum

__all__ = ["NATIVE_ENVS", "make_env"]

#: native envs by name; their constructors take ``num_envs`` and ``device``
NATIVE_ENVS: dict[str, type[EnvBase]] = {
    "CartPole": CartPole,
    "Pendulum": Pendulum,
    "Acrobot": Acrobot,
    "MountainCar": MountainCar,
    "MountainCarContinuous": MountainCarContinuous,
    "GridWorld": GridWorld,
    "MultiDiscreteTarget": MultiDiscreteTarget,
}


def make_env(name: str, num_envs: int = 1, device: torch.device | str = "cpu", **kwargs: Any) -> EnvBase:
    """Builds ``num_envs`` sub-envs of the env called ``name``.

    Args:
        name: a native env (``"CartPole"``, ``"Pendulum"``, ``"Acrobot"``, ``"MountainCar"``,
            ``"MountainCarContinuous"``, ``"GridWorld"``, ``"MultiDiscreteTarget"``) or a gymnasium id
            (``"CartPole-v1"``, ``"Acrobot-v1"``, ...).
        num_envs: number of sub-envs.
        device: device of the env's tensors.
        **kwargs: passed to the native env's constructor or to ``gymnasium.make_vec``.

    Raises:
        ValueError: ``name`` is neither a native env nor a registered gymnasium id.
    """
    if name in NATIVE_ENVS:
        return NATIVE_ENVS[name](num_envs=num_envs, device=device, **kwargs)
    import gymnasium as gym

    if name not in gym.registry:
        raise ValueError(
            f"make_env: unknown env {name!r}; expected a native env {sorted(NATIVE_ENVS)} or a gymnasium id "
            "(e.g. 'CartPole-v1')"
        )
    return GymEnv(name, num_envs=num_envs, device=device, **kwargs)
