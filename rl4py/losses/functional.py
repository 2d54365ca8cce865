"""Loss math as pure functions on tensors (no modules, no TensorDicts)."""

from __future__ import annotations

import torch

__all__ = ["clipped_surrogate", "clipped_value_loss", "explained_variance", "normalize_advantage"]


def normalize_advantage(advantage: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``(A - mean(A)) / (std(A) + eps)`` over all elements (unbiased std, as CleanRL)."""
    if advantage.numel() < 2:
        raise ValueError(
            f"normalize_advantage: needs at least 2 advantages to normalize, got {advantage.numel()}; "
            "use a larger minibatch or normalize_advantage=False"
        )
    return (advantage - advantage.mean()) / (advantage.std() + eps)


def clipped_surrogate(
    log_ratio: torch.Tensor, advantage: torch.Tensor, clip_epsilon: float, dual_clip: float | None = None
) -> torch.Tensor:
    """PPO's per-sample objective to maximize.

    ``min(r A, clip(r, 1 - eps, 1 + eps) A)`` with ``r = exp(log_ratio)``; with ``dual_clip`` c,
    where ``A < 0`` the objective is floored at ``c A`` (Ye et al., 2020).

    Args:
        log_ratio: ``log pi(a|s) - log mu(a|s)``, any shape.
        advantage: same shape.
        clip_epsilon: clip range.
        dual_clip: dual-clip coefficient ``c > 1``, or ``None``.

    Returns:
        The objective, same shape as the inputs.
    """
    ratio = log_ratio.exp()
    objective = torch.min(ratio * advantage, ratio.clamp(1.0 - clip_epsilon, 1.0 + clip_epsilon) * advantage)
    if dual_clip is not None:
        objective = torch.where(advantage < 0, torch.max(objective, dual_clip * advantage), objective)
    return objective


def clipped_value_loss(
    value: torch.Tensor, old_value: torch.Tensor, value_target: torch.Tensor, clip: float | None
) -> torch.Tensor:
    """``0.5 * max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2)`` per sample (CleanRL);
    without ``clip``, ``0.5 * (V - R)^2``."""
    unclipped = (value - value_target).square()
    if clip is None:
        return 0.5 * unclipped
    clipped = old_value + (value - old_value).clamp(-clip, clip)
    return 0.5 * torch.max(unclipped, (clipped - value_target).square())


def explained_variance(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - Var(target - prediction) / Var(target)``; NaN when the target has no variance."""
    var_target = target.var()
    return 1.0 - (target - prediction).var() / var_target
