"""The multi-layer perceptron builder."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from rl4py.modules.activations import Tanh
from rl4py.modules.init import orthogonal_init_

__all__ = ["MLP"]


class MLP(nn.Sequential):
    """``Linear -> [norm] -> activation`` blocks followed by an output ``Linear``.

    Hidden layers get orthogonal weights with gain ``sqrt(2)`` and zero bias; the output layer
    gets gain ``output_gain`` (CleanRL's initialization). Input ``[*B, in_features]``, output
    ``[*B, out_features]``.

    Args:
        in_features: input size.
        out_features: output size.
        num_cells: hidden layer sizes (empty for a single linear layer).
        activation: activation class, instantiated once per hidden layer (default
            :class:`rl4py.modules.Tanh`, ``nn.Tanh``'s math with a faster CPU kernel).
        norm: optional normalization class (``nn.LayerNorm``, ``nn.RMSNorm``) applied after each
            hidden linear layer.
        output_gain: orthogonal gain of the output layer.
        orthogonal_init: use orthogonal initialization (else torch's default).

    Examples:
        >>> import torch
        >>> MLP(4, 2, num_cells=(64, 64))(torch.zeros(8, 4)).shape
        torch.Size([8, 2])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_cells: Sequence[int] = (64, 64),
        activation: type[nn.Module] = Tanh,
        norm: type[nn.Module] | None = None,
        output_gain: float = 1.0,
        orthogonal_init: bool = True,
    ) -> None:
        for name, value in (
            ("in_features", in_features),
            ("out_features", out_features),
            *(("num_cells", c) for c in num_cells),
        ):
            if int(value) < 1:
                raise ValueError(f"MLP: {name} must be >= 1, got {value}")
        layers: list[nn.Module] = []
        sizes = [in_features, *num_cells]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            linear = nn.Linear(n_in, n_out)
            if orthogonal_init:
                orthogonal_init_(linear, math.sqrt(2))
            layers.append(linear)
            if norm is not None:
                layers.append(norm(n_out))
            layers.append(activation())
        head = nn.Linear(sizes[-1], out_features)
        if orthogonal_init:
            orthogonal_init_(head, output_gain)
        layers.append(head)
        super().__init__(*layers)
        self.in_features = in_features
        self.out_features = out_features
