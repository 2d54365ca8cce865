"""Proximal policy optimization loss (clipped surrogate, optional dual clip, clipped value loss)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModule, TensorDictModuleBase

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.losses import functional as F
from rl4py.losses.common import LossModule
from rl4py.modules.actors import ProbabilisticActor

__all__ = ["PPOLoss"]

_ESTIMATOR = "a value estimator (for example rl4py.GAE) run on the rollout before the loss"


class PPOLoss(LossModule):
    """PPO loss with the details of CleanRL's ``ppo.py``.

    Terms (each a scalar; their sum is the loss)::

        loss_objective = -mean(min(r A, clip(r, 1-eps, 1+eps) A))      (dual clip: floored at c A where A < 0)
        loss_critic    = critic_coeff * mean(0.5 * max((V - R)^2, (V_clip - R)^2))
        loss_entropy   = -entropy_coeff * mean(H[pi])

    with ``A`` normalized per minibatch when ``normalize_advantage``. Diagnostics:
    ``approx_kl`` (``mean((r - 1) - log r)``), ``clip_fraction``, ``entropy``,
    ``explained_variance``.

    **Multi-head critic.** A critic writing ``"state_value"`` ``[*B, K]`` with ``K`` per-head
    targets ``"value_target"`` ``[*B, K]`` (:class:`~rl4py.values.MultiHeadGAE`; the advantage
    stays ``[*B, 1]``, the weighted sum): ``loss_critic`` is ``critic_coeff`` times the *sum* of
    the heads' value losses (each the mean above over its head), ``explained_variance`` is that of
    the summed values, and the diagnostics add ``value_loss_head{h}`` (before ``critic_coeff``) and
    ``explained_variance_head{h}`` for each head ``h``.

    Reads ``"observation"`` (the actor's and critic's in-keys), ``"action"``,
    ``"action_log_prob"``, ``"advantage"``, ``"value_target"`` and, for value clipping,
    ``"state_value"`` (the values at collection time, written by the estimator).

    Args:
        actor: the policy; :meth:`ProbabilisticActor.get_dist` gives the new distribution.
        critic: TensorDict module writing ``"state_value"``.
        clip_epsilon: surrogate clip range.
        dual_clip: dual-clip coefficient ``c > 1`` (applied only where ``A < 0``); ``None`` for
            standard PPO.
        entropy_coeff: weight of the entropy bonus.
        critic_coeff: weight of the value loss.
        clip_value: clip the value update to ``clip_epsilon`` (``True``), to a given range
            (float), or not at all (``False``/``None``).
        normalize_advantage: z-normalize advantages within each minibatch.
        compile: run the loss through ``torch.compile`` (built on the first call; its backward is
            compiled too). Off by default: on CPU it halves the forward + backward time of a 64-64
            MLP step but compiling takes tens of seconds, more than a whole CartPole run (see
            docs/benchmarks.md). Where compiling fails (no C++ compiler, an unsupported platform)
            the loss warns once and runs eagerly.
        action_key, log_prob_key, advantage_key, value_target_key, value_key: key overrides.

    Examples:
        >>> from rl4py.modules import make_discrete_actor_critic
        >>> actor, critic = make_discrete_actor_critic(4, 2)
        >>> loss = PPOLoss(actor, critic, dual_clip=3.0)
    """

    def __init__(
        self,
        actor: ProbabilisticActor,
        critic: TensorDictModuleBase,
        clip_epsilon: float = 0.2,
        dual_clip: float | None = None,
        entropy_coeff: float = 0.01,
        critic_coeff: float = 0.5,
        clip_value: bool | float | None = True,
        normalize_advantage: bool = True,
        *,
        compile: bool = False,
        action_key: NestedKey = keys.ACTION,
        log_prob_key: NestedKey = keys.ACTION_LOG_PROB,
        advantage_key: NestedKey = keys.ADVANTAGE,
        value_target_key: NestedKey = keys.VALUE_TARGET,
        value_key: NestedKey = keys.STATE_VALUE,
    ) -> None:
        super().__init__()
        if not hasattr(actor, "get_dist"):
            raise TypeError(f"PPOLoss: actor must have a get_dist(td) method, got {type(actor).__name__}")
        if not clip_epsilon > 0:
            raise ValueError(f"PPOLoss: clip_epsilon must be > 0, got {clip_epsilon}")
        if dual_clip is not None and not dual_clip > 1.0:
            raise ValueError(f"PPOLoss: dual_clip must be > 1 (the coefficient c), got {dual_clip}")
        if entropy_coeff < 0 or critic_coeff < 0:
            raise ValueError(
                f"PPOLoss: entropy_coeff and critic_coeff must be >= 0, got {entropy_coeff} and {critic_coeff}"
            )
        self.actor = actor
        self.critic = critic
        self.clip_epsilon = float(clip_epsilon)
        self.dual_clip = None if dual_clip is None else float(dual_clip)
        self.entropy_coeff = float(entropy_coeff)
        self.critic_coeff = float(critic_coeff)
        if clip_value is True:
            self.value_clip: float | None = self.clip_epsilon
        elif clip_value is False or clip_value is None:
            self.value_clip = None
        else:
            if not clip_value > 0:
                raise ValueError(f"PPOLoss: clip_value must be > 0, got {clip_value}")
            self.value_clip = float(clip_value)
        self.normalize_advantage = normalize_advantage
        self.use_compile = compile
        self._compiled: Callable[[TensorDictBase], TensorDict] | None = None
        self._compiled_ran = False
        self.action_key = action_key
        self.log_prob_key = log_prob_key
        self.advantage_key = advantage_key
        self.value_target_key = value_target_key
        self.value_key = value_key

    def _value(self, td: TensorDictBase) -> torch.Tensor:
        """The critic's ``[*B, K]`` values at ``td`` (with gradient; ``K = 1`` for a one-head critic)."""
        critic = self.critic
        if (
            type(critic) is TensorDictModule
            and critic._kwargs is None
            and critic.method is None
            and not critic.method_kwargs
            and not critic._get_kwargs
            and not critic._forward_hooks
            and not critic._forward_pre_hooks
            and critic.out_keys == [self.value_key]
        ):
            # a plain TensorDictModule: run its network on the inputs, as its forward would, without
            # building and writing an output TensorDict (a third of the step's time at batch 256)
            value = critic.module(*(td.get(key) for key in critic.in_keys))
            if isinstance(value, torch.Tensor):
                return value
        return critic(td.select(*critic.in_keys)).get(self.value_key)

    def forward(self, td: TensorDictBase) -> TensorDict:
        """Computes the loss terms on a minibatch ``td`` (any batch shape)."""
        if not self.use_compile:
            return self._terms(td)
        if self._compiled is None:
            self._compiled = torch.compile(self._terms, dynamic=False)
        if self._compiled_ran:
            return self._compiled(td)
        try:
            out = self._compiled(td)
        except Exception as err:  # compiling failed: run eagerly (an error in the inputs raises again there)
            warnings.warn(
                f"PPOLoss: torch.compile failed ({type(err).__name__}: {str(err)[:200]}); the loss runs eagerly",
                RuntimeWarning,
                stacklevel=2,
            )
            self.use_compile = False
            self._compiled = None
            return self._terms(td)
        self._compiled_ran = True
        return out

    def __getstate__(self) -> dict:
        # the compiled function is rebuilt on first use; it does not pickle or deep-copy
        state = self.__dict__.copy()
        state["_compiled"] = None
        state["_compiled_ran"] = False
        return state

    def _terms(self, td: TensorDictBase) -> TensorDict:
        # the estimator's and the collector's outputs are constants of the loss
        advantage = self._require(td, self.advantage_key, _ESTIMATOR).detach()
        value_target = self._require(td, self.value_target_key, _ESTIMATOR).detach()
        old_log_prob = self._require(
            td, self.log_prob_key, "the collector (the actor's log-prob at collection)"
        ).detach()
        action = self._require(td, self.action_key, "the collector")
        if self.normalize_advantage:
            advantage = F.normalize_advantage(advantage)

        dist = self.actor.get_dist(td)
        log_prob = dist.log_prob(action).unsqueeze(-1)
        if log_prob.shape != old_log_prob.shape:
            raise ValueError(
                f"PPOLoss: new log-prob has shape {tuple(log_prob.shape)} but {self.log_prob_key!r} has "
                f"{tuple(old_log_prob.shape)}; expected [*B, 1]"
            )
        log_ratio = log_prob - old_log_prob
        F._same_shape("clipped_surrogate", log_ratio=log_ratio, advantage=advantage)
        ratio = log_ratio.exp()  # one exp for the objective and the diagnostics
        objective = F._clipped_surrogate_of_ratio(ratio, advantage, self.clip_epsilon, self.dual_clip)
        entropy = dist.entropy().mean()

        value = self._value(td)
        old_value = (
            self._require(td, self.value_key, _ESTIMATOR + " (old values, for value clipping)").detach()
            if self.value_clip is not None
            else value
        )
        per_sample = F.clipped_value_loss(value, old_value, value_target, self.value_clip)
        heads = value.shape[-1]
        head_stats: dict[str, torch.Tensor] = {}
        if heads == 1:
            value_loss = per_sample.mean()
        else:  # one value loss per reward head (each like a one-head loss), summed
            head_losses = per_sample.reshape(-1, heads).mean(0)
            value_loss = head_losses.sum()

        with torch.no_grad():
            approx_kl = ((ratio - 1) - log_ratio).mean()
            clip_fraction = ((ratio - 1.0).abs() > self.clip_epsilon).float().mean()
            if heads == 1:
                explained = F.explained_variance(value, value_target)
            else:
                explained = F.explained_variance(value.sum(-1), value_target.sum(-1))
                for h in range(heads):
                    head_stats[f"value_loss_head{h}"] = head_losses[h].detach()
                    head_stats[f"explained_variance_head{h}"] = F.explained_variance(
                        value[..., h], value_target[..., h]
                    )
        return TensorDict(
            {
                "loss_objective": -objective.mean(),
                "loss_critic": self.critic_coeff * value_loss,
                "loss_entropy": -self.entropy_coeff * entropy,
                "entropy": entropy.detach(),
                "approx_kl": approx_kl,
                "clip_fraction": clip_fraction,
                "explained_variance": explained,
                **head_stats,
            },
            batch_size=[],
        )
