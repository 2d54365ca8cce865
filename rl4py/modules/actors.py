"""Policy modules: a network that outputs distribution parameters, plus sampling."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from tensordict import TensorDictBase
from tensordict.nn import InteractionType, TensorDictModuleBase
from tensordict.nn.probabilistic import interaction_type  # not re-exported by tensordict.nn before 0.15
from torch import distributions as D
from torch import nn

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.modules.distributions import Categorical

__all__ = ["ProbabilisticActor"]


class ProbabilisticActor(TensorDictModuleBase):
    """Runs ``module`` on ``in_keys``, builds a distribution from its outputs and samples an action.

    ``module`` takes the tensors under ``in_keys`` and returns one tensor per name in
    ``dist_keys`` (for a categorical policy: the logits). ``forward`` writes those parameters,
    ``"action"`` and ``"action_log_prob"`` ``[*B, 1]``. Losses call :meth:`get_dist`, which
    writes nothing, so the stored rollout keeps the behaviour policy's entries.

    The action comes from ``dist.sample()`` under the ``RANDOM`` interaction type (the
    default) and from ``dist.deterministic_sample`` (the mode) under ``DETERMINISTIC``/``MODE``,
    set with ``tensordict.nn.set_interaction_type``.

    Args:
        module: network mapping the ``in_keys`` tensors to the distribution parameters.
        in_keys: entries fed to ``module``.
        dist_keys: names of the distribution's constructor arguments produced by ``module``, in
            order; each is also the key the parameter is written to.
        distribution_class: the distribution (default :class:`~rl4py.modules.distributions.Categorical`).
        distribution_kwargs: constant extra constructor arguments.
        dist_in_keys: extra constructor arguments read from the TensorDict, ``{arg_name: key}``
            (for example ``{"mask": "action_mask"}``).
        action_key, log_prob_key: output keys.
        return_log_prob: write the log-probability of the sampled action.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> actor = ProbabilisticActor(torch.nn.Linear(4, 2))
        >>> td = actor(TensorDict({"observation": torch.zeros(3, 4)}, batch_size=[3]))
        >>> td["action"].shape, td["action_log_prob"].shape
        (torch.Size([3]), torch.Size([3, 1]))
    """

    def __init__(
        self,
        module: nn.Module,
        in_keys: Sequence[NestedKey] = (keys.OBSERVATION,),
        dist_keys: Sequence[str] = (keys.LOGITS,),
        distribution_class: type[D.Distribution] = Categorical,
        distribution_kwargs: Mapping | None = None,
        dist_in_keys: Mapping[str, NestedKey] | None = None,
        action_key: NestedKey = keys.ACTION,
        log_prob_key: NestedKey = keys.ACTION_LOG_PROB,
        return_log_prob: bool = True,
    ) -> None:
        super().__init__()
        self.module = module
        self.in_keys = list(in_keys) + list((dist_in_keys or {}).values())
        self._module_in_keys = list(in_keys)
        self.dist_keys = list(dist_keys)
        self.distribution_class = distribution_class
        self.distribution_kwargs = dict(distribution_kwargs or {})
        self.dist_in_keys = dict(dist_in_keys or {})
        self.action_key = action_key
        self.log_prob_key = log_prob_key
        self.return_log_prob = return_log_prob
        self.out_keys = [*self.dist_keys, action_key] + ([log_prob_key] if return_log_prob else [])

    def _params(self, td: TensorDictBase) -> tuple[torch.Tensor, ...]:
        out = self.module(*(td.get(k) for k in self._module_in_keys))
        out = (out,) if isinstance(out, torch.Tensor) else tuple(out)
        if len(out) != len(self.dist_keys):
            raise ValueError(
                f"ProbabilisticActor: the module returned {len(out)} tensors, "
                f"expected one per dist key {self.dist_keys}"
            )
        return out

    def _dist(self, td: TensorDictBase, params: tuple[torch.Tensor, ...]) -> D.Distribution:
        kwargs = dict(zip(self.dist_keys, params))
        for name, key in self.dist_in_keys.items():
            kwargs[name] = td.get(key)
        return self.distribution_class(**kwargs, **self.distribution_kwargs)

    def get_dist(self, td: TensorDictBase) -> D.Distribution:
        """The policy's distribution at ``td`` (with gradient); writes nothing into ``td``."""
        return self._dist(td, self._params(td))

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        params = self._params(td)
        dist = self._dist(td, params)
        return self._write(td, params, dist, self._action(dist, dist.sample))

    @staticmethod
    def _action(dist: D.Distribution, random_sample: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The action for the current interaction type; ``random_sample()`` draws the ``RANDOM`` one."""
        mode = interaction_type()
        if mode is None or mode == InteractionType.RANDOM:
            return random_sample()
        if mode in (InteractionType.DETERMINISTIC, InteractionType.MODE):
            return dist.deterministic_sample if hasattr(dist, "deterministic_sample") else dist.mode
        if mode == InteractionType.MEAN:
            return dist.mean
        raise ValueError(f"ProbabilisticActor: unsupported interaction type {mode}")

    def _write(
        self, td: TensorDictBase, params: tuple[torch.Tensor, ...], dist: D.Distribution, action: torch.Tensor
    ) -> TensorDictBase:
        """Writes the distribution parameters, the action and (with ``return_log_prob``) its log-probability."""
        for key, value in zip(self.dist_keys, params):
            td.set(key, value)
        td.set(self.action_key, action)
        if self.return_log_prob:
            td.set(self.log_prob_key, dist.log_prob(action).unsqueeze(-1))
        return td
