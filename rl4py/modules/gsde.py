"""Generalized state-dependent exploration (gSDE, Raffin et al. 2021) for Gaussian policies.

The policy's action is ``mu(s) + z(s) @ W``: ``z(s)`` ``[*B, k]`` are the actor's last hidden
features and ``W`` ``[k, d]`` an exploration matrix with entries ``W_ij ~ N(0, sigma_ij^2)``, held
fixed for ``sample_freq`` steps (or a whole rollout) and drawn anew after. Over ``W`` the action is
Gaussian with mean ``mu(s)`` and per-dim variance ``sum_j z_j(s)^2 sigma_jd^2``, which is what
``log_prob`` and ``entropy`` use (Stable-Baselines3's ``StateDependentNoiseDistribution``). Holding
``W`` makes the exploration smooth in time: the same state gives the same perturbation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict import TensorDictBase
from torch import nn

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.modules.actors import ProbabilisticActor
from rl4py.modules.distributions import DiagGaussian

__all__ = ["GSDEActor", "GSDEParams"]


class GSDEParams(nn.Module):
    """``obs -> (loc, log_std)`` of a gSDE Gaussian, and the state-dependent noise for sampling.

    ``loc = mean_head(z)``, ``z = body(obs)``; ``log_std = 0.5 * log(z^2 @ exp(2 sigma) + epsilon)``
    with the learned ``sigma`` = :attr:`log_std` ``[k, d]``. As in SB3 (``learn_features=False``) the
    features enter the variance detached: the exploration scale trains ``sigma`` only.

    The noise :meth:`noise` returns is ``z @ W`` with one exploration matrix per batch entry
    (``W`` ``[*B, k, d]``, so each sub-env explores on its own), drawn at the first call after
    :meth:`reset_noise`, whenever the batch shape changes, and every ``sample_freq`` calls when
    ``sample_freq > 0``.

    Args:
        body: maps the inputs to the latent features ``[*B, k]`` (the actor's hidden layers).
        mean_head: ``Linear(k, d)`` giving the mean.
        init_log_std: initial value of every ``sigma_ij``.
        sample_freq: calls between new exploration matrices (``-1``: only after :meth:`reset_noise`,
            which the trainer calls before each rollout).
        epsilon: added to the variance (SB3's 1e-6).
        learn_features: let the variance's gradient reach the features.
        generator: draws the exploration matrices (default: torch's global RNG).

    Examples:
        >>> params = GSDEParams(nn.Sequential(nn.Linear(3, 8), nn.Tanh()), nn.Linear(8, 2))
        >>> loc, log_std = params(torch.zeros(5, 3))
        >>> loc.shape, log_std.shape, params.log_std.shape
        (torch.Size([5, 2]), torch.Size([5, 2]), torch.Size([8, 2]))
    """

    def __init__(
        self,
        body: nn.Module,
        mean_head: nn.Linear,
        init_log_std: float = 0.0,
        sample_freq: int = -1,
        epsilon: float = 1e-6,
        learn_features: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(mean_head, nn.Linear):
            raise TypeError(f"GSDEParams: mean_head must be an nn.Linear, got {type(mean_head).__name__}")
        if sample_freq == 0 or sample_freq < -1:
            raise ValueError(f"GSDEParams: sample_freq must be >= 1, or -1 for once per rollout, got {sample_freq}")
        if not epsilon > 0:
            raise ValueError(f"GSDEParams: epsilon must be > 0, got {epsilon}")
        self.body = body
        self.mean_head = mean_head
        self.latent_dim, self.action_dim = mean_head.in_features, mean_head.out_features
        self.log_std = nn.Parameter(torch.full((self.latent_dim, self.action_dim), float(init_log_std)))
        self.sample_freq = int(sample_freq)
        self.epsilon = float(epsilon)
        self.learn_features = learn_features
        self.generator = generator
        self._exploration: torch.Tensor | None = None
        self._calls = 0

    def params(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loc, log_std)`` ``[*B, d]`` from the features ``[*B, k]``."""
        if latent.shape[-1] != self.latent_dim:
            raise ValueError(
                f"GSDEParams: the body returned {latent.shape[-1]} features, expected {self.latent_dim} "
                "(the mean head's in_features)"
            )
        z = latent if self.learn_features else latent.detach()
        variance = z.square() @ (2.0 * self.log_std).exp()
        return self.mean_head(latent), 0.5 * torch.log(variance + self.epsilon)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.params(self.body(*inputs))

    def reset_noise(self) -> None:
        """Draw new exploration matrices at the next :meth:`noise` call (and restart its count)."""
        self._exploration = None
        self._calls = 0

    def sample_exploration(self, batch_shape: Sequence[int]) -> torch.Tensor:
        """Exploration matrices ``W`` ``[*batch_shape, k, d]`` with ``W_ij ~ N(0, exp(sigma_ij)^2)``."""
        std = self.log_std.detach().exp()
        g = self.generator
        device = std.device if g is None else g.device
        eps = torch.randn((*batch_shape, *std.shape), dtype=std.dtype, device=device, generator=g)
        return eps.to(std.device) * std

    def noise(self, latent: torch.Tensor) -> torch.Tensor:
        """The state-dependent noise ``z @ W`` ``[*B, d]`` for features ``[*B, k]`` (no gradient)."""
        batch = latent.shape[:-1]
        fresh = self.sample_freq > 0 and self._calls % self.sample_freq == 0
        if fresh or self._exploration is None or self._exploration.shape[:-2] != batch:
            self._exploration = self.sample_exploration(batch)
        self._calls += 1
        return (latent.detach().unsqueeze(-2) @ self._exploration).squeeze(-2)


class GSDEActor(ProbabilisticActor):
    """A Gaussian actor exploring with gSDE: samples ``loc + z @ W`` (:class:`GSDEParams`).

    Losses see a :class:`~rl4py.modules.distributions.DiagGaussian` with the state-dependent
    standard deviation (not clamped); the collector's actions are ``loc + z @ W`` (``tanh`` of it
    with ``tanh``), their log-probability under that Gaussian. Deterministic interaction returns
    the mean. Call :meth:`reset_noise` before each rollout (the PPO trainers do).

    Args:
        params: the network and exploration matrix.
        in_keys: entries fed to ``params.body``.
        tanh: squash actions into ``(-1, 1)``.
        action_key, log_prob_key, return_log_prob: as :class:`~rl4py.modules.ProbabilisticActor`.

    Examples:
        >>> from tensordict import TensorDict
        >>> actor = GSDEActor(GSDEParams(nn.Sequential(nn.Linear(3, 8), nn.Tanh()), nn.Linear(8, 1)))
        >>> td = actor(TensorDict({"observation": torch.zeros(4, 3)}, batch_size=[4]))
        >>> td["action"].shape, td["action_log_prob"].shape
        (torch.Size([4, 1]), torch.Size([4, 1]))
    """

    def __init__(
        self,
        params: GSDEParams,
        in_keys: Sequence[NestedKey] = (keys.OBSERVATION,),
        tanh: bool = False,
        action_key: NestedKey = keys.ACTION,
        log_prob_key: NestedKey = keys.ACTION_LOG_PROB,
        return_log_prob: bool = True,
    ) -> None:
        if not isinstance(params, GSDEParams):
            raise TypeError(f"GSDEActor: params must be a GSDEParams, got {type(params).__name__}")
        super().__init__(
            params,
            in_keys,
            dist_keys=[keys.LOC, keys.LOG_STD],
            distribution_class=DiagGaussian,
            distribution_kwargs={"tanh": tanh, "log_std_bounds": None},
            action_key=action_key,
            log_prob_key=log_prob_key,
            return_log_prob=return_log_prob,
        )

    def reset_noise(self) -> None:
        """New exploration matrices from the next step on (call at the start of each rollout)."""
        self.module.reset_noise()

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        latent = self.module.body(*(td.get(k) for k in self._module_in_keys))
        params = self.module.params(latent)
        dist = self._dist(td, params)

        def random_sample() -> torch.Tensor:
            u = params[0].detach() + self.module.noise(latent)
            return torch.tanh(u) if dist.tanh else u

        return self._write(td, params, dist, self._action(dist, random_sample))
