"""The :class:`IntrinsicReward` protocol and the two ways to add a bonus to the task's reward: an env
wrapper (:class:`IntrinsicRewardWrapper`) and a rollout stage (:class:`IntrinsicRewardStage`)."""

from __future__ import annotations

import copy
from typing import Any, Protocol, runtime_checkable

import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.reward_shaping import EXTRINSIC_REWARD
from rl4py.envs.wrappers import EnvWrapper, EpisodeStats, find_wrapper

__all__ = ["INTRINSIC_REWARD", "IntrinsicReward", "IntrinsicRewardStage", "IntrinsicRewardWrapper"]

#: where the wrapper and the stage write the (unscaled) intrinsic reward, ``[*B, 1]``, under ``"next"``
INTRINSIC_REWARD = "intrinsic_reward"


@runtime_checkable
class IntrinsicReward(Protocol):
    """A bonus for transitions, learned or counted from the transitions themselves.

    A transition batch is a ``TensorDict[*B]`` holding ``"observation"``, ``"action"`` and
    ``("next", "observation")`` (and whatever else the reward reads). rl4py's intrinsic rewards are
    ``nn.Module``s, so their ``state_dict`` holds every count, network and running statistic.

    Attributes:
        update_first: whether :class:`IntrinsicRewardWrapper` and :class:`IntrinsicRewardStage` call
            :meth:`update` before reading the bonus (counts: a first visit is counted, so it pays
            ``1 / sqrt(1)``) or after (RND: the bonus is the error of a predictor that has not yet
            trained on these transitions).
    """

    update_first: bool

    def __call__(self, td: TensorDictBase) -> torch.Tensor:
        """The bonus ``[*B, 1]`` float32 of the transitions ``td`` (``TensorDict[*B]``)."""
        ...

    def update(self, td: TensorDictBase) -> dict[str, float]:
        """Learns from / counts the transitions ``td``; returns diagnostics (may be empty)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything the bonus depends on."""
        ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> Any:
        """Restores :meth:`state_dict`'s result."""
        ...


def check_bonus(owner: str, bonus: torch.Tensor, batch_size: torch.Size) -> torch.Tensor:
    """``bonus`` if it is a float tensor ``[*batch_size, 1]``; raises ``ValueError`` naming ``owner`` otherwise."""
    expected = (*batch_size, 1)
    if tuple(bonus.shape) != expected or not bonus.is_floating_point():
        raise ValueError(
            f"{owner}: the intrinsic reward returned {tuple(bonus.shape)} {bonus.dtype}; expected a float tensor "
            f"{expected}, one bonus per transition"
        )
    return bonus


def _check_reward(owner: str, intrinsic: object, coeff: float) -> None:
    if not isinstance(intrinsic, IntrinsicReward):
        raise TypeError(
            f"{owner}: intrinsic must follow the IntrinsicReward protocol (__call__, update, update_first, "
            f"state_dict, load_state_dict), got {type(intrinsic).__name__}"
        )
    if not coeff >= 0:
        raise ValueError(f"{owner}: coeff must be >= 0, got {coeff}")


def _bonus(owner: str, intrinsic: IntrinsicReward, td: TensorDictBase, learn: bool) -> tuple[torch.Tensor, dict]:
    """Updates (when ``learn``, before or after reading as the reward asks) and reads the bonus of ``td``."""
    stats: dict = {}
    if learn and intrinsic.update_first:
        stats = intrinsic.update(td)
    with torch.no_grad():
        bonus = check_bonus(owner, intrinsic(td), td.batch_size).to(torch.float32)
    if learn and not intrinsic.update_first:
        stats = intrinsic.update(td)
    return bonus, stats or {}


