"""TD(lambda) returns with per-step continuation probabilities as a swappable :class:`ValueEstimator`."""

from __future__ import annotations

from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.values.base import ValueEstimator, register_value_estimator
from rl4py.values.functional import td_lambda_return_estimate

__all__ = ["TDLambda"]


@register_value_estimator("td_lambda")
class TDLambda(ValueEstimator):
    """Lambda-returns ``R_t = r_t + gamma c_t ((1 - lambda) V(s'_t) + lambda R_{t+1})`` (DreamerV3's value targets).

    ``c_t`` is the probability that the episode goes on after step ``t``. On env rollouts it is
    ``1 - terminated`` (read from ``("next", "terminated")``), and ``("next", "done")`` cuts the
    recursion, so a truncated step bootstraps from the true next observation: the targets then
    equal ``GAE``'s with the same ``gamma`` and ``lmbda``. In imagination (Dreamer) pass
    ``continuation_key`` to read a predicted probability from ``("next", continuation_key)``; the
    done entry is then optional (imagined rollouts have none). The last step bootstraps from
    ``V(s'_{T-1})``. Writes ``"value_target" = R_t`` and ``"advantage" = R_t - V(s_t)``. See
    :func:`rl4py.values.functional.td_lambda_return_estimate`.

    Unlike the other estimators it does not detach the rollout's entries: on an imagined rollout
    whose rewards and values carry the world model's and critic's graph, the returns do too (the
    dynamics back-propagation of Dreamer's actor). The losses detach what they treat as constants.

    Args:
        gamma: discount in ``[0, 1]``.
        lmbda: lambda in ``[0, 1]`` (0: one-step TD targets, 1: Monte Carlo return plus bootstrap).
        value_network: critic run on the rollout (root and ``"next"``) before estimation;
            ``None`` if the rollout already holds ``"state_value"`` and ``("next", "state_value")``.
        continuation_key: name of the continuation-probability entry under ``"next"`` (``[*B, T, 1]``,
            in ``[0, 1]``), or ``None`` to use ``1 - terminated``.
        **key_overrides: see :class:`ValueEstimator`.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> td = TensorDict({"state_value": torch.zeros(1, 3, 1), "next": {
        ...     "state_value": torch.tensor([[[2.0], [4.0], [8.0]]]),
        ...     "reward": torch.tensor([[[1.0], [2.0], [0.0]]]),
        ...     "continue": torch.tensor([[[1.0], [0.5], [1.0]]])}}, batch_size=[1, 3])
        >>> TDLambda(gamma=0.5, lmbda=0.5, continuation_key="continue")(td)["value_target"][0, :, 0]
        tensor([2.2500, 3.0000, 4.0000])
    """

    detach_inputs = False

    def __init__(
        self,
        gamma: float = 0.99,
        lmbda: float = 0.95,
        value_network: TensorDictModuleBase | None = None,
        continuation_key: NestedKey | None = None,
        **key_overrides: NestedKey,
    ) -> None:
        super().__init__(value_network, **key_overrides)
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"TDLambda: gamma must be in [0, 1], got {gamma}")
        if not 0.0 <= lmbda <= 1.0:
            raise ValueError(f"TDLambda: lmbda must be in [0, 1], got {lmbda}")
        self.gamma = float(gamma)
        self.lmbda = float(lmbda)
        self.continuation_key = None if continuation_key is None else keys.next_key(continuation_key)

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        value, next_value = self.values(td)
        if self.continuation_key is None:
            continuation = ~self._get(td, self.terminated_key, "the env").bool()
            done = self._get(td, self.done_key, "the env")
        else:
            continuation = self._get(td, self.continuation_key, "the world model's continue predictor")
            done = td.get(self.done_key, None)
        advantage, value_target = td_lambda_return_estimate(
            self.gamma,
            self.lmbda,
            state_value=value,
            next_state_value=next_value,
            reward=self._get(td, self.reward_key, "the env"),
            continuation=continuation,
            done=done,
        )
        td.set(self.advantage_key, advantage)
        td.set(self.value_target_key, value_target)
        return td
