"""UPGO, the upgoing policy-gradient return, as a swappable :class:`ValueEstimator`."""

from __future__ import annotations

from typing import Any

from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.values.base import ValueEstimator, register_value_estimator
from rl4py.values.functional import upgo_advantage_estimate
from rl4py.values.importance import check_actor, importance_log_ratio

__all__ = ["UPGO"]


@register_value_estimator("upgo")
class UPGO(ValueEstimator):
    """Upgoing policy gradient (AlphaStar, Vinyals et al., 2019; used with V-trace by ROA-Star).

    The return follows the trajectory only while the next action did at least as well as the
    critic expected (its one-step TD error is ``>= 0``) and falls back on the value estimate at
    the first step that did worse, so the policy imitates only its better-than-expected
    continuations::

        G_t = r_t + gamma * G_{t+1}     if not done_t, t < T-1 and r_{t+1} + gamma V(s'_{t+1}) >= V(s_{t+1})
        G_t = r_t + gamma * (1 - terminated_t) * V(s'_t)   otherwise

    Writes ``"advantage" = G_t - V(s_t)`` and ``"value_target" = G_t``. The UPGO return is biased
    upwards; it is meant for the policy gradient. Train the critic on another estimator's targets
    (V-trace, GAE) and pass ``write_value_target=False`` (with a different ``advantage_key``) to
    run UPGO after it in the same pipeline. See
    :func:`rl4py.values.functional.upgo_advantage_estimate`.

    Off-policy rollouts: with ``rho_bar`` the advantage is weighted by the clipped importance
    ratio ``min(rho_bar, pi(a|s) / mu(a|s))`` (AlphaStar clips at 1). ``log pi`` is read from
    ``"target_log_prob"`` when an earlier stage stored it (:class:`~rl4py.values.VTrace` with an
    actor does), otherwise computed with ``actor``; ``log mu`` is the stored ``"action_log_prob"``.

    Args:
        gamma: discount in ``[0, 1]``.
        value_network: critic run on the rollout (root and ``"next"``) before estimation;
            ``None`` if the rollout already holds ``"state_value"`` and ``("next", "state_value")``.
        write_value_target: write ``G_t`` to ``value_target_key``; ``False`` writes only the advantage.
        rho_bar: clip of the importance weights of the advantage (> 0); ``None``: unweighted (on-policy).
        actor: the learner policy (``get_dist(td)``), used when ``rho_bar`` is set and no stored
            ``target_log_prob_key`` entry exists.
        target_log_prob_key, action_key, log_prob_key: entries of ``log pi``, the action and ``log mu``.
        **key_overrides: see :class:`ValueEstimator`.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> td = TensorDict({"state_value": torch.tensor([[[0.0], [1.0], [0.0]]]), "next": {
        ...     "state_value": torch.tensor([[[1.0], [0.0], [2.0]]]),
        ...     "reward": torch.tensor([[[0.0], [1.0], [2.0]]]),
        ...     "done": torch.zeros(1, 3, 1, dtype=torch.bool),
        ...     "terminated": torch.zeros(1, 3, 1, dtype=torch.bool)}}, batch_size=[1, 3])
        >>> UPGO(gamma=0.5)(td)["advantage"][0, :, 0]
        tensor([1.2500, 1.5000, 3.0000])
    """

    def __init__(
        self,
        gamma: float = 0.99,
        value_network: TensorDictModuleBase | None = None,
        write_value_target: bool = True,
        rho_bar: float | None = None,
        actor: Any | None = None,
        *,
        target_log_prob_key: NestedKey = keys.TARGET_LOG_PROB,
        action_key: NestedKey = keys.ACTION,
        log_prob_key: NestedKey = keys.ACTION_LOG_PROB,
        **key_overrides: NestedKey,
    ) -> None:
        super().__init__(value_network, **key_overrides)
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"UPGO: gamma must be in [0, 1], got {gamma}")
        if rho_bar is not None and not rho_bar > 0:
            raise ValueError(f"UPGO: rho_bar must be a positive clipping threshold (> 0) or None, got {rho_bar}")
        check_actor("UPGO", actor)
        self.gamma = float(gamma)
        self.write_value_target = write_value_target
        self.rho_bar = None if rho_bar is None else float(rho_bar)
        self.actor = actor
        self.target_log_prob_key = target_log_prob_key
        self.action_key = action_key
        self.log_prob_key = log_prob_key

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        value, next_value = self.values(td)
        advantage, value_target = upgo_advantage_estimate(
            self.gamma,
            state_value=value,
            next_state_value=next_value,
            reward=self._get(td, self.reward_key, "the env"),
            done=self._get(td, self.done_key, "the env"),
            terminated=self._get(td, self.terminated_key, "the env"),
        )
        if self.rho_bar is not None:
            log_rho = importance_log_ratio(
                self,
                td,
                self.actor,
                action_key=self.action_key,
                log_prob_key=self.log_prob_key,
                target_log_prob_key=self.target_log_prob_key,
                prefer_stored=True,
            )
            advantage = advantage * log_rho.exp().clamp(max=self.rho_bar)
        td.set(self.advantage_key, advantage)
        if self.write_value_target:
            td.set(self.value_target_key, value_target)
        return td
