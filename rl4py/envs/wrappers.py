"""Env wrappers: each is an :class:`EnvBase` around another one and changes one thing (and
:class:`FrozenObservationNorm`, an :class:`ObservationNorm` frozen into a module for exports)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey

#: :class:`ObservationNorm`'s defaults: the clip of normalized observations and the variance epsilon
NORM_CLIP, NORM_EPSILON = 10.0, 1e-8

__all__ = [
    "EnvWrapper",
    "EpisodeStats",
    "FrozenObservationNorm",
    "NormalizeReward",
    "ObservationNorm",
    "RewardClip",
    "SumRewardHeads",
    "find_wrapper",
    "require_one_reward_head",
]


class EnvWrapper(EnvBase):
    """Base class of wrappers: forwards everything to ``env``; subclasses change one hook.

    Args:
        env: the wrapped env.
    """

    def __init__(self, env: EnvBase) -> None:
        if not isinstance(env, EnvBase):
            raise TypeError(f"{type(self).__name__}: env must be an rl4py EnvBase, got {type(env).__name__}")
        self.env = env
        super().__init__(
            num_envs=env.num_envs,
            single_observation_space=env.single_observation_space,
            single_action_space=env.single_action_space,
            device=env.device,
            validate=False,  # the inner env validates
        )

    @property
    def name(self) -> str:
        return f"{type(self).__name__}({self.env.name})"

    @property
    def exact_resume(self) -> bool:
        return self.env.exact_resume

    @property
    def observation_keys(self) -> tuple[NestedKey, ...]:
        # read through: an env may learn its keys at its first reset (GymEnv's mask_from="auto")
        return self.env.observation_keys

    @property
    def reward_heads(self) -> int:
        return self.env.reward_heads

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        return self.env.reset_tensors(seed)

    def _step(self, action: torch.Tensor) -> EnvStep:
        return self.env.step_tensors(action)

    # the wrapped env validates, so it defers and flushes its checks
    @property
    def can_defer_checks(self) -> bool:
        return self.env.can_defer_checks

    def defer_checks(self, enabled: bool = True) -> None:
        self.env.defer_checks(enabled)

    def flush_checks(self, wait: bool = False) -> None:
        self.env.flush_checks(wait)

    def discard_deferred_checks(self) -> None:
        self.env.discard_deferred_checks()

    def rand_action(self, generator: torch.Generator | None = None) -> torch.Tensor:
        # the wrapped env knows its masks
        return self.env.rand_action(generator)

    def state_dict(self) -> dict:
        return {"env": self.env.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.env.load_state_dict(state["env"])

    def close(self) -> None:
        self.env.close()

    def __getattr__(self, name: str):
        # reached only for attributes the wrapper lacks: look them up on the wrapped env
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)


def merge_moments(
    mean: torch.Tensor,
    var: torch.Tensor,
    count: torch.Tensor,
    batch_mean: torch.Tensor,
    batch_var: torch.Tensor,
    n: torch.Tensor | int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Running ``(mean, var, count)`` merged with a batch's ``(batch_mean, batch_var, n)`` (Chan et al.'s
    parallel update; ``var`` is the population variance). Shapes broadcast as the statistics do."""
    total = count + n
    delta = batch_mean - mean
    merged_var = (var * count + batch_var * n + delta.square() * (count * n / total)) / total
    return mean + delta * (n / total), merged_var, total


def require_one_reward_head(env: EnvBase, owner: str) -> None:
    """Raises ``ValueError`` unless ``env`` returns one reward ``[B, 1]`` (``reward_heads == 1``): for
    wrappers and adapters that would otherwise broadcast over, or drop, an env's reward heads."""
    if env.reward_heads != 1:
        raise ValueError(
            f"{owner}: needs a one-head reward [B, 1]; {env.name} has reward_heads={env.reward_heads} "
            "(sum the heads first with rl4py.envs.SumRewardHeads)"
        )


