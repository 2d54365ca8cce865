"""Routing of mixed observations (images, vectors, ...) to one encoder each."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from tensordict import TensorDictBase
from torch import nn

from rl4py.keys import NestedKey

__all__ = ["MultiEncoder"]


def _lookup(obs: Mapping | TensorDictBase, key: NestedKey) -> torch.Tensor | None:
    """``obs[key]`` for a TensorDict, a nested dict or a dict keyed by tuples; ``None`` if absent."""
    if isinstance(obs, TensorDictBase):
        return obs.get(key, None)
    if key in obs:
        return obs[key]
    if isinstance(key, str):
        return None
    node = obs
    for part in key:
        if not isinstance(node, (Mapping, TensorDictBase)) or part not in node:
            return None
        node = node[part]
    return node


class MultiEncoder(nn.Module):
    """Encodes each entry of an observation with its own encoder and concatenates the results.

    ``encoders`` maps observation keys (strings or nested tuples such as
    ``("observation", "pixels")``) to modules; each module gets exactly the tensor under its key
    and returns ``[*B, features]``. The outputs are concatenated along the last dim, in the
    order of ``encoders``.

    The observation is a ``TensorDict``, a nested ``dict`` or a ``dict`` keyed by tuples. Inside
    an actor reading ``"observation"`` (:class:`~rl4py.modules.actors.ProbabilisticActor`'s
    default), a nested observation arrives as the sub-``TensorDict``, so key the encoders
    relative to it: ``ProbabilisticActor(nn.Sequential(MultiEncoder({"pixels": ..., "state":
    ...}), head))``. The tensors can also be passed positionally, in ``in_keys`` order, as
    ``tensordict.nn.TensorDictModule(multi, in_keys=multi.in_keys, out_keys=[...])`` does.

    Args:
        encoders: ``{key: encoder}``, at least one.

    Shapes:
        ``obs[key_i]`` -> ``[*B, f_i]`` each, output ``[*B, sum(f_i)]``. ``out_features`` is
        ``sum(f_i)`` when every encoder has an ``out_features`` attribute (:class:`~rl4py.modules.MLP`,
        :class:`~rl4py.modules.conv.ConvEncoder`), else ``None``.

    Raises:
        KeyError: the observation lacks a key (the message names it and lists the available keys).
        ValueError: encoder outputs disagree on the batch dims.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> from rl4py.modules import MLP
        >>> from rl4py.modules.conv import ConvEncoder
        >>> encoder = MultiEncoder({
        ...     ("observation", "pixels"): ConvEncoder(3, 84, out_features=256),
        ...     ("observation", "state"): MLP(10, 64),
        ... })
        >>> obs = TensorDict(
        ...     {"observation": {"pixels": torch.rand(8, 3, 84, 84), "state": torch.randn(8, 10)}}, batch_size=[8]
        ... )
        >>> encoder(obs).shape, encoder.out_features
        (torch.Size([8, 320]), 320)
    """

    def __init__(self, encoders: Mapping[NestedKey, nn.Module]) -> None:
        super().__init__()
        if not encoders:
            raise ValueError("MultiEncoder: encoders must map at least one observation key to a module, got none")
        in_keys: list[NestedKey] = []
        for key, module in encoders.items():
            valid_key = isinstance(key, str) or (
                isinstance(key, tuple) and len(key) > 0 and all(isinstance(k, str) for k in key)
            )
            if not valid_key:
                raise TypeError(f"MultiEncoder: keys must be strings or tuples of strings, got {key!r}")
            if not isinstance(module, nn.Module):
                raise TypeError(
                    f"MultiEncoder: the encoder for {key!r} must be an nn.Module, got {type(module).__name__}"
                )
            key = key[0] if isinstance(key, tuple) and len(key) == 1 else key
            if key in in_keys:
                raise ValueError(f"MultiEncoder: key {key!r} is given twice")
            in_keys.append(key)
        self.in_keys = in_keys
        self.encoders = nn.ModuleList(encoders.values())
        sizes = [getattr(m, "out_features", None) for m in self.encoders]
        self.out_features = sum(sizes) if all(isinstance(s, int) for s in sizes) else None

    def forward(self, *inputs: Mapping | TensorDictBase | torch.Tensor) -> torch.Tensor:
        """Encodes and concatenates.

        Args:
            inputs: one observation (``TensorDict`` or dict) holding every key of ``in_keys``, or
                one tensor per key of ``in_keys``, in that order.

        Returns:
            ``[*B, sum of the encoders' output sizes]``.
        """
        if len(inputs) == 1 and isinstance(inputs[0], (Mapping, TensorDictBase)):
            obs = inputs[0]
            tensors = []
            for key in self.in_keys:
                value = _lookup(obs, key)
                if value is None:
                    available = (
                        list(obs.keys(include_nested=True, leaves_only=True))
                        if isinstance(obs, TensorDictBase)
                        else list(obs.keys())
                    )
                    raise KeyError(
                        f"MultiEncoder: the observation has no entry {repr(key)} (an encoder is registered "
                        f"for it); available keys: {available}"
                    )
                tensors.append(value)
        elif len(inputs) == len(self.in_keys) and all(isinstance(t, torch.Tensor) for t in inputs):
            tensors = list(inputs)
        else:
            raise TypeError(
                f"MultiEncoder: expected one observation (TensorDict or dict) or {len(self.in_keys)} tensors in "
                f"the order of in_keys {self.in_keys}, got {len(inputs)} arguments of types "
                f"{[type(i).__name__ for i in inputs]}"
            )
        outputs = [encoder(t) for encoder, t in zip(self.encoders, tensors)]
        if len(outputs) == 1:
            return outputs[0]
        batch = outputs[0].shape[:-1]
        for key, out in zip(self.in_keys, outputs):
            if out.dim() < 1 or out.shape[:-1] != batch:
                shapes = {repr(k): tuple(o.shape) for k, o in zip(self.in_keys, outputs)}
                raise ValueError(
                    f"MultiEncoder: every encoder must return [*B, features] with the same batch dims; the "
                    f"encoder for {repr(key)} returned {tuple(out.shape)}, expected batch dims {tuple(batch)} "
                    f"(all outputs: {shapes})"
                )
        return torch.cat(outputs, -1)