class IntrinsicRewardWrapper(EnvWrapper):
    """Adds ``coeff * intrinsic(transition)`` to the env's reward at every step.

    The env's own reward stays under ``("next", "extrinsic_reward")`` and the unscaled bonus under
    ``("next", "intrinsic_reward")``; ``("next", "reward")`` is ``extrinsic + coeff * intrinsic``. The
    reported episode return stays the task's: unless ``env`` already contains an
    :class:`~rl4py.envs.EpisodeStats`, the wrapper puts one directly around ``env`` (inside the bonus),
    so ``("next", "episode_return")`` and the trainers' solve criteria count extrinsic rewards only.

    With ``learn`` the reward learns/counts from every step's transitions (``update``); a learned
    reward (RND) is cheaper to train once per rollout with :class:`IntrinsicRewardStage`.

    Args:
        env: the wrapped env.
        intrinsic: the bonus (:class:`IntrinsicReward`).
        coeff: its scale (>= 0).
        learn: call ``intrinsic.update`` on each step's transitions.

    Examples:
        >>> from rl4py.envs import DeepSea
        >>> from rl4py.exploration import CountReward
        >>> env = IntrinsicRewardWrapper(DeepSea(num_envs=2, size=4), CountReward(16, resolution=1.0), coeff=0.1)
        >>> _ = env.reset_tensors(seed=0)
        >>> out = env.step_tensors(torch.tensor([0, 0]))   # both reach the same cell: N = 2
        >>> out.next["intrinsic_reward"].squeeze(-1)
        tensor([0.7071, 0.7071])
    """

    def __init__(self, env: EnvBase, intrinsic: IntrinsicReward, coeff: float = 0.01, learn: bool = True) -> None:
        _check_reward("IntrinsicRewardWrapper", intrinsic, coeff)
        super().__init__(env if find_wrapper(env, EpisodeStats) is not None else EpisodeStats(env))
        self.intrinsic = intrinsic
        if isinstance(intrinsic, nn.Module):
            intrinsic.to(self.device)
        self.coeff = float(coeff)
        self.learn = bool(learn)
        self._root: dict[NestedKey, torch.Tensor] | None = None

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        obs = self.env.reset_tensors(seed)
        self._root = dict(obs)
        return obs

    def _step(self, action: torch.Tensor) -> EnvStep:
        if self._root is None:
            raise RuntimeError("IntrinsicRewardWrapper: step before reset")
        out = self.env.step_tensors(action)
        if EXTRINSIC_REWARD not in out.next:
            out.next[EXTRINSIC_REWARD] = out.next[keys.REWARD]
        td = TensorDict(
            {**self._root, keys.ACTION: action, keys.NEXT: dict(out.next)}, batch_size=self.batch_size, device=None
        )
        bonus, _ = _bonus("IntrinsicRewardWrapper", self.intrinsic, td, self.learn)
        out.next[INTRINSIC_REWARD] = bonus
        out.next[keys.REWARD] = out.next[keys.REWARD] + self.coeff * bonus
        self._root = dict(out.root)
        return out

    def state_dict(self) -> dict:
        root = None if self._root is None else {k: v.clone() for k, v in self._root.items()}
        # a copy: a module's state_dict holds its live buffers (the counts change in place)
        intrinsic = copy.deepcopy(self.intrinsic.state_dict())
        return {"env": self.env.state_dict(), "intrinsic": intrinsic, "root": root}

    def load_state_dict(self, state: dict) -> None:
        self.env.load_state_dict(state["env"])
        self.intrinsic.load_state_dict(state["intrinsic"])
        root = state["root"]
        self._root = None if root is None else {k: v.to(self.device).clone() for k, v in root.items()}


class IntrinsicRewardStage(nn.Module):
    """A rollout stage that adds ``coeff * intrinsic(rollout)`` to the rollout's rewards, and learns.

    Put it before the value estimator in an actor-critic trainer's ``parts.estimators`` (each stage runs
    on the rollout before the update, :func:`~rl4py.trainers.actor_critic.actor_critic_update`)::

        parts = build_for_env(build_ppo, env, config)
        parts.estimators.insert(0, IntrinsicRewardStage(RND(obs_dim), coeff=0.5).to(env.device))

    On each rollout ``TensorDict[*B, T]`` it calls ``intrinsic.update(rollout)`` (with ``learn``; before
    or after reading the bonus as :attr:`IntrinsicReward.update_first` says), keeps the env's reward
    under ``("next", "extrinsic_reward")`` (where no wrapper stored it), writes the unscaled bonus to
    ``("next", "intrinsic_reward")`` and ``extrinsic + coeff * bonus`` to ``("next", "reward")``. The
    collector's episode returns, computed while stepping, stay extrinsic. :attr:`last_stats` holds the
    last update's diagnostics and ``"intrinsic_reward_mean"``.

    Args:
        intrinsic: the bonus (:class:`IntrinsicReward`); an ``nn.Module`` one becomes a submodule, so
            the stage's ``state_dict`` holds it.
        coeff: the bonus's scale (>= 0).
        learn: update the reward on each rollout.
    """

    def __init__(self, intrinsic: IntrinsicReward, coeff: float = 0.01, learn: bool = True) -> None:
        _check_reward("IntrinsicRewardStage", intrinsic, coeff)
        super().__init__()
        self.intrinsic = intrinsic
        self.coeff = float(coeff)
        self.learn = bool(learn)
        self.last_stats: dict[str, float] = {}

    def forward(self, rollout: TensorDictBase) -> TensorDictBase:
        """Writes the bonus into ``rollout`` (in place) and returns it."""
        if rollout.batch_dims < 1:
            raise ValueError(f"IntrinsicRewardStage: expected a rollout TensorDict[*B, T], got {rollout.batch_size}")
        # the collector's storage holds inference tensors: a learned reward trains on copies
        td = rollout.clone() if self.learn else rollout
        bonus, stats = _bonus("IntrinsicRewardStage", self.intrinsic, td, self.learn)
        reward = rollout.get((keys.NEXT, keys.REWARD))
        if (keys.NEXT, EXTRINSIC_REWARD) not in rollout.keys(include_nested=True):
            rollout.set((keys.NEXT, EXTRINSIC_REWARD), reward.clone())
        rollout.set((keys.NEXT, INTRINSIC_REWARD), bonus)
        rollout.set((keys.NEXT, keys.REWARD), reward + self.coeff * bonus.to(reward.dtype))
        self.last_stats = {**stats, "intrinsic_reward_mean": float(bonus.mean())}
        return rollout

    def get_extra_state(self) -> dict:
        # a non-module reward's state rides along in the stage's state_dict
        return {} if isinstance(self.intrinsic, nn.Module) else {"intrinsic": self.intrinsic.state_dict()}

    def set_extra_state(self, state: dict) -> None:
        if "intrinsic" in state:
            self.intrinsic.load_state_dict(state["intrinsic"])
