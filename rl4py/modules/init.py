"""Parameter initialization helpers."""

from __future__ import annotations

import math

from torch import nn

__all__ = ["orthogonal_init_"]


def orthogonal_init_(layer: nn.Module, gain: float = math.sqrt(2), bias: float = 0.0) -> nn.Module:
    """Orthogonal weights scaled by ``gain`` and constant bias, in place (CleanRL's ``layer_init``).

    Args:
        layer: a module with ``weight`` (at least 2-D) and optionally ``bias``.
        gain: scale of the orthogonal matrix (``sqrt(2)`` for hidden ReLU/tanh layers, 0.01 for a
            policy head, 1 for a value head).
        bias: value of every bias entry.

    Returns:
        ``layer``, for chaining.

    Examples:
        >>> import torch
        >>> layer = orthogonal_init_(nn.Linear(4, 64), gain=1.0)
        >>> weight = layer.weight.detach()  # [64, 4]: orthonormal columns
        >>> torch.allclose(weight.T @ weight, torch.eye(4), atol=1e-5)
        True
        >>> layer.bias.abs().sum().item()
        0.0
    """
    weight = getattr(layer, "weight", None)
    if weight is None or weight.dim() < 2:
        raise ValueError(f"orthogonal_init_: {type(layer).__name__} has no weight matrix to initialize")
    nn.init.orthogonal_(weight, gain)
    if getattr(layer, "bias", None) is not None:
        nn.init.constant_(layer.bias, bias)
    return layer
