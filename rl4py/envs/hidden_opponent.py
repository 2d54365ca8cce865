"""A batched, torch-native task with a hidden opponent strategy that scouting reveals."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.seeding import SeededGenerator

__all__ = ["OPPONENT", "OPPONENT_STYLE", "HiddenOpponent"]

#: the opponent-feature observation entry of :class:`HiddenOpponent`, ``[B, K]``
OPPONENT = "opponent"
#: the hidden style of the episode's opponent, ``[B]`` int64, under ``"next"`` (a label for fitting an
#: opponent model; never part of an observation)
OPPONENT_STYLE = "opponent_style"


class HiddenOpponent(EnvBase):
    """Counter an opponent that plays one of ``K`` hidden styles, which it reveals one move at a time.

    Each episode the opponent draws a style ``k`` uniformly from ``K``. A style shows in the opponent's
    moves: each move it makes is ``k`` with probability ``tell`` and each other move with probability
    ``(1 - tell) / (K - 1)``. One move is seen at the reset. Each step the agent either scouts (action
    ``K``: the opponent makes one more move, seen by the agent; reward ``-scout_cost``) or commits to
    the counter of style ``j`` (action ``j < K``: reward 1 if ``j == k``, else 0; the episode
    terminates). After ``max_scouts`` scouts the episode is truncated.

    - **Observation** ``"observation"`` ``[B, 1]`` float32: the fraction of the scouts used. The
      agent's own observation says nothing about the opponent.
    - **Opponent features** ``"opponent"`` ``[B, K]`` float32: the counts of each move seen so far. A
      policy sees them only through an opponent model (for example
      :class:`rl4py.exploration.OpponentContext` appends its strategy embedding to ``"observation"``).
    - **Label** ``("next", "opponent_style")`` ``[B]`` int64: the episode's hidden style, to fit an
      opponent model on collected data.

    A policy blind to the opponent scores ``1 / K`` at best (commit at once); one that reads the moves
    scouts until it is confident, then commits to the most frequent move (:meth:`bayes_accuracy` gives
    the best accuracy after ``n`` moves).

    Args:
        num_envs: number of sub-envs B.
        num_styles: ``K`` (>= 2).
        tell: probability of a style's own move (``> 1 / K`` and ``< 1``).
        max_scouts: scouts before truncation (>= 1).
        scout_cost: cost of one scout (>= 0).
        device: device of the state and of every returned tensor.
        validate: check actions (see :class:`EnvBase`).

    Examples:
        >>> env = HiddenOpponent(num_envs=4, num_styles=3)
        >>> td = env.reset(seed=0)
        >>> td["observation"].shape, td["opponent"].shape, td["opponent"].sum(-1)   # one move seen
        (torch.Size([4, 1]), torch.Size([4, 3]), tensor([1., 1., 1., 1.]))
    """

    observation_keys = (keys.OBSERVATION, OPPONENT)
    trusted_entries = True

    def __init__(
        self,
        num_envs: int = 1,
        num_styles: int = 3,
        tell: float = 0.7,
        max_scouts: int = 6,
        scout_cost: float = 0.02,
        device: torch.device | str = "cpu",
        validate: bool = True,
    ) -> None:
        if not isinstance(num_styles, int) or num_styles < 2:
            raise ValueError(f"HiddenOpponent: num_styles must be an int >= 2, got {num_styles!r}")
        if not 1.0 / num_styles < tell < 1.0:
            raise ValueError(
                f"HiddenOpponent: tell must be in (1 / num_styles, 1) = ({1 / num_styles:.3g}, 1), got {tell}"
            )
        if not isinstance(max_scouts, int) or max_scouts < 1:
            raise ValueError(f"HiddenOpponent: max_scouts must be an int >= 1, got {max_scouts!r}")
        if not (math.isfinite(scout_cost) and scout_cost >= 0):
            raise ValueError(f"HiddenOpponent: scout_cost must be finite and >= 0, got {scout_cost}")
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Box(0.0, 1.0, (1,), np.float32),
            single_action_space=gym.spaces.Discrete(num_styles + 1),
            device=device,
            validate=validate,
        )
        self.check_outputs = False
        self.num_styles, self.tell, self.max_scouts, self.scout_cost = num_styles, float(tell), max_scouts, scout_cost
        #: the action that scouts
        self.scout_action = num_styles
        self._rng = SeededGenerator(self.device)
        #: ``[B]`` int64: each sub-env's hidden style
        self.style = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        #: ``[B, K]`` int64: the moves seen so far
        self.counts = torch.zeros(num_envs, num_styles, dtype=torch.int64, device=self.device)
        #: ``[B]`` int64: scouts used this episode
        self.scouts = torch.zeros(num_envs, dtype=torch.int64, device=self.device)

    def bayes_accuracy(self, moves: int) -> float:
        """The best probability of naming the style after seeing ``moves`` moves (exact, by enumeration)."""
        k, p, q = self.num_styles, self.tell, (1 - self.tell) / (self.num_styles - 1)
        total = 0.0
        for hist in _histograms(moves, k):
            likelihood = [p ** hist[s] * q ** (moves - hist[s]) for s in range(k)]
            multinomial = math.factorial(moves) / math.prod(math.factorial(h) for h in hist)
            total += multinomial * max(likelihood) / k
        return total

    def scouting_data(self, steps: int, seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Opponent features and their styles seen by a policy that always scouts, to fit an opponent model.

        Resets with ``seed`` and scouts for ``steps`` steps (episodes end by truncation and restart).

        Returns:
            ``(features [N, K], styles [N])`` with ``N = steps * num_envs``: each root's ``"opponent"``
            entry and the hidden style of its episode.
        """
        if steps < 1:
            raise ValueError(f"HiddenOpponent: steps must be >= 1, got {steps}")
        features, styles = [], []
        obs = self.reset_tensors(seed)
        scout = torch.full((self.num_envs,), self.scout_action, dtype=torch.int64, device=self.device)
        for _ in range(steps):
            features.append(obs[OPPONENT])
            out = self.step_tensors(scout)
            styles.append(out.next[OPPONENT_STYLE])
            obs = out.root
        return torch.cat(features), torch.cat(styles)

    def _moves(self, style: torch.Tensor) -> torch.Tensor:
        """One opponent move ``[B]`` per style ``[B]``."""
        b, k = style.shape[0], self.num_styles
        u = torch.rand(b, generator=self._rng.generator, device=self.device)
        other = torch.randint(0, k - 1, (b,), generator=self._rng.generator, device=self.device)
        other = other + (other >= style).long()  # uniform over the other moves
        return torch.where(u < self.tell, style, other)

    def _observe(self, counts: torch.Tensor, scouts: torch.Tensor) -> dict[NestedKey, torch.Tensor]:
        return {
            keys.OBSERVATION: (scouts.to(torch.float32) / self.max_scouts).unsqueeze(-1),
            OPPONENT: counts.to(torch.float32),
        }

    def _new_episodes(self, mask: torch.Tensor) -> None:
        """Draws a style and shows its first move where ``mask`` ``[B]`` holds."""
        style = torch.randint(0, self.num_styles, (self.num_envs,), generator=self._rng.generator, device=self.device)
        first = torch.nn.functional.one_hot(self._moves(style), self.num_styles)
        m = mask.unsqueeze(-1)
        self.style = torch.where(mask, style, self.style)
        self.counts = torch.where(m, first, self.counts)
        self.scouts = self.scouts.masked_fill(mask, 0)

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        self._rng.seed(seed)
        self._new_episodes(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        return self._observe(self.counts, self.scouts)

    def _step(self, action: torch.Tensor) -> EnvStep:
        action = action.long()
        scout = action == self.scout_action
        seen = torch.nn.functional.one_hot(self._moves(self.style), self.num_styles) * scout.unsqueeze(-1)
        counts = self.counts + seen
        scouts = self.scouts + scout.long()
        correct = (~scout) & (action == self.style)
        reward = torch.where(scout, -self.scout_cost, correct.to(torch.float32))
        terminated = ~scout
        truncated = scout & (scouts >= self.max_scouts)
        done = terminated | truncated
        next_obs = self._observe(counts, scouts)
        style = self.style
        self.counts, self.scouts = counts, scouts
        self._new_episodes(done)
        return EnvStep(
            next={
                **next_obs,
                keys.REWARD: reward.to(torch.float32).unsqueeze(-1),
                keys.TERMINATED: terminated.unsqueeze(-1),
                keys.TRUNCATED: truncated.unsqueeze(-1),
                keys.DONE: done.unsqueeze(-1),
                OPPONENT_STYLE: style,
            },
            root=self._observe(self.counts, self.scouts),
        )

    def state_dict(self) -> dict:
        return {
            "style": self.style.clone(),
            "counts": self.counts.clone(),
            "scouts": self.scouts.clone(),
            "rng": self._rng.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        style = state["style"].to(self.device)
        if tuple(style.shape) != (self.num_envs,):
            raise ValueError(
                f"HiddenOpponent: state 'style' has shape {tuple(style.shape)}, expected ({self.num_envs},)"
            )
        self.style = style.clone()
        self.counts = state["counts"].to(self.device).clone()
        self.scouts = state["scouts"].to(self.device).clone()
        self._rng.load_state_dict(state["rng"])


def _histograms(n: int, k: int) -> list[tuple[int, ...]]:
    """Every way to split ``n`` moves over ``k`` kinds."""
    if k == 1:
        return [(n,)]
    return [(first, *rest) for first in range(n + 1) for rest in _histograms(n - first, k - 1)]