def find_wrapper(env: EnvBase, wrapper_type: type[EnvWrapper]) -> EnvWrapper | None:
    """Returns the outermost wrapper of type ``wrapper_type`` around ``env``, or ``None``."""
    while isinstance(env, EnvWrapper):
        if isinstance(env, wrapper_type):
            return env
        env = env.env
    return None


class RewardClip(EnvWrapper):
    """Clips ``("next", "reward")`` to ``[-limit, limit]``.

    Args:
        env: the wrapped env.
        limit: positive bound.
    """

    def __init__(self, env: EnvBase, limit: float = 1.0) -> None:
        if not limit > 0:
            raise ValueError(f"RewardClip: limit must be > 0, got {limit}")
        super().__init__(env)
        self.limit = float(limit)

    def _step(self, action: torch.Tensor) -> EnvStep:
        out = self.env.step_tensors(action)
        out.next[keys.REWARD] = out.next[keys.REWARD].clamp(-self.limit, self.limit)
        return out


class SumRewardHeads(EnvWrapper):
    """Turns an env's ``K`` reward heads ``[B, K]`` into one reward ``[B, 1]``: ``sum_h weights[h] * r_h``.

    The single-head baseline of a multi-head env (train a one-head critic on the summed reward).

    Args:
        env: an env with ``reward_heads = K > 1``.
        weights: ``K`` per-head weights (default: all ones, the plain sum).

    Examples:
        >>> from rl4py.envs import CoinCorridor
        >>> env = SumRewardHeads(CoinCorridor(num_envs=2))
        >>> _ = env.reset_tensors(0)
        >>> env.reward_heads, env.step_tensors(torch.ones(2, dtype=torch.int64)).next["reward"].shape
        (1, torch.Size([2, 1]))
    """

    def __init__(self, env: EnvBase, weights: tuple[float, ...] | list[float] | None = None) -> None:
        k = env.reward_heads
        if k < 2:
            raise ValueError(f"SumRewardHeads: {env.name} has reward_heads={k}; expected an env with 2 or more heads")
        weights = (1.0,) * k if weights is None else tuple(float(w) for w in weights)
        if len(weights) != k:
            raise ValueError(f"SumRewardHeads: weights must have one entry per reward head ({k}), got {weights}")
        super().__init__(env)
        self.weights = weights
        self._weights = torch.tensor(weights, dtype=torch.float32, device=self.device)

    @property
    def reward_heads(self) -> int:
        return 1

    def _step(self, action: torch.Tensor) -> EnvStep:
        out = self.env.step_tensors(action)
        reward = out.next[keys.REWARD]
        out.next[keys.REWARD] = (reward * self._weights.to(reward.dtype)).sum(-1, keepdim=True)
        return out


