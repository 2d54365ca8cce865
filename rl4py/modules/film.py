"""Feature-wise linear modulation (FiLM)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FiLM"]


class FiLM(nn.Module):
    """Conditions features on a context: ``(1 + gamma(context)) * x + beta(context)``.

    ``gamma`` and ``beta`` are linear maps of the context, zero-initialised, so the layer starts
    as the identity and learns how far to depart from it (SCC conditions its target heads on the
    chosen action type this way).

    The context ``[*B, context_dim]`` modulates every feature vector of ``x`` that shares its batch
    dims ``*B``: ``x`` may have extra dims after them (entities, pixels), broadcast over. The
    feature axis of ``x`` is ``dim`` (``-1`` for ``[*B, *S, feature_dim]``; ``-3`` for
    channel-first images ``[*B, feature_dim, H, W]``).

    Args:
        context_dim: context size.
        feature_dim: size of the modulated feature axis.
        dim: the feature axis of ``x``.

    Shapes:
        ``x [*B, *S, feature_dim]`` (feature axis at ``dim``), ``context [*B, context_dim]`` ->
        same shape as ``x``.

    Examples:
        >>> import torch
        >>> film = FiLM(context_dim=32, feature_dim=128)
        >>> x, context = torch.randn(64, 128), torch.randn(64, 32)
        >>> torch.equal(film(x, context), x)   # identity at initialisation
        True
        >>> FiLM(8, 16, dim=-3)(torch.randn(4, 16, 5, 5), torch.randn(4, 8)).shape
        torch.Size([4, 16, 5, 5])
    """

    def __init__(self, context_dim: int, feature_dim: int, dim: int = -1) -> None:
        super().__init__()
        if context_dim < 1 or feature_dim < 1:
            raise ValueError(f"FiLM: context_dim and feature_dim must be >= 1, got {context_dim} and {feature_dim}")
        self.gamma = nn.Linear(context_dim, feature_dim)
        self.beta = nn.Linear(context_dim, feature_dim)
        for layer in (self.gamma, self.beta):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.context_dim, self.feature_dim, self.dim = context_dim, feature_dim, dim

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Modulates ``x``.

        Args:
            x: features, ``feature_dim`` entries along ``dim``, leading dims ``*B``.
            context: ``[*B, context_dim]``.

        Returns:
            the modulated features, shape of ``x``.
        """
        if context.dim() < 1 or context.shape[-1] != self.context_dim:
            raise ValueError(f"FiLM: context must have shape [*B, {self.context_dim}], got {tuple(context.shape)}")
        n_batch = context.dim() - 1
        if not -x.dim() <= self.dim < x.dim():
            raise ValueError(f"FiLM: dim={self.dim} is out of range for x of shape {tuple(x.shape)}")
        dim = self.dim % x.dim()
        if x.dim() <= n_batch or x.shape[:n_batch] != context.shape[:-1] or dim < n_batch:
            raise ValueError(
                f"FiLM: x must start with the context's batch dims {tuple(context.shape[:-1])} followed by the "
                f"feature axis (dim={self.dim}), got x {tuple(x.shape)}"
            )
        if x.shape[dim] != self.feature_dim:
            raise ValueError(
                f"FiLM: x must have {self.feature_dim} features along dim {self.dim}, got shape {tuple(x.shape)}"
            )
        gamma, beta = self.gamma(context), self.beta(context)
        if x.dim() > context.dim():  # extra dims after *B: broadcast gamma/beta over them
            shape = [*context.shape[:-1]] + [1] * (x.dim() - n_batch)
            shape[dim] = self.feature_dim
            gamma, beta = gamma.reshape(shape), beta.reshape(shape)
        return (1.0 + gamma) * x + beta
