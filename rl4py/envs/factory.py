"""Build an env from a name: rl4py's native envs by class name, anything else through gymnasium."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import torch

from rl4py.envs.acrobot import Acrobot
from rl4py.envs.base import EnvBase
from rl4py.envs.cartpole import CartPole
from rl4py.envs.coin_corridor import CoinCorridor
from rl4py.envs.deep_sea import DeepSea
from rl4py.envs.gridworld import GridWorld
from rl4py.envs.gym_adapter import GymEnv
from rl4py.envs.heroes import HeroLane
from rl4py.envs.hidden_opponent import HiddenOpponent
from rl4py.envs.left_right import LeftRight
from rl4py.envs.mountain_car import MountainCar, MountainCarContinuous
from rl4py.envs.multi_discrete import MultiDiscreteTarget
from rl4py.envs.pendulum import Pendulum
from rl4py.envs.pixels import PixelObservation
from rl4py.envs.rendezvous import Rendezvous

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
    "Rendezvous": Rendezvous,
    "HeroLane": HeroLane,
    "CoinCorridor": CoinCorridor,
    "LeftRight": LeftRight,
    "DeepSea": DeepSea,
    "HiddenOpponent": HiddenOpponent,
}


def make_env(
    name: str,
    num_envs: int = 1,
    device: torch.device | str = "cpu",
    pixels: int | Sequence[int] | None = None,
    **kwargs: Any,
) -> EnvBase:
    """Builds ``num_envs`` sub-envs of the env called ``name``.

    Pixel observations are a keyword, not a separate name, so any drawable native env gets them and a
    LightningModule's ``env_kwargs`` (``{pixels: 64}`` in YAML) reaches them: ``pixels=64`` wraps the
    native env in :class:`~rl4py.envs.PixelObservation` (``"observation"`` ``[B, 3, 64, 64]`` uint8).

    Args:
        name: a native env (``"CartPole"``, ``"Pendulum"``, ``"Acrobot"``, ``"MountainCar"``,
            ``"MountainCarContinuous"``, ``"GridWorld"``, ``"MultiDiscreteTarget"``, ``"HeroLane"``,
            ``"Rendezvous"``, ``"CoinCorridor"``, ``"LeftRight"``, ``"DeepSea"``, ``"HiddenOpponent"``), a
            gymnasium id (``"CartPole-v1"``, ``"Acrobot-v1"``, ...), ``"vmas:<scenario>"``
            (:class:`~rl4py.envs.VmasEnv`) or ``"pettingzoo:<module>"`` (:class:`~rl4py.envs.PettingZooEnv`,
            ``"pettingzoo:mpe2.simple_spread_v3"``).
        num_envs: number of sub-envs.
        device: device of the env's tensors.
        pixels: ``None`` for the env's own observations; an int ``S`` for ``S x S`` images or
            ``(height, width)``, drawn by :class:`~rl4py.envs.PixelObservation` (native envs with
            ``draw_observation`` only: CartPole, Acrobot, the mountain cars, GridWorld).
        **kwargs: passed to the native env's constructor or to ``gymnasium.make_vec``.

    Raises:
        ValueError: ``name`` is neither a native env nor a registered gymnasium id, ``pixels`` is
            given for a gymnasium id or is not one or two sizes.
        TypeError: ``pixels`` is given for a native env that cannot be drawn from its observation.

    Examples:
        >>> make_env("CartPole", num_envs=2, pixels=64).reset(seed=0)["observation"].shape
        torch.Size([2, 3, 64, 64])
    """
    for prefix, adapter in (
        ("vmas:", "rl4py.envs.vmas_adapter.VmasEnv"),
        ("pettingzoo:", "rl4py.envs.pettingzoo_adapter.PettingZooEnv"),
    ):
        if name.startswith(prefix):
            if pixels is not None:
                raise ValueError(f"make_env: pixels applies to native envs, not to {name!r}")
            module, cls = adapter.rsplit(".", 1)
            return getattr(importlib.import_module(module), cls)(
                name[len(prefix) :], num_envs=num_envs, device=device, **kwargs
            )
    if name in NATIVE_ENVS:
        env = NATIVE_ENVS[name](num_envs=num_envs, device=device, **kwargs)
        if pixels is None:
            return env
        if isinstance(pixels, Sequence) and not isinstance(pixels, str):
            if len(pixels) != 2:
                raise ValueError(f"make_env: pixels must be an int or (height, width), got {pixels!r}")
            height, width = pixels
        else:
            height = width = pixels
        return PixelObservation(env, width=width, height=height)
    import gymnasium as gym

    if name not in gym.registry:
        raise ValueError(
            f"make_env: unknown env {name!r}; expected a native env {sorted(NATIVE_ENVS)} or a gymnasium id "
            "(e.g. 'CartPole-v1')"
        )
    if pixels is not None:
        raise ValueError(
            f"make_env: pixels={pixels!r} draws native envs only, got the gymnasium id {name!r}; use a native env "
            f"name ({', '.join(n for n, cls in NATIVE_ENVS.items() if hasattr(cls, 'draw_observation'))})"
        )
    return GymEnv(name, num_envs=num_envs, device=device, **kwargs)
