"""Multi-head GAE (one value head per reward component) and the per-head value loss."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rl4py.values.functional._common import check_inputs, head_params, reverse_linear_scan, td_error

__all__ = ["multi_head_generalized_advantage_estimate", "multi_head_value_loss"]


def multi_head_generalized_advantage_estimate(
    gammas: Sequence[float] | torch.Tensor,
    lmbdas: Sequence[float] | torch.Tensor,
    weights: Sequence[float] | torch.Tensor,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GAE for ``N`` reward heads, each with its own discount and lambda.

    Head ``h`` runs :func:`~rl4py.values.functional.generalized_advantage_estimate` with
    ``gammas[h]`` and ``lmbdas[h]`` on ``reward[..., h]`` and ``state_value[..., h]``; the episode
    flags are shared by all heads. The policy's advantage is the weighted sum
    ``sum_h weights[h] * A_h``.

    Args:
        gammas: per-head discounts, length ``N``, each in [0, 1].
        lmbdas: per-head GAE lambdas, length ``N``, each in [0, 1].
        weights: per-head weights of the combined advantage, length ``N``.
        state_value: ``V_h(s_t)`` ``[*B, T, N]``.
        next_state_value: ``V_h(s'_t)`` of the true next observation ``[*B, T, N]``.
        reward: per-head rewards ``[*B, T, N]``.
        done: ``[*B, T, 1]`` bool, ``terminated | truncated``.
        terminated: ``[*B, T, 1]`` bool; ``None`` means ``done``.

    Returns:
        ``(advantage, head_advantages, value_target)``: the combined advantage ``[*B, T, 1]``, the
        per-head advantages ``[*B, T, N]`` and the per-head value targets ``[*B, T, N]``.

    Raises:
        ValueError: mismatched shapes, flags that are not ``[*B, T, 1]``, a per-head parameter of
            the wrong length, or a discount or lambda outside [0, 1].

    Examples:
        >>> import torch
        >>> zeros = torch.zeros(1, 2, 2)
        >>> reward = torch.tensor([[[1.0, 2.0], [1.0, 2.0]]])
        >>> no = torch.zeros(1, 2, 1, dtype=torch.bool)
        >>> advantage, heads, target = multi_head_generalized_advantage_estimate(
        ...     [0.5, 0.0], [1.0, 1.0], [1.0, 0.5], zeros, zeros, reward, no)
        >>> heads[0]
        tensor([[1.5000, 2.0000],
                [1.0000, 2.0000]])
        >>> advantage[0, :, 0]
        tensor([2.5000, 2.0000])
    """
    name = "multi_head_generalized_advantage_estimate"
    terminated = done if terminated is None else terminated
    shape = check_inputs(name, state_value=state_value, next_state_value=next_state_value, reward=reward)
    flags_shape = (*shape[:-1], 1)
    check_inputs(name, done=done, terminated=terminated)
    for key, value in (("done", done), ("terminated", terminated)):
        if value.shape != flags_shape:
            raise ValueError(
                f"{name}: {key} has shape {tuple(value.shape)}, expected {flags_shape} ([*B, T, 1], shared by the "
                f"{shape[-1]} heads of reward/state_value {tuple(shape)})"
            )
    n = shape[-1]
    gamma = head_params(name, "gammas", gammas, n, state_value, unit=True)
    lmbda = head_params(name, "lmbdas", lmbdas, n, state_value, unit=True)
    weight = head_params(name, "weights", weights, n, state_value, unit=False)
    delta = td_error(gamma, state_value, next_state_value, reward, terminated.bool())
    decay = (gamma * lmbda) * (~done.bool()).to(delta.dtype)  # [*B, T, N]
    advantage = reverse_linear_scan(delta, decay)
    combined = (advantage * weight).sum(-1, keepdim=True)
    return combined, advantage, advantage + state_value


def multi_head_value_loss(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each value head.

    Args:
        predictions: predicted values ``[*B, N]`` (for rollouts ``[*B, T, N]``).
        targets: value targets, same shape (no gradient flows into them: they are detached).

    Returns:
        per-head losses ``[N]``: ``mean over *B of (predictions[..., h] - targets[..., h])^2``. Sum
        them (or weight them) for the total value loss.

    Raises:
        TypeError: an argument is not a tensor.
        ValueError: an empty input or mismatched shapes.

    Examples:
        >>> import torch
        >>> multi_head_value_loss(torch.tensor([[1.0, 0.0], [3.0, 2.0]]), torch.zeros(2, 2))
        tensor([5., 2.])
    """
    name = "multi_head_value_loss"
    for key, value in (("predictions", predictions), ("targets", targets)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name}: {key} must be a torch.Tensor, got {type(value).__name__}")
        if value.dim() < 1 or value.numel() == 0:
            raise ValueError(f"{name}: {key} has shape {tuple(value.shape)}, expected a non-empty [*B, N]")
    if predictions.shape != targets.shape:
        raise ValueError(
            f"{name}: targets has shape {tuple(targets.shape)} but predictions has {tuple(predictions.shape)}; "
            "expected the same shape [*B, N]"
        )
    squared = (predictions - targets.detach()).pow(2)
    return squared.reshape(-1, squared.shape[-1]).mean(0)
