"""Loss math as pure functions on tensors (no modules, no TensorDicts)."""

from __future__ import annotations

import torch

__all__ = ["clipped_surrogate", "clipped_value_loss", "explained_variance", "normalize_advantage"]


def _same_shape(owner: str, **tensors: torch.Tensor) -> None:
    """Raises ``ValueError`` unless every tensor has the first one's shape (no silent broadcasting)."""
    first, *rest = tensors.values()
    if all(t.shape == first.shape for t in rest):
        return
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"{owner}: the inputs must have one shape, got {listed}")


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

    Raises:
        ValueError: the shapes differ (``[N]`` against ``[N, 1]`` would broadcast to ``[N, N]``).
    """
    _same_shape("clipped_surrogate", log_ratio=log_ratio, advantage=advantage)
    return _clipped_surrogate_of_ratio(log_ratio.exp(), advantage, clip_epsilon, dual_clip)


def _clipped_surrogate_of_ratio(
    ratio: torch.Tensor, advantage: torch.Tensor, clip_epsilon: float, dual_clip: float | None
) -> torch.Tensor:
    """:func:`clipped_surrogate` given ``r`` itself (a caller reusing it saves an ``exp``)."""
    objective = torch.min(ratio * advantage, ratio.clamp(1.0 - clip_epsilon, 1.0 + clip_epsilon) * advantage)
    if dual_clip is not None:
        objective = torch.where(advantage < 0, torch.max(objective, dual_clip * advantage), objective)
    return objective


def clipped_value_loss(
    value: torch.Tensor, old_value: torch.Tensor, value_target: torch.Tensor, clip: float | None
) -> torch.Tensor:
    """``0.5 * max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2)`` per sample (CleanRL);
    without ``clip``, ``0.5 * (V - R)^2``. The three tensors must have one shape."""
    _same_shape("clipped_value_loss", value=value, old_value=old_value, value_target=value_target)
    unclipped = (value - value_target).square()
    if clip is None:
        return 0.5 * unclipped
    clipped = old_value + (value - old_value).clamp(-clip, clip)
    return 0.5 * torch.max(unclipped, (clipped - value_target).square())


def explained_variance(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - Var(target - prediction) / Var(target)``; NaN when the target has no variance."""
    var_target = target.var()
    return 1.0 - (target - prediction).var() / var_target


# ---------------------------------------------------------------------------------------------
# DQN (Q-learning targets and regression losses)


def select_action_value(action_value: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """Picks ``Q(s, a)`` for the taken discrete action.

    Args:
        action_value: ``[*B, n_actions]`` Q-values.
        action: ``[*B]`` integer actions in ``[0, n_actions)``.

    Returns:
        ``[*B, 1]``.
    """
    if action.is_floating_point() or action.dtype == torch.bool:
        raise TypeError(f"select_action_value: action must hold integer indices, got dtype {action.dtype}")
    if action.shape != action_value.shape[:-1]:
        raise ValueError(
            f"select_action_value: action has shape {tuple(action.shape)}, expected the batch shape "
            f"{tuple(action_value.shape[:-1])} of action_value {tuple(action_value.shape)}"
        )
    return action_value.gather(-1, action.unsqueeze(-1))


def dqn_target(
    reward: torch.Tensor,
    terminated: torch.Tensor,
    next_action_value: torch.Tensor,
    gamma: float,
    next_action_value_online: torch.Tensor | None = None,
    next_action_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The one-step Q-learning target ``y = r + gamma * (1 - terminated) * Q_target(s', a*)``.

    ``a* = argmax_a' Q_target(s', a')`` (DQN), or ``a* = argmax_a' Q_online(s', a')`` when
    ``next_action_value_online`` is given (double DQN, van Hasselt et al., 2016). Only
    ``terminated`` cuts the bootstrap: a step cut by a time limit bootstraps from ``s'``.
    The caller detaches the inputs (or runs the networks under ``torch.no_grad()``).

    Args:
        reward: ``[*B, 1]``.
        terminated: ``[*B, 1]`` bool (or 0/1 float).
        next_action_value: ``[*B, n_actions]``, the target network at ``s'``.
        gamma: discount.
        next_action_value_online: ``[*B, n_actions]``, the online network at ``s'`` (double DQN),
            or ``None``.
        next_action_mask: ``[*B, n_actions]`` bool, the actions allowed at ``s'`` (true = allowed):
            ``a*`` is picked among them. A row with no allowed action (a terminal state) bootstraps 0.

    Returns:
        ``[*B, 1]``.
    """
    if next_action_mask is not None:
        if next_action_mask.shape != next_action_value.shape or next_action_mask.dtype != torch.bool:
            raise ValueError(
                f"dqn_target: next_action_mask must be a bool tensor of shape {tuple(next_action_value.shape)}, "
                f"got {next_action_mask.dtype} {tuple(next_action_mask.shape)}"
            )
        any_allowed = next_action_mask.any(-1, keepdim=True)
        # rows with nothing allowed keep their values here (no -inf) and are zeroed below
        allowed = next_action_mask | ~any_allowed
        next_action_value = next_action_value.masked_fill(~allowed, float("-inf"))
        if next_action_value_online is not None:
            next_action_value_online = next_action_value_online.masked_fill(~allowed, float("-inf"))
    if next_action_value_online is None:
        next_value = next_action_value.max(-1, keepdim=True).values
    else:
        if next_action_value_online.shape != next_action_value.shape:
            raise ValueError(
                f"dqn_target: next_action_value_online has shape {tuple(next_action_value_online.shape)}, "
                f"expected the shape of next_action_value {tuple(next_action_value.shape)}"
            )
        best = next_action_value_online.argmax(-1, keepdim=True)
        next_value = next_action_value.gather(-1, best)
    if reward.shape != next_value.shape or terminated.shape != next_value.shape:
        raise ValueError(
            f"dqn_target: reward {tuple(reward.shape)} and terminated {tuple(terminated.shape)} must have the "
            f"shape [*B, 1] = {tuple(next_value.shape)} of the next action values"
        )
    if next_action_mask is not None:
        next_value = next_value.masked_fill(~any_allowed, 0.0)
    not_terminated = ~terminated if terminated.dtype == torch.bool else 1.0 - terminated
    return reward + gamma * not_terminated * next_value


def td_regression_loss(
    prediction: torch.Tensor, target: torch.Tensor, loss_function: str = "l2", delta: float = 1.0
) -> torch.Tensor:
    """Per-element regression loss of ``prediction`` onto ``target``.

    ``"l2"``: ``(Q - y)^2``; ``"huber"``: ``0.5 (Q - y)^2`` where ``|Q - y| <= delta``, else
    ``delta (|Q - y| - 0.5 delta)`` (``torch.nn.functional.huber_loss``; with ``delta = 1`` it is
    SB3's ``smooth_l1_loss``).

    Args:
        prediction: any shape.
        target: same shape.
        loss_function: ``"l2"`` or ``"huber"``.
        delta: Huber threshold.

    Returns:
        Same shape as the inputs.
    """
    if prediction.shape != target.shape:
        raise ValueError(
            f"td_regression_loss: prediction has shape {tuple(prediction.shape)}, target {tuple(target.shape)}; "
            "expected equal shapes"
        )
    if loss_function == "l2":
        return (prediction - target).square()
    if loss_function == "huber":
        return torch.nn.functional.huber_loss(prediction, target, reduction="none", delta=delta)
    raise ValueError(f"td_regression_loss: loss_function must be 'l2' or 'huber', got {loss_function!r}")


__all__ += ["dqn_target", "select_action_value", "td_regression_loss"]