class ObservationNorm(EnvWrapper):
    """Normalizes ``"observation"`` by a running mean and variance, then clips to ``[-clip, clip]``.

    The statistics are updated with every observation the env returns: the reset batch, every
    true next observation and the first observation of every auto-reset episode (Welford's
    parallel update over the batch), unless :attr:`frozen`; they live in :meth:`state_dict`, so a resumed
    run normalizes exactly as before.

    Args:
        env: the wrapped env, with a ``Box`` observation space.
        clip: clip value of the normalized observation.
        epsilon: added to the variance before the square root.
        key: the observation entry to normalize.
    """

    def __init__(
        self, env: EnvBase, clip: float = NORM_CLIP, epsilon: float = NORM_EPSILON, key: NestedKey = keys.OBSERVATION
    ) -> None:
        super().__init__(env)
        space = env.single_observation_space
        if not isinstance(space, gym.spaces.Box):
            raise TypeError(f"ObservationNorm: needs a Box observation space, got {space}")
        if not np.issubdtype(space.dtype, np.floating):
            raise TypeError(
                f"ObservationNorm: needs floating observations, got a {space.dtype} Box {space}; normalized values "
                "cast back to integers are lost (images: ConvEncoder scales uint8 pixels itself)"
            )
        if not clip > 0:
            raise ValueError(f"ObservationNorm: clip must be > 0, got {clip}")
        self.clip = float(clip)
        self.epsilon = float(epsilon)
        self.key = key
        self.frozen = False
        shape = space.shape
        self.mean = torch.zeros(shape, dtype=torch.float64, device=self.device)
        self.var = torch.ones(shape, dtype=torch.float64, device=self.device)
        self.count = torch.zeros((), dtype=torch.float64, device=self.device)

    def update(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Merges a batch ``[B, *obs_shape]`` into the running statistics (Chan et al.).

        Args:
            obs: the observations.
            mask: optional ``[B]`` bool, the rows to merge (no host sync: an empty mask merges nothing).
        """
        batch = obs.to(torch.float64)
        if mask is None:
            n = torch.tensor(float(batch.shape[0]), dtype=torch.float64, device=batch.device)
            batch_mean = batch.mean(0)
            batch_var = batch.var(0, unbiased=False)
        else:
            weight = mask.to(torch.float64).view(-1, *([1] * (batch.dim() - 1)))
            n = weight.sum()
            batch_mean = (batch * weight).sum(0) / n.clamp(min=1.0)
            batch_var = ((batch - batch_mean).square() * weight).sum(0) / n.clamp(min=1.0)
        self.mean, self.var, self.count = merge_moments(self.mean, self.var, self.count, batch_mean, batch_var, n)

    def as_module(self) -> FrozenObservationNorm:
        """This wrapper's normalization with its current statistics frozen, as a module (for an export)."""
        return FrozenObservationNorm(self.mean, self.var, self.clip, self.epsilon)

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        """Returns ``clip((obs - mean) / sqrt(var + eps))`` in ``obs``'s dtype."""
        out = (obs - self.mean) / torch.sqrt(self.var + self.epsilon)
        return out.clamp(-self.clip, self.clip).to(obs.dtype)

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        obs = self.env.reset_tensors(seed)
        if not self.frozen:
            self.update(obs[self.key])
        obs[self.key] = self.normalize(obs[self.key])
        return obs

    def _step(self, action: torch.Tensor) -> EnvStep:
        out = self.env.step_tensors(action)
        if not self.frozen:
            self.update(out.next[self.key])
            # the first observation of each new episode (roots of finished sub-envs)
            self.update(out.root[self.key], mask=out.next[keys.DONE].squeeze(-1))
        out.next[self.key] = self.normalize(out.next[self.key])
        out.root[self.key] = self.normalize(out.root[self.key])
        return out

    def state_dict(self) -> dict:
        return {
            "env": self.env.state_dict(),
            "mean": self.mean.clone(),
            "var": self.var.clone(),
            "count": self.count.clone(),
            "frozen": self.frozen,
        }

    def load_state_dict(self, state: dict) -> None:
        self.env.load_state_dict(state["env"])
        self.mean = state["mean"].to(self.device, torch.float64).clone()
        self.var = state["var"].to(self.device, torch.float64).clone()
        self.count = state["count"].to(self.device, torch.float64).clone()
        self.frozen = bool(state["frozen"])


class FrozenObservationNorm(nn.Module):
    """:class:`ObservationNorm`'s normalization with frozen statistics, as a module:
    ``clip((obs - mean) / sqrt(var + eps), -clip, clip)`` computed in float64 as the wrapper does,
    returned in the observation's dtype (equal to the wrapper's bit for bit). Exports
    (``observation_transform=``) bake it in.

    Args:
        mean, var: ``[*obs_shape]`` running statistics (an :class:`ObservationNorm`'s, or its checkpoint's).
        clip: the clip value (the wrapper's default).
        epsilon: added to the variance (the wrapper's default).
    """

    def __init__(
        self, mean: torch.Tensor, var: torch.Tensor, clip: float = NORM_CLIP, epsilon: float = NORM_EPSILON
    ) -> None:
        super().__init__()
        if mean.shape != var.shape:
            raise ValueError(f"FrozenObservationNorm: mean {tuple(mean.shape)} and var {tuple(var.shape)} differ")
        self.register_buffer("mean", mean.detach().to(torch.float64).clone())
        self.register_buffer("std", torch.sqrt(var.detach().to(torch.float64) + epsilon))
        self.clip = float(clip)

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        out = (observation.to(torch.float64) - self.mean) / self.std
        return out.clamp(-self.clip, self.clip).to(observation.dtype)


class EpisodeStats(EnvWrapper):
    """Writes ``("next", "episode_return")`` and ``("next", "episode_length")`` at every step.

    Both are the running totals of the current episode, so where ``("next", "done")`` is true
    they are the whole episode's return and length. The accumulators live in the wrapper, so
    an episode longer than a rollout is counted once, whole.

    For an env with ``K > 1`` reward heads (:attr:`~rl4py.envs.EnvBase.reward_heads`),
    ``"episode_return"`` ``[B, 1]`` is the unweighted sum over the heads (the env's total reward:
    head weights are a training choice, not part of the task) and ``("next", "episode_head_returns")``
    ``[B, K]`` keeps each head's return.

    Args:
        env: the wrapped env.
    """

    def __init__(self, env: EnvBase) -> None:
        super().__init__(env)
        #: each head's running return ``[B, K]`` (``[B, 1]`` for a one-head env)
        self.episode_return = torch.zeros(self.num_envs, self.reward_heads, dtype=torch.float32, device=self.device)
        self.episode_length = torch.zeros(self.num_envs, 1, dtype=torch.int64, device=self.device)

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        # fresh tensors, not zero_(): the old ones may be inference tensors made by a collector
        self.episode_return = torch.zeros_like(self.episode_return)
        self.episode_length = torch.zeros_like(self.episode_length)
        return self.env.reset_tensors(seed)

    def _step(self, action: torch.Tensor) -> EnvStep:
        out = self.env.step_tensors(action)
        ret = self.episode_return + out.next[keys.REWARD]
        length = self.episode_length + 1
        if ret.shape[-1] == 1:
            out.next[keys.EPISODE_RETURN] = ret
        else:
            out.next[keys.EPISODE_RETURN] = ret.sum(-1, keepdim=True)
            out.next[keys.EPISODE_HEAD_RETURNS] = ret
        out.next[keys.EPISODE_LENGTH] = length
        done = out.next[keys.DONE]
        self.episode_return = ret.masked_fill(done, 0.0)
        self.episode_length = length.masked_fill(done, 0)
        return out

    def state_dict(self) -> dict:
        return {
            "env": self.env.state_dict(),
            "episode_return": self.episode_return.clone(),
            "episode_length": self.episode_length.clone(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.env.load_state_dict(state["env"])
        if tuple(state["episode_return"].shape) != tuple(self.episode_return.shape):
            raise ValueError(
                f"{self.name}: the checkpoint's episode_return has shape {tuple(state['episode_return'].shape)}, "
                f"expected {tuple(self.episode_return.shape)} ([num_envs, reward_heads])"
            )
        self.episode_return = state["episode_return"].to(self.device).clone()
        self.episode_length = state["episode_length"].to(self.device).clone()


class NormalizeReward(EnvWrapper):
    """Scales ``("next", "reward")`` by the running standard deviation of the discounted return.

    gymnasium's ``NormalizeReward`` (its vector version with same-step auto-reset, which is how rl4py
    envs reset) on a batched env: each sub-env keeps a discounted return ``G``; every step

    ``G = gamma * G * (1 - terminated) + r``, then the running variance ``var`` of ``G`` merges the
    batch ``G[B]`` (Chan et al.'s parallel update, starting from mean 0, variance 1 and count 1e-4),
    then ``G = 0`` where the episode ended (terminated or truncated), and the env returns
    ``r / sqrt(var + epsilon)``. The mean is not subtracted (rewards keep their sign).

    A critic then sees targets of order one whatever the env's reward scale, so a global gradient-norm
    clip does not starve the actor (Pendulum's returns are in the hundreds). The statistics are updated
    unless :attr:`frozen` and live in :meth:`state_dict` with the per-sub-env returns, so a resumed run
    scales exactly as before.

    Episode statistics must count the env's own rewards: unless ``env`` already contains an
    :class:`EpisodeStats`, this wrapper puts one directly around ``env`` (inside the scaling), so
    ``("next", "episode_return")`` and the trainers' solve criteria stay in unscaled rewards.

    Args:
        env: the wrapped env.
        gamma: discount of the tracked return (use the algorithm's ``gamma``).
        epsilon: added to the variance before the square root.

    Examples:
        >>> from rl4py.envs.pendulum import Pendulum
        >>> env = NormalizeReward(Pendulum(num_envs=4), gamma=0.9)
        >>> _ = env.reset_tensors(0)
        >>> out = env.step_tensors(torch.zeros(4, 1))
        >>> out.next["reward"].shape, env.count.item() > 4
        (torch.Size([4, 1]), True)
    """

    def __init__(self, env: EnvBase, gamma: float = 0.99, epsilon: float = 1e-8) -> None:
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"NormalizeReward: gamma must be in [0, 1], got {gamma}")
        if not epsilon > 0:
            raise ValueError(f"NormalizeReward: epsilon must be > 0, got {epsilon}")
        require_one_reward_head(env, "NormalizeReward")
        super().__init__(env if find_wrapper(env, EpisodeStats) is not None else EpisodeStats(env))
        self.gamma = float(gamma)
        self.epsilon = float(epsilon)
        self.frozen = False
        self.mean = torch.zeros((), dtype=torch.float64, device=self.device)
        self.var = torch.ones((), dtype=torch.float64, device=self.device)
        self.count = torch.full((), 1e-4, dtype=torch.float64, device=self.device)
        #: the discounted return of each sub-env's current episode, ``[B, 1]``
        self.returns = torch.zeros(self.num_envs, 1, dtype=torch.float64, device=self.device)

    def update(self, returns: torch.Tensor) -> None:
        """Merges a batch of returns ``[B, 1]`` into the running mean and variance."""
        batch = returns.reshape(-1).to(torch.float64)
        n = batch.shape[0]
        batch_mean, batch_var = batch.mean(), batch.var(unbiased=False)
        self.mean, self.var, self.count = merge_moments(self.mean, self.var, self.count, batch_mean, batch_var, n)

    def scale(self, reward: torch.Tensor) -> torch.Tensor:
        """``reward / sqrt(var + epsilon)`` in ``reward``'s dtype."""
        return (reward / torch.sqrt(self.var + self.epsilon)).to(reward.dtype)

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        # fresh tensors, not zero_(): the old ones may be inference tensors made by a collector
        self.returns = torch.zeros_like(self.returns)
        return self.env.reset_tensors(seed)

    def _step(self, action: torch.Tensor) -> EnvStep:
        out = self.env.step_tensors(action)
        reward = out.next[keys.REWARD]
        # gymnasium's order: the terminal step's G is its reward alone, then G restarts at 0
        returns = self.returns * self.gamma * (~out.next[keys.TERMINATED]) + reward
        if not self.frozen:
            self.update(returns)
        self.returns = returns.masked_fill(out.next[keys.DONE], 0.0)
        out.next[keys.REWARD] = self.scale(reward)
        return out

    def state_dict(self) -> dict:
        return {
            "env": self.env.state_dict(),
            "mean": self.mean.clone(),
            "var": self.var.clone(),
            "count": self.count.clone(),
            "returns": self.returns.clone(),
            "frozen": self.frozen,
        }

    def load_state_dict(self, state: dict) -> None:
        self.env.load_state_dict(state["env"])
        for name in ("mean", "var", "count", "returns"):
            setattr(self, name, state[name].to(self.device, torch.float64).clone())
        self.frozen = bool(state["frozen"])
