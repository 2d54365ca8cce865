"""Pixel observations for native envs: each observation vector drawn as an RGB image by the env's renderer."""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector.utils import batch_space

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.wrappers import EnvWrapper, ObservationNorm

__all__ = ["PixelObservation"]

#: the smallest image side :class:`PixelObservation` draws
_MIN_PIXELS = 8


def _check_size(name: str, value: object, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"PixelObservation: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < least:
        raise ValueError(f"PixelObservation: {name} must be >= {least}, got {value}")
    return int(value)


def _find_drawer(env: EnvBase) -> Callable[[torch.Tensor, int, int], torch.Tensor]:
    """The ``draw_observation`` of the env that makes ``env``'s observations (through wrappers that
    leave ``"observation"`` as it is)."""
    inner = env
    while True:
        if callable(getattr(type(inner), "draw_observation", None)):
            return inner.draw_observation
        if isinstance(inner, (ObservationNorm, PixelObservation)):
            raise TypeError(
                f"PixelObservation: {env.name} changes the observations before they could be drawn "
                f"({type(inner).__name__}); wrap the native env itself, e.g. ObservationNorm is not needed "
                "for uint8 images"
            )
        if not isinstance(inner, EnvWrapper):
            raise TypeError(
                f"PixelObservation: {inner.name} has no draw_observation(observation, width, height) method; "
                "expected a native env that can be drawn from its observation (CartPole, Acrobot, MountainCar, "
                "MountainCarContinuous, GridWorld)"
            )
        inner = inner.env


def _average_pool(images: torch.Tensor, factor: int) -> torch.Tensor:
    """``[B, factor * H, factor * W, 3]`` uint8 -> ``[B, 3, H, W]`` uint8 (contiguous): the mean of
    each ``factor x factor`` block, rounded half to even (as ``avg_pool2d(...).round()``)."""
    if factor == 1:
        return images.permute(0, 3, 1, 2).contiguous()
    wide = images.permute(0, 3, 1, 2).to(torch.int32 if factor > 11 else torch.int16)
    total = sum(wide[..., i::factor, j::factor] for i in range(factor) for j in range(factor))
    return total.to(torch.float32).div_(factor * factor).round_().to(torch.uint8).contiguous()


class PixelObservation(EnvWrapper):
    """Replaces ``"observation"`` with RGB images ``[B, 3, height, width]`` uint8 of the env's state.

    Every observation vector the wrapped env returns is drawn by its ``draw_observation(observation,
    width, height)`` (the renderer of :meth:`render`: one drawing path), channels first as
    :class:`~rl4py.modules.ConvEncoder` reads them. The terminal image ``("next", "observation")``
    at a done step is drawn from the true terminal observation, the root one from the reset
    observation; where a sub-env did not finish the two are the same vector (the step layout), so on
    the CPU only the finished sub-envs' roots are drawn again (on an accelerator every root is, to
    avoid a host sync). Other observation entries (``"action_mask"``) pass through.

    ``supersample`` draws at that multiple of the size and averages each block of pixels down: at
    64x64 the CartPole pole is about one pixel wide, and drawn directly its image does not change
    until the angle moves by 0.02-0.05 rad (67 distinct images over 421 angles 0.001 rad apart
    within the +-0.21 rad limit); with ``supersample=2`` it changes within 0.005 rad (203 distinct
    images), for 4-5x the step time (64 CartPoles on one CPU thread: ~4 ms per step at 1, ~20 ms at 2).
    A size the env cannot draw fails at construction. Nothing is random and the wrapper holds no state:
    :meth:`state_dict` is the wrapped env's, so a resumed run draws the same images.

    From a name: ``make_env("CartPole", num_envs, device, pixels=64)`` (or ``pixels=(height,
    width)``) wraps the native env; a LightningModule's ``env_kwargs: {pixels: 64}`` reaches it from YAML.

    Args:
        env: a native env with ``draw_observation`` (CartPole, Acrobot, MountainCar,
            MountainCarContinuous, GridWorld), possibly under wrappers that leave its observations as
            they are (not :class:`ObservationNorm`).
        width: image width in pixels (int >= 8).
        height: image height in pixels (int >= 8).
        keep_state: also return the observation vector under ``"state"`` (debugging, asymmetric
            actor-critics); it is added to :attr:`observation_keys`.
        supersample: draw at ``supersample`` times the size and average down (int >= 1; 1 draws
            at the size).

    Raises:
        TypeError: ``env`` cannot be drawn from its observation, or a size is not an int.
        ValueError: a size is below its minimum or one the env cannot draw (Acrobot: square only), or
            ``keep_state`` and the env already returns ``"state"``.

    Examples:
        >>> from rl4py.envs import CartPole
        >>> env = PixelObservation(CartPole(num_envs=4), width=64, height=64)
        >>> env.reset(seed=0)["observation"].shape, env.single_observation_space.dtype
        (torch.Size([4, 3, 64, 64]), dtype('uint8'))
    """

    def __init__(
        self, env: EnvBase, width: int = 64, height: int = 64, keep_state: bool = False, supersample: int = 2
    ) -> None:
        super().__init__(env)
        self.width = _check_size("width", width, _MIN_PIXELS)
        self.height = _check_size("height", height, _MIN_PIXELS)
        self.supersample = _check_size("supersample", supersample, 1)
        self.keep_state = bool(keep_state)
        if self.keep_state and keys.STATE in env.observation_keys:
            raise ValueError(
                f"PixelObservation: {env.name} already returns {keys.STATE!r}; keep_state would replace it"
            )
        self._draw = _find_drawer(env)
        self.single_observation_space = gym.spaces.Box(0, 255, (3, self.height, self.width), np.uint8)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        #: draw every root image (no host sync) rather than only the finished sub-envs' (the CPU's way)
        self.sync_free = self.device.type != "cpu"
        shape = env.single_observation_space.shape
        if shape is not None:  # draw one blank observation now: a size the env cannot draw fails here
            try:
                self.pixels(torch.zeros((1, *shape), device=self.device))
            except (TypeError, ValueError) as error:
                raise type(error)(
                    f"PixelObservation: {env.name} cannot draw {self.width}x{self.height} images "
                    f"(supersample={self.supersample}): {error}"
                ) from error

    @property
    def observation_keys(self) -> tuple[NestedKey, ...]:
        inner = self.env.observation_keys
        return (*inner, keys.STATE) if self.keep_state else inner

    def pixels(self, observation: torch.Tensor) -> torch.Tensor:
        """Draws observation vectors ``[N, *obs_shape]`` as images ``[N, 3, height, width]`` uint8."""
        k = self.supersample
        images = self._draw(observation, self.width * k, self.height * k)
        expected = (observation.shape[0], self.height * k, self.width * k, 3)
        if not isinstance(images, torch.Tensor) or tuple(images.shape) != expected or images.dtype != torch.uint8:
            got = (tuple(images.shape), images.dtype) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(
                f"PixelObservation: {self.env.name}.draw_observation returned {got}, expected {expected} uint8"
            )
        return _average_pool(images, k)

    def _observe(self, entries: dict[NestedKey, torch.Tensor], images: torch.Tensor) -> dict[NestedKey, torch.Tensor]:
        if self.keep_state:
            entries[keys.STATE] = entries[keys.OBSERVATION]
        entries[keys.OBSERVATION] = images
        return entries

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        obs = self.env.reset_tensors(seed)
        return self._observe(obs, self.pixels(obs[keys.OBSERVATION]))

    def _step(self, action: torch.Tensor) -> EnvStep:
        out = self.env.step_tensors(action)
        terminal, first = out.next[keys.OBSERVATION], out.root[keys.OBSERVATION]
        if self.sync_free:
            both = self.pixels(torch.cat((terminal, first)))
            next_images, root_images = both[: self.num_envs], both[self.num_envs :]
        else:
            next_images = self.pixels(terminal)
            root_images = next_images.clone()  # the root is the policy's: writing into it leaves "next" alone
            ended = out.next[keys.DONE].reshape(-1).nonzero().squeeze(-1)
            if ended.numel():
                root_images[ended] = self.pixels(first[ended])
        return EnvStep(next=self._observe(out.next, next_images), root=self._observe(out.root, root_images))
