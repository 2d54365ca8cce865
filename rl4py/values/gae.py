"""Generalized advantage estimation as a swappable :class:`ValueEstimator`."""

from __future__ import annotations

from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase

from rl4py.values.base import ValueEstimator, register_value_estimator
from rl4py.values.functional import generalized_advantage_estimate

__all__ = ["GAE"]


@register_value_estimator("gae")
class GAE(ValueEstimator):
    """Generalized advantage estimation (Schulman et al., 2015).

    Terminated steps do not bootstrap; truncated steps bootstrap from the value of the true
    next observation; both cut the recursion. See
    :func:`rl4py.values.functional.generalized_advantage_estimate`.

    Args:
        gamma: discount.
        lmbda: GAE lambda (0: one-step TD, 1: Monte Carlo minus baseline).
        value_network: critic run on the rollout (root and ``"next"``) before estimation;
            ``None`` if the rollout already holds ``"state_value"`` and ``("next", "state_value")``.
        **key_overrides: see :class:`ValueEstimator`.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> td = TensorDict({"state_value": torch.zeros(2, 3, 1), "next": {
        ...     "state_value": torch.zeros(2, 3, 1), "reward": torch.ones(2, 3, 1),
        ...     "done": torch.zeros(2, 3, 1, dtype=torch.bool),
        ...     "terminated": torch.zeros(2, 3, 1, dtype=torch.bool)}}, batch_size=[2, 3])
        >>> GAE(gamma=0.5, lmbda=1.0)(td)["advantage"][0, :, 0]
        tensor([1.7500, 1.5000, 1.0000])
    """

    def __init__(
        self,
        gamma: float = 0.99,
        lmbda: float = 0.95,
        value_network: TensorDictModuleBase | None = None,
        **key_overrides,
    ) -> None:
        super().__init__(value_network, **key_overrides)
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"GAE: gamma must be in [0, 1], got {gamma}")
        if not 0.0 <= lmbda <= 1.0:
            raise ValueError(f"GAE: lmbda must be in [0, 1], got {lmbda}")
        self.gamma = float(gamma)
        self.lmbda = float(lmbda)

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        value, next_value = self.values(td)
        advantage, value_target = generalized_advantage_estimate(
            self.gamma,
            self.lmbda,
            state_value=value,
            next_state_value=next_value,
            reward=self._get(td, self.reward_key, "the env"),
            done=self._get(td, self.done_key, "the env"),
            terminated=self._get(td, self.terminated_key, "the env"),
        )
        td.set(self.advantage_key, advantage)
        td.set(self.value_target_key, value_target)
        return td
