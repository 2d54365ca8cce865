"""Activation modules by name, and a sigmoid-form tanh for CPU builds whose ``tanh`` kernel is slow."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "SigmoidTanh", "Tanh", "activation_class", "fast_tanh"]

# below this many elements torch.tanh is faster (fewer ops); above it the sigmoid form wins
_SIGMOID_FORM_MIN_NUMEL = 8192


class _SigmoidTanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = torch.sigmoid(x * 2.0).mul_(2.0).sub_(1.0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)  # grad * (1 - y^2), one kernel


def fast_tanh(x: torch.Tensor) -> torch.Tensor:
    """``tanh(x)`` computed as ``2 * sigmoid(2x) - 1`` on large CPU tensors.

    On some CPU builds torch's ``tanh`` kernel is not vectorized and ``sigmoid`` is (once measured:
    171 us for a ``[1024, 64]`` tensor vs 54 us for this form); on others (torch 2.13 on an AVX-512
    CPU: 128 us vs 278 us, forward and backward) plain ``torch.tanh`` is faster, so this form is
    opt-in (:class:`SigmoidTanh`, activation ``"sigmoid_tanh"``). The result differs from
    ``torch.tanh`` by at most ~2e-7 (absolute) and the gradient by ~4e-7. Small tensors and non-CPU
    tensors use ``torch.tanh``.
    """
    if x.device.type != "cpu" or x.numel() < _SIGMOID_FORM_MIN_NUMEL or not x.is_floating_point():
        return torch.tanh(x)
    if x.requires_grad and torch.is_grad_enabled():
        return _SigmoidTanh.apply(x)
    return torch.sigmoid(x * 2.0).mul_(2.0).sub_(1.0)


class Tanh(nn.Tanh):
    """``nn.Tanh`` (``torch.tanh``), the default activation of rl4py's builders. Shape-preserving."""


class SigmoidTanh(nn.Module):
    """``tanh`` through :func:`fast_tanh` (``2 * sigmoid(2x) - 1`` on large CPU tensors): faster on
    CPU builds whose ``tanh`` kernel is not vectorized; measure before choosing it. Shape-preserving."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fast_tanh(x)


#: activation names accepted by configs and builders
ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": Tanh, "sigmoid_tanh": SigmoidTanh, "relu": nn.ReLU}


def activation_class(activation: str | type[nn.Module], owner: str = "activation_class") -> type[nn.Module]:
    """The module class for an activation name of :data:`ACTIVATIONS`, or ``activation`` itself if a class.

    Raises:
        ValueError: an unknown name (the message names ``owner`` and the accepted names).
    """
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"{owner}: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        return ACTIVATIONS[activation]
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        return activation
    raise TypeError(f"{owner}: activation must be a name or an nn.Module class, got {activation!r}")
