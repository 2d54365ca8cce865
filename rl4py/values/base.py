"""The :class:`ValueEstimator` base module and the registry of estimator names."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torch import nn

from rl4py import keys
from rl4py.keys import NestedKey

__all__ = ["VALUE_ESTIMATORS", "ValueEstimator", "make_value_estimator", "register_value_estimator"]


class ValueEstimator(nn.Module, ABC):
    """Writes ``"advantage"`` and ``"value_target"`` into a rollout ``TensorDict[*B, T]``.

    If ``value_network`` is given, the estimator first runs it (without gradient) on the
    root and on the ``"next"`` entries, writing ``"state_value"`` and
    ``("next", "state_value")``; otherwise both must already be in the rollout.

    Args:
        value_network: a TensorDict module writing ``value_key``, or ``None``.
        value_key, advantage_key, value_target_key, reward_key, done_key, terminated_key:
            key overrides (defaults in :mod:`rl4py.keys`).
    """

    def __init__(
        self,
        value_network: TensorDictModuleBase | None = None,
        *,
        value_key: NestedKey = keys.STATE_VALUE,
        advantage_key: NestedKey = keys.ADVANTAGE,
        value_target_key: NestedKey = keys.VALUE_TARGET,
        reward_key: NestedKey = keys.REWARD,
        done_key: NestedKey = keys.DONE,
        terminated_key: NestedKey = keys.TERMINATED,
    ) -> None:
        super().__init__()
        self.value_network = value_network
        self.value_key = value_key
        self.advantage_key = advantage_key
        self.value_target_key = value_target_key
        self.reward_key = keys.next_key(reward_key)
        self.done_key = keys.next_key(done_key)
        self.terminated_key = keys.next_key(terminated_key)

    #: detach the rollout entries read (the outputs are then constants for the losses); an
    #: estimator meant to be differentiated through (TD(lambda) on imagined rollouts) sets False
    detach_inputs: bool = True

    def _get(self, td: TensorDictBase, key: NestedKey, writer: str, per_step: bool = True) -> torch.Tensor:
        """The entry ``key`` of ``td``, detached unless :attr:`detach_inputs` is False.

        With ``per_step`` the entry must be ``[*B, T, F]``: the rollout's batch size and one trailing
        dim (``[B, T]`` without it would put the batch on the time axis of the recursions).
        """
        value = td.get(key, None)
        if value is None:
            raise KeyError(f"{type(self).__name__}: the rollout has no {key!r}; it is written by {writer}")
        if per_step and (value.dim() != td.batch_dims + 1 or value.shape[: td.batch_dims] != td.batch_size):
            raise ValueError(
                f"{type(self).__name__}: {key!r} has shape {tuple(value.shape)}; expected "
                f"{(*td.batch_size, 1)} (the rollout's batch size [*B, T] and a trailing dim)"
            )
        return value.detach() if self.detach_inputs else value

    @torch.no_grad()
    def values(self, td: TensorDictBase) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(state_value, next_state_value)`` ``[*B, T, 1]``, running the value network if any."""
        if self.value_network is not None:
            in_keys = self.value_network.in_keys
            root = td.select(*in_keys)
            nxt = td.get(keys.NEXT).select(*in_keys)
            both = self.value_network(torch.cat([root, nxt], 0))  # one forward for root and next
            value = both.get(self.value_key)
            n = td.shape[0]
            td.set(self.value_key, value[:n])
            td.set(keys.next_key(self.value_key), value[n:])
        writer = "the value network (pass value_network=critic to the estimator)"
        return (
            self._get(td, self.value_key, writer),
            self._get(td, keys.next_key(self.value_key), writer),
        )

    @abstractmethod
    def forward(self, td: TensorDictBase) -> TensorDictBase:
        """Writes ``advantage_key`` and ``value_target_key`` into ``td`` and returns it."""


VALUE_ESTIMATORS: dict[str, type[ValueEstimator]] = {}


def register_value_estimator(name: str):
    """Class decorator adding an estimator to :data:`VALUE_ESTIMATORS` under ``name``."""

    def wrap(cls: type[ValueEstimator]) -> type[ValueEstimator]:
        if name in VALUE_ESTIMATORS and VALUE_ESTIMATORS[name] is not cls:
            raise ValueError(f"value estimator {name!r} is already registered as {VALUE_ESTIMATORS[name].__name__}")
        VALUE_ESTIMATORS[name] = cls
        return cls

    return wrap


def make_value_estimator(name: str, **kwargs) -> ValueEstimator:
    """Builds a registered estimator by name (``"gae"``, ...) with constructor ``kwargs``."""
    if name not in VALUE_ESTIMATORS:
        raise KeyError(f"unknown value estimator {name!r}; registered: {sorted(VALUE_ESTIMATORS)}")
    return VALUE_ESTIMATORS[name](**kwargs)
