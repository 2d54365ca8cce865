"""Actor-critic (A2C / IMPALA) loss: policy gradient on given advantages, value regression, entropy."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModuleBase

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.losses import functional as F
from rl4py.losses.common import LossModule
from rl4py.modules.actors import ProbabilisticActor

__all__ = ["ActorCriticLoss"]

_ESTIMATOR = "a value estimator (VTrace for IMPALA, GAE, UPGO, ...) run on the rollout before the loss"


class ActorCriticLoss(LossModule):
    """The IMPALA / A2C loss; with V-trace targets and advantages it is IMPALA's learner loss.

    Terms::

        loss_objective = -sum_k mean(A_k * log pi(a|s))        over the advantage keys k
        loss_critic    = critic_coeff * mean(0.5 * (V(s) - value_target)^2)
        loss_entropy   = -entropy_coeff * mean(H[pi(.|s)])

    The advantages and value targets come from a value estimator stage and are treated as
    constants. Off-policy correction lives in the estimator: :class:`~rl4py.values.VTrace`
    weights its advantages by the clipped importance ratio ``min(rho_bar, pi/mu)``, so stale
    rollouts (collected by an older policy) train correctly. Several advantage keys add up, as
    in ROA-Star's V-trace + UPGO policy gradient.

    Diagnostics: ``entropy``, ``explained_variance``, ``approx_kl`` against the behaviour
    policy's ``"action_log_prob"`` (when present).

    Args:
        actor: the policy (with ``get_dist(td)``).
        critic: TensorDict module writing ``"state_value"``.
        entropy_coeff: weight of the entropy bonus (IMPALA used 0.01 on Atari).
        critic_coeff: weight of the value loss.
        advantage_keys: advantage entries whose policy-gradient terms are summed.
        value_target_key, action_key, log_prob_key, value_key: key overrides.

    Examples:
        >>> from rl4py.modules import make_discrete_actor_critic
        >>> actor, critic = make_discrete_actor_critic(4, 2)
        >>> loss = ActorCriticLoss(actor, critic, advantage_keys=("advantage", "upgo_advantage"))
    """

    def __init__(
        self,
        actor: ProbabilisticActor,
        critic: TensorDictModuleBase,
        entropy_coeff: float = 0.01,
        critic_coeff: float = 0.5,
        advantage_keys: Sequence[NestedKey] = (keys.ADVANTAGE,),
        *,
        value_target_key: NestedKey = keys.VALUE_TARGET,
        action_key: NestedKey = keys.ACTION,
        log_prob_key: NestedKey = keys.ACTION_LOG_PROB,
        value_key: NestedKey = keys.STATE_VALUE,
    ) -> None:
        super().__init__()
        if not hasattr(actor, "get_dist"):
            raise TypeError(f"ActorCriticLoss: actor must have a get_dist(td) method, got {type(actor).__name__}")
        if entropy_coeff < 0 or critic_coeff < 0:
            raise ValueError(
                f"ActorCriticLoss: entropy_coeff and critic_coeff must be >= 0, got {entropy_coeff} and {critic_coeff}"
            )
        if isinstance(advantage_keys, str) or not advantage_keys:
            raise ValueError(
                f"ActorCriticLoss: advantage_keys must be a non-empty sequence of keys, got {advantage_keys!r}"
            )
        self.actor = actor
        self.critic = critic
        self.entropy_coeff = float(entropy_coeff)
        self.critic_coeff = float(critic_coeff)
        self.advantage_keys = list(advantage_keys)
        self.value_target_key = value_target_key
        self.action_key = action_key
        self.log_prob_key = log_prob_key
        self.value_key = value_key

    def forward(self, td: TensorDictBase) -> TensorDict:
        """Computes the loss terms on a batch ``td`` (any batch shape)."""
        advantages = [self._require(td, key, _ESTIMATOR) for key in self.advantage_keys]
        value_target = self._require(td, self.value_target_key, _ESTIMATOR)
        action = self._require(td, self.action_key, "the collector")

        dist = self.actor.get_dist(td)
        log_prob = dist.log_prob(action).unsqueeze(-1)
        for key, advantage in zip(self.advantage_keys, advantages):
            if advantage.shape != log_prob.shape:
                raise ValueError(
                    f"ActorCriticLoss: {key!r} has shape {tuple(advantage.shape)}, expected {tuple(log_prob.shape)} "
                    "([*B, 1], like the log-prob)"
                )
        objective = sum((advantage.detach() * log_prob).mean() for advantage in advantages)
        entropy = dist.entropy().mean()
        value = self.critic(td.select(*self.critic.in_keys)).get(self.value_key)
        if value.shape != value_target.shape:
            raise ValueError(
                f"ActorCriticLoss: {self.value_target_key!r} has shape {tuple(value_target.shape)}, expected "
                f"{tuple(value.shape)} (the critic's {self.value_key!r})"
            )
        value_loss = 0.5 * (value - value_target.detach()).square().mean()

        out = {
            "loss_objective": -objective,
            "loss_critic": self.critic_coeff * value_loss,
            "loss_entropy": -self.entropy_coeff * entropy,
            "entropy": entropy.detach(),
        }
        with torch.no_grad():
            out["explained_variance"] = F.explained_variance(value, value_target)
            behaviour = td.get(self.log_prob_key, None)
            if behaviour is not None:
                log_ratio = log_prob - behaviour
                out["approx_kl"] = ((log_ratio.exp() - 1) - log_ratio).mean()
        return TensorDict(out, batch_size=[])
