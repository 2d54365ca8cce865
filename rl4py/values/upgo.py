"""UPGO, the upgoing policy-gradient return, as a swappable :class:`ValueEstimator`."""

from __future__ import annotations

from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase

from rl4py.keys import NestedKey
from rl4py.values.base import ValueEstimator, register_value_estimator
from rl4py.values.functional import upgo_advantage_estimate, vec_upgo_advantage_estimate

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

    Args:
        gamma: discount in ``[0, 1]``.
        value_network: critic run on the rollout (root and ``"next"``) before estimation;
            ``None`` if the rollout already holds ``"state_value"`` and ``("next", "state_value")``.
        vectorized: use the loop-free form (``O(B T^2)`` memory) instead of the loop over time.
        write_value_target: write ``G_t`` to ``value_target_key``; ``False`` writes only the advantage.
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
        vectorized: bool = True,
        write_value_target: bool = True,
        **key_overrides: NestedKey,
    ) -> None:
        super().__init__(value_network, **key_overrides)
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"UPGO: gamma must be in [0, 1], got {gamma}")
        self.gamma = float(gamma)
        self.vectorized = vectorized
        self.write_value_target = write_value_target

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        value, next_value = self.values(td)
        fn = vec_upgo_advantage_estimate if self.vectorized else upgo_advantage_estimate
        advantage, value_target = fn(
            self.gamma,
            value,
            next_value,
            self._get(td, self.reward_key, "the env"),
            self._get(td, self.done_key, "the env"),
            self._get(td, self.terminated_key, "the env"),
        )
        td.set(self.advantage_key, advantage)
        if self.write_value_target:
            td.set(self.value_target_key, value_target)
        return td
