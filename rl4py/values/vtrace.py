"""V-trace (IMPALA) as a swappable :class:`ValueEstimator`."""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.values.base import ValueEstimator, register_value_estimator
from rl4py.values.functional import vtrace_advantage_estimate
from rl4py.values.importance import check_actor, importance_log_ratio

__all__ = ["TARGET_LOG_PROB", "VTrace"]

#: default key of the learner policy's log-probability of the stored action, read when ``actor`` is not given
TARGET_LOG_PROB = keys.TARGET_LOG_PROB


@register_value_estimator("vtrace")
class VTrace(ValueEstimator):
    """V-trace off-policy value targets and policy-gradient advantages (Espeholt et al., 2018).

    The rollout was collected by a behaviour policy ``mu`` (its log-probabilities are in
    ``"action_log_prob"``); the learner policy ``pi`` may be several updates ahead. The
    importance log-ratio is ``log_rho = log pi(a|s) - log mu(a|s)``, taken from ``actor`` if given
    (``actor.get_dist(td).log_prob(td["action"])``, without gradient; stored under
    ``"target_log_prob"`` for later stages) and otherwise from the ``"target_log_prob"`` entry.
    Writes the V-trace targets ``v_s`` to ``"value_target"`` and the advantages
    ``rho_s * (r_s + gamma * v_{s+1} - V(s_s))`` to ``"advantage"``. Terminated steps do not
    bootstrap, truncated ones bootstrap from the true next observation, and both cut the trace.
    See :func:`rl4py.values.functional.vtrace_advantage_estimate`.

    With ``log_rho = 0`` and ``rho_bar, c_bar >= 1`` the value targets are those of
    ``GAE(lmbda=1)``.

    Args:
        gamma: discount in ``[0, 1]``.
        rho_bar: clipping threshold of the importance weights (> 0).
        c_bar: clipping threshold of the traces (> 0).
        value_network: critic run on the rollout (root and ``"next"``) before estimation;
            ``None`` if the rollout already holds ``"state_value"`` and ``("next", "state_value")``.
        actor: the learner policy, any object with ``get_dist(td) -> torch.distributions.Distribution``
            (such as :class:`rl4py.modules.ProbabilisticActor`); ``None`` to read ``target_log_prob_key``.
        target_log_prob_key: entry holding ``log pi(a_t|s_t)`` ``[*B, T, 1]`` when ``actor`` is ``None``.
        action_key: the stored action fed to ``actor``'s distribution.
        log_prob_key: the behaviour policy's log-probability ``[*B, T, 1]``.
        **key_overrides: see :class:`ValueEstimator`.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> td = TensorDict({"state_value": torch.zeros(1, 3, 1), "action_log_prob": torch.zeros(1, 3, 1),
        ...     "target_log_prob": torch.zeros(1, 3, 1), "next": {
        ...     "state_value": torch.zeros(1, 3, 1), "reward": torch.ones(1, 3, 1),
        ...     "done": torch.zeros(1, 3, 1, dtype=torch.bool),
        ...     "terminated": torch.zeros(1, 3, 1, dtype=torch.bool)}}, batch_size=[1, 3])
        >>> VTrace(gamma=0.5)(td)["value_target"][0, :, 0]
        tensor([1.7500, 1.5000, 1.0000])
    """

    def __init__(
        self,
        gamma: float = 0.99,
        rho_bar: float = 1.0,
        c_bar: float = 1.0,
        value_network: TensorDictModuleBase | None = None,
        actor: Any | None = None,
        *,
        target_log_prob_key: NestedKey = TARGET_LOG_PROB,
        action_key: NestedKey = keys.ACTION,
        log_prob_key: NestedKey = keys.ACTION_LOG_PROB,
        **key_overrides: NestedKey,
    ) -> None:
        super().__init__(value_network, **key_overrides)
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"VTrace: gamma must be in [0, 1], got {gamma}")
        for name, value in (("rho_bar", rho_bar), ("c_bar", c_bar)):
            if not value > 0:
                raise ValueError(f"VTrace: {name} must be a positive clipping threshold (> 0), got {value}")
        check_actor("VTrace", actor)
        self.gamma = float(gamma)
        self.rho_bar = float(rho_bar)
        self.c_bar = float(c_bar)
        self.actor = actor
        self.target_log_prob_key = target_log_prob_key
        self.action_key = action_key
        self.log_prob_key = log_prob_key

    def log_rho(self, td: TensorDictBase) -> torch.Tensor:
        """Returns ``log pi(a_t|s_t) - log mu(a_t|s_t)`` ``[*B, T, 1]`` (no gradient); with ``actor``
        it also stores ``log pi`` under ``target_log_prob_key`` (UPGO's importance weights reuse it)."""
        return importance_log_ratio(
            self,
            td,
            self.actor,
            action_key=self.action_key,
            log_prob_key=self.log_prob_key,
            target_log_prob_key=self.target_log_prob_key,
        )

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        value, next_value = self.values(td)
        advantage, value_target = vtrace_advantage_estimate(
            self.gamma,
            log_rho=self.log_rho(td),
            state_value=value,
            next_state_value=next_value,
            reward=self._get(td, self.reward_key, "the env"),
            done=self._get(td, self.done_key, "the env"),
            terminated=self._get(td, self.terminated_key, "the env"),
            rho_bar=self.rho_bar,
            c_bar=self.c_bar,
        )
        td.set(self.advantage_key, advantage)
        td.set(self.value_target_key, value_target)
        return td
