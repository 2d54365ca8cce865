"""Multi-head value decomposition: GAE over ``N`` reward heads as a swappable :class:`ValueEstimator`."""

from __future__ import annotations

from collections.abc import Sequence

from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase

from rl4py.keys import NestedKey
from rl4py.values.base import ValueEstimator, register_value_estimator
from rl4py.values.functional import multi_head_generalized_advantage_estimate, multi_head_value_loss

__all__ = ["MultiHeadGAE", "multi_head_value_loss"]


def _per_head(name: str, value: float | Sequence[float], n: int) -> tuple[float, ...]:
    if isinstance(value, (int, float)):
        return (float(value),) * n
    out = tuple(float(v) for v in value)
    if len(out) != n:
        raise ValueError(f"MultiHeadGAE: {name} must have one entry per head ({n}, as weights), got {len(out)}: {out}")
    return out


@register_value_estimator("multihead_gae")
class MultiHeadGAE(ValueEstimator):
    """GAE over ``N`` reward components, each with its own value head, discount and lambda.

    Used by JueWu (Honor of Kings) with heads for farming, KDA, damage, pushing and winning: the
    critic predicts one value per reward component (``"state_value"`` ``[*B, T, N]``), the env
    returns one reward per component (``("next", "reward")`` ``[*B, T, N]``), and the policy is
    trained on the weighted sum of the per-head advantages. Writes

    - ``"advantage"`` ``[*B, T, 1]``: ``sum_h weights[h] * A_h``;
    - ``"value_target"`` ``[*B, T, N]``: ``A_h + V_h(s_t)``, one target per head (train with
      :func:`multi_head_value_loss`);
    - ``head_advantage_key`` ``[*B, T, N]``: the per-head advantages, if that key is given.

    The episode flags (``done``, ``terminated``, ``[*B, T, 1]``) are shared by all heads. See
    :func:`rl4py.values.functional.multi_head_generalized_advantage_estimate`.

    Args:
        gammas: per-head discounts (a number for the same discount on every head).
        lmbdas: per-head GAE lambdas (a number for the same lambda on every head).
        weights: per-head weights of the combined advantage; its length is the number of heads ``N``.
        value_network: critic writing ``"state_value"`` ``[*B, N]``, run on the rollout (root and
            ``"next"``) before estimation; ``None`` if the rollout already holds the values.
        head_advantage_key: where to write the per-head advantages, or ``None`` not to write them.
        **key_overrides: see :class:`ValueEstimator`.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> td = TensorDict({"state_value": torch.zeros(1, 2, 2), "next": {
        ...     "state_value": torch.zeros(1, 2, 2), "reward": torch.tensor([[[1.0, 2.0], [1.0, 2.0]]]),
        ...     "done": torch.zeros(1, 2, 1, dtype=torch.bool),
        ...     "terminated": torch.zeros(1, 2, 1, dtype=torch.bool)}}, batch_size=[1, 2])
        >>> td = MultiHeadGAE(gammas=[0.5, 0.0], lmbdas=1.0, weights=[1.0, 0.5])(td)
        >>> td["value_target"][0]
        tensor([[1.5000, 2.0000],
                [1.0000, 2.0000]])
        >>> td["advantage"][0, :, 0]
        tensor([2.5000, 2.0000])
    """

    def __init__(
        self,
        gammas: float | Sequence[float],
        lmbdas: float | Sequence[float],
        weights: Sequence[float],
        value_network: TensorDictModuleBase | None = None,
        head_advantage_key: NestedKey | None = None,
        **key_overrides: NestedKey,
    ) -> None:
        super().__init__(value_network, **key_overrides)
        if isinstance(weights, (int, float)) or len(weights) == 0:
            raise ValueError(
                f"MultiHeadGAE: weights must be a non-empty sequence with one weight per head, got {weights!r}"
            )
        self.weights = tuple(float(w) for w in weights)
        n = len(self.weights)
        self.gammas = _per_head("gammas", gammas, n)
        self.lmbdas = _per_head("lmbdas", lmbdas, n)
        for name, values in (("gammas", self.gammas), ("lmbdas", self.lmbdas)):
            if not all(0.0 <= v <= 1.0 for v in values):
                raise ValueError(f"MultiHeadGAE: every entry of {name} must be in [0, 1], got {values}")
        self.head_advantage_key = head_advantage_key

    @property
    def num_heads(self) -> int:
        """The number of value heads ``N``."""
        return len(self.weights)

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        value, next_value = self.values(td)
        reward = self._get(td, self.reward_key, "the env")
        if value.shape[-1] != self.num_heads:
            raise ValueError(
                f"MultiHeadGAE: {self.value_key!r} has shape {tuple(value.shape)}, expected {self.num_heads} heads "
                f"on the last dim ([*B, T, {self.num_heads}], one per weight)"
            )
        advantage, head_advantage, value_target = multi_head_generalized_advantage_estimate(
            self.gammas,
            self.lmbdas,
            self.weights,
            state_value=value,
            next_state_value=next_value,
            reward=reward,
            done=self._get(td, self.done_key, "the env"),
            terminated=self._get(td, self.terminated_key, "the env"),
        )
        td.set(self.advantage_key, advantage)
        td.set(self.value_target_key, value_target)
        if self.head_advantage_key is not None:
            td.set(self.head_advantage_key, head_advantage)
        return td
