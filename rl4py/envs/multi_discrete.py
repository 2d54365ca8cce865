"""A batched multi-discrete env with per-step action masks: choose the target shown in the observation."""

from __future__ import annotations

import math
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs.action_masks import check_masked_action, random_allowed_action
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.seeding import SeededGenerator

__all__ = ["MultiDiscreteTarget"]


class MultiDiscreteTarget(EnvBase):
    """Pick, in every head of a ``MultiDiscrete(nvec)`` action, the target choice the observation shows.

    Every step draws a new target ``(t_0, ..., t_{H-1})`` (head ``h`` uniform over ``nvec[h]``
    choices) and a new mask: the target choice is always allowed, every other choice is allowed
    with probability ``allowed_prob``, independently.

    - **Observation** ``[B, sum(nvec)]`` float32: the one-hot targets of the heads, concatenated.
    - **Action mask** ``"action_mask"`` ``[B, sum(nvec)]`` bool (true = allowed): the per-head
      masks concatenated (head ``h`` at ``[offset_h, offset_h + nvec[h])``), the layout
      :class:`rl4py.modules.MultiCategorical` reads; in the reset entries and in both ``next``
      and ``root`` of every step. With ``validate=True`` a forbidden choice raises a
      ``ValueError`` naming the env, the choice and the head's mask; with ``validate=False`` it is
      simply scored (it never matches the target, which is always allowed).
    - **Action** ``[B, H]`` int64.
    - **Reward** ``[B, 1]``: the fraction of heads whose choice matches the target, in ``[0, 1]``.
    - **Episodes** are truncated after ``episode_length`` steps, never terminated.

    The optimal return is ``episode_length`` (every head right every step). A uniformly random
    policy over the *allowed* choices scores ``episode_length * mean_h E[1 / K_h]`` with
    ``K_h = 1 + Binomial(nvec[h] - 1, allowed_prob)`` (:meth:`random_return`); with the defaults
    (``nvec=(3, 4)``, ``allowed_prob=0.5``, 8 steps) that is 4.21, against 2.33 for a uniform
    policy that ignores the mask (``episode_length * mean_h 1 / nvec[h]``).

    Args:
        num_envs: number of sub-envs B.
        nvec: number of choices of each head (each >= 2).
        episode_length: steps per episode.
        allowed_prob: probability that a non-target choice is allowed, in ``[0, 1]``.
        device: device of the state and of every returned tensor.
        validate: check actions, masked choices included (see :class:`EnvBase`).

    Examples:
        >>> env = MultiDiscreteTarget(num_envs=4)
        >>> td = env.reset(seed=0)
        >>> td["observation"].shape, td["action_mask"].shape
        (torch.Size([4, 7]), torch.Size([4, 7]))
        >>> td["action"] = env.rand_action()  # [4, 2], uniform over the allowed choices
        >>> env.step(td)["next", "reward"].shape
        torch.Size([4, 1])
    """

    observation_keys = (keys.OBSERVATION, keys.ACTION_MASK)

    def __init__(
        self,
        num_envs: int = 1,
        nvec: Sequence[int] = (3, 4),
        episode_length: int = 8,
        allowed_prob: float = 0.5,
        device: torch.device | str = "cpu",
        validate: bool = True,
    ) -> None:
        nvec = [int(n) for n in nvec]
        if not nvec or min(nvec) < 2:
            raise ValueError(f"MultiDiscreteTarget: nvec must be a non-empty list of sizes >= 2, got {nvec}")
        size = sum(nvec)
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Box(0.0, 1.0, (size,), np.float32),
            single_action_space=gym.spaces.MultiDiscrete(nvec),
            device=device,
            validate=validate,
        )
        self.check_outputs = False  # one-hot observations and match fractions are finite
        if not isinstance(episode_length, int) or episode_length < 1:
            raise ValueError(f"MultiDiscreteTarget: episode_length must be an int >= 1, got {episode_length!r}")
        if not 0.0 <= allowed_prob <= 1.0:
            raise ValueError(f"MultiDiscreteTarget: allowed_prob must be in [0, 1], got {allowed_prob}")
        self.nvec = nvec
        self.episode_length = episode_length
        self.allowed_prob = float(allowed_prob)
        dev = self.device
        self._nvec = torch.tensor(nvec, device=dev)
        self._offsets = torch.tensor(np.concatenate([[0], np.cumsum(nvec)[:-1]]), device=dev)
        self._rng = SeededGenerator(dev)
        #: ``[B, H]`` int64: the current target of each head
        self.target = torch.zeros(num_envs, len(nvec), dtype=torch.int64, device=dev)
        #: ``[B, sum(nvec)]`` bool: the current action mask
        self.mask = torch.ones(num_envs, size, dtype=torch.bool, device=dev)
        self.elapsed_steps = torch.zeros(num_envs, dtype=torch.int64, device=dev)

    def random_return(self, masked: bool = True) -> float:
        """The expected return of a uniformly random policy.

        Args:
            masked: uniform over the allowed choices (``True``) or over all choices.

        Returns:
            ``episode_length * mean_h E[1 / K_h]`` (masked) or ``episode_length * mean_h 1 / nvec[h]``.
        """
        per_head = []
        for n in self.nvec:
            if not masked:
                per_head.append(1.0 / n)
                continue
            p = self.allowed_prob
            per_head.append(sum(math.comb(n - 1, k) * p**k * (1 - p) ** (n - 1 - k) / (k + 1) for k in range(n)))
        return self.episode_length * sum(per_head) / len(per_head)

    def _draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Draws targets ``[B, H]`` and masks ``[B, sum(nvec)]`` (targets always allowed)."""
        gen = self._rng.generator
        u = torch.rand(self.num_envs, len(self.nvec), generator=gen, device=self.device)
        target = (u * self._nvec).long().minimum(self._nvec - 1)
        mask = torch.rand(self.num_envs, self.mask.shape[1], generator=gen, device=self.device) < self.allowed_prob
        mask.scatter_(1, target + self._offsets, True)
        return target, mask

    def _observe(self, target: torch.Tensor, mask: torch.Tensor) -> dict[NestedKey, torch.Tensor]:
        obs = torch.zeros(self.num_envs, self.mask.shape[1], device=self.device)
        obs.scatter_(1, target + self._offsets, 1.0)
        return {keys.OBSERVATION: obs, keys.ACTION_MASK: mask.clone()}

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        self._rng.seed(seed)
        self.target, self.mask = self._draw()
        self.elapsed_steps = torch.zeros_like(self.elapsed_steps)
        return self._observe(self.target, self.mask)

    def check_action(self, action: torch.Tensor) -> None:
        """Checks ``action`` against the action space and against the current ``"action_mask"``."""
        super().check_action(action)
        check_masked_action(self.name, action, self.mask, self.single_action_space)

    def _step(self, action: torch.Tensor) -> EnvStep:
        reward = (action == self.target).to(torch.float32).mean(-1, keepdim=True)
        elapsed = self.elapsed_steps + 1
        truncated = (elapsed >= self.episode_length).unsqueeze(-1)
        next_target, next_mask = self._draw()
        reset_target, reset_mask = self._draw()
        self.target = torch.where(truncated, reset_target, next_target)
        self.mask = torch.where(truncated, reset_mask, next_mask)
        self.elapsed_steps = elapsed.masked_fill(truncated.squeeze(-1), 0)
        return EnvStep(
            next={
                **self._observe(next_target, next_mask),
                keys.REWARD: reward,
                keys.TERMINATED: torch.zeros_like(truncated),
                keys.TRUNCATED: truncated,
                keys.DONE: truncated.clone(),
            },
            root=self._observe(self.target, self.mask),
        )

    def rand_action(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A uniformly random **allowed** choice per head, ``[B, H]`` int64."""
        return random_allowed_action(self.mask, self.single_action_space, generator)

    def state_dict(self) -> dict:
        return {
            "target": self.target.clone(),
            "mask": self.mask.clone(),
            "elapsed_steps": self.elapsed_steps.clone(),
            "rng": self._rng.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.target = state["target"].to(self.device).clone()
        self.mask = state["mask"].to(self.device).clone()
        self.elapsed_steps = state["elapsed_steps"].to(self.device).clone()
        self._rng.load_state_dict(state["rng"])
