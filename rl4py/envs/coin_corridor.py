"""A batched corridor whose reward has two components on different scales: dense noisy coins and a sparse goal."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.seeding import SeededGenerator

__all__ = ["CoinCorridor"]


class CoinCorridor(EnvBase):
    """Walk a corridor to a far goal while coins tempt you to either side; two reward heads.

    The agent starts at cell 0 of cells ``0 .. length`` and moves left or right (actions 0, 1;
    a move left at cell 0 stays there). Every step a coin appears on a random side; moving to that
    side picks it up. Reaching cell ``length`` ends the episode (terminated); otherwise it is
    truncated after ``max_episode_steps`` steps.

    - **Observation** ``[B, length + 3]`` float32: the one-hot cell, then the one-hot coin side.
    - **Reward** ``[B, 2]`` (``reward_heads = 2``, :attr:`head_names` ``("coins", "goal")``):
      head 0 is dense and small, ``coin_reward`` per coin plus ``coin_noise`` times standard
      normal noise every step (a shaping signal such as damage dealt, small and noisy); head 1 is
      sparse and large, ``goal_reward`` at the goal.

    The trade-off: following the coins earns ``coin_reward`` per step (``2.5`` over 50 steps with
    the defaults) and wanders; walking right reaches the goal in ``length`` steps for
    ``goal_reward`` plus a coin every other step (about ``10.25``). A multi-head critic learns
    each component on its own scale and horizon (:class:`~rl4py.values.MultiHeadGAE`);
    :class:`~rl4py.envs.SumRewardHeads` gives the one-head baseline.

    Args:
        num_envs: number of sub-envs B.
        length: the goal's cell (>= 1).
        max_episode_steps: truncation step (>= 1).
        coin_reward: a coin's reward (head 0).
        coin_noise: standard deviation of head 0's per-step noise (>= 0).
        goal_reward: the goal's reward (head 1).
        device: device of the state and of every returned tensor.
        validate: check actions and outputs (see :class:`EnvBase`).

    Examples:
        >>> env = CoinCorridor(num_envs=4)
        >>> td = env.reset(seed=0)
        >>> td["observation"].shape, env.reward_heads
        (torch.Size([4, 13]), 2)
        >>> td["action"] = torch.ones(4, dtype=torch.int64)
        >>> env.step(td)["next", "reward"].shape
        torch.Size([4, 2])
    """

    reward_heads = 2
    head_names: tuple[str, ...] = ("coins", "goal")
    trusted_entries = True

    def __init__(
        self,
        num_envs: int = 1,
        length: int = 10,
        max_episode_steps: int = 50,
        coin_reward: float = 0.05,
        coin_noise: float = 0.5,
        goal_reward: float = 10.0,
        device: torch.device | str = "cpu",
        validate: bool = True,
    ) -> None:
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"CoinCorridor: length must be an int >= 1, got {length!r}")
        if not isinstance(max_episode_steps, int) or max_episode_steps < 1:
            raise ValueError(f"CoinCorridor: max_episode_steps must be an int >= 1, got {max_episode_steps!r}")
        if not coin_noise >= 0:
            raise ValueError(f"CoinCorridor: coin_noise must be >= 0, got {coin_noise}")
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Box(0.0, 1.0, (length + 3,), np.float32),
            single_action_space=gym.spaces.Discrete(2),
            device=device,
            validate=validate,
        )
        self.check_outputs = False  # one-hot observations and finite rewards
        self.length = length
        self.max_episode_steps = max_episode_steps
        self.coin_reward = float(coin_reward)
        self.coin_noise = float(coin_noise)
        self.goal_reward = float(goal_reward)
        self._rng = SeededGenerator(self.device)
        #: ``[B]`` int64: each sub-env's cell, its coin side (0 left, 1 right) and its steps so far
        self.position = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.coin = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.elapsed_steps = torch.zeros(num_envs, dtype=torch.int64, device=self.device)

    def _observe(self, position: torch.Tensor, coin: torch.Tensor) -> dict[NestedKey, torch.Tensor]:
        obs = torch.zeros(self.num_envs, self.length + 3, device=self.device)
        obs.scatter_(1, position.unsqueeze(-1), 1.0)
        obs.scatter_(1, (self.length + 1 + coin).unsqueeze(-1), 1.0)
        return {keys.OBSERVATION: obs}

    def _draw_coin(self) -> torch.Tensor:
        return torch.randint(0, 2, (self.num_envs,), generator=self._rng.generator, device=self.device)

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        self._rng.seed(seed)
        self.position = torch.zeros_like(self.position)
        self.elapsed_steps = torch.zeros_like(self.elapsed_steps)
        self.coin = self._draw_coin()
        return self._observe(self.position, self.coin)

    def _step(self, action: torch.Tensor) -> EnvStep:
        action = action.long()
        move = 2 * action - 1
        position = (self.position + move).clamp(0, self.length)
        noise = torch.randn(self.num_envs, generator=self._rng.generator, device=self.device)
        coins = self.coin_reward * (action == self.coin).float() + self.coin_noise * noise
        terminated = position == self.length
        goal = self.goal_reward * terminated.float()
        elapsed = self.elapsed_steps + 1
        truncated = (elapsed >= self.max_episode_steps) & ~terminated
        done = terminated | truncated
        next_coin = self._draw_coin()
        next_obs = self._observe(position, next_coin)
        self.position = position.masked_fill(done, 0)
        self.elapsed_steps = elapsed.masked_fill(done, 0)
        self.coin = next_coin
        return EnvStep(
            next={
                **next_obs,
                keys.REWARD: torch.stack([coins, goal], dim=-1),
                keys.TERMINATED: terminated.unsqueeze(-1),
                keys.TRUNCATED: truncated.unsqueeze(-1),
                keys.DONE: done.unsqueeze(-1),
            },
            root=self._observe(self.position, self.coin),
        )

    def state_dict(self) -> dict:
        return {
            "position": self.position.clone(),
            "coin": self.coin.clone(),
            "elapsed_steps": self.elapsed_steps.clone(),
            "rng": self._rng.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.position = state["position"].to(self.device).clone()
        self.coin = state["coin"].to(self.device).clone()
        self.elapsed_steps = state["elapsed_steps"].to(self.device).clone()
        self._rng.load_state_dict(state["rng"])
