"""Standalone policy-gradient and value losses: building blocks for custom algorithms.

PPO and DQN compute their own losses (:class:`~rl4py.losses.PPOLoss`, the DQN loss); these are
for algorithms assembled by hand:

- :func:`huber_value_loss`: a value-head regression that large errors cannot dominate;
- :func:`reinforce_loss`: the vanilla policy gradient with a validity mask over samples;
- :func:`awr_loss`: advantage-weighted regression of a deterministic continuous policy.

Each returns a scalar and treats its targets and weights (value targets, advantages, taken
actions) as constants: gradients reach only the prediction, the log-probabilities, or the
predicted actions.
"""

from __future__ import annotations

import math

import torch

__all__ = ["awr_loss", "huber_value_loss", "reinforce_loss"]


def _check_same_shape(fn: str, name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{fn}: {name_b} must have the shape of {name_a} {tuple(a.shape)}, got {tuple(b.shape)} "
            "(nothing is broadcast)"
        )


def _check_not_empty(fn: str, name: str, x: torch.Tensor) -> None:
    if x.numel() == 0:
        raise ValueError(f"{fn}: {name} is empty (shape {tuple(x.shape)}); expected at least one sample")


def huber_value_loss(prediction: torch.Tensor, target: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """Huber loss of a value prediction: quadratic for small errors, linear for large ones.

    ``mean(0.5 e^2 if |e| <= delta else delta * (|e| - 0.5 delta))`` with ``e = V - target``
    (``torch.nn.functional.huber_loss``; with ``delta = 1`` it equals ``smooth_l1_loss``, the
    rl4burn ``value_loss``). The gradient per element is ``clamp(e, -delta, delta) / N``, so an
    outlier target moves the value head no more than an error of ``delta`` does. The target is
    detached (semi-gradient).

    Args:
        prediction: predicted values, any shape (``[*B, 1]`` by convention).
        target: the value targets, the same shape (nothing is broadcast).
        delta: the threshold between the quadratic and the linear part, ``> 0``.

    Returns:
        A scalar.
    """
    fn = "huber_value_loss"
    if not (math.isfinite(delta) and delta > 0):
        raise ValueError(f"{fn}: delta must be a finite number > 0, got {delta}")
    _check_same_shape(fn, "prediction", prediction, "target", target)
    _check_not_empty(fn, "prediction", prediction)
    return torch.nn.functional.huber_loss(prediction, target.detach(), delta=delta)


def reinforce_loss(log_prob: torch.Tensor, advantage: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """REINFORCE (vanilla policy gradient): ``-mean(A * log pi(a|s))`` over the valid samples.

    With ``mask``, the mean runs over the entries where ``mask`` is true only:
    ``-sum(mask * A * log_prob) / sum(mask)``. Masked entries (padding after an episode end,
    invalid agents, ...) get exactly zero gradient, even when their values are NaN or infinite.
    The advantage is detached.

    Args:
        log_prob: ``log pi(a|s)`` of the taken actions, with gradient; any shape
            (``[*B, 1]`` by convention).
        advantage: the same shape (nothing is broadcast: ``[B]`` against ``[B, 1]`` is an error).
        mask: bool, the same shape, true = valid sample; ``None``: every sample is valid.

    Returns:
        A scalar.

    Raises:
        TypeError: ``mask`` is not a bool tensor.
        ValueError: mismatched shapes, an empty batch, or a mask without any true entry.
    """
    fn = "reinforce_loss"
    _check_same_shape(fn, "log_prob", log_prob, "advantage", advantage)
    _check_not_empty(fn, "log_prob", log_prob)
    advantage = advantage.detach()
    if mask is None:
        return -(advantage * log_prob).mean()
    if mask.dtype != torch.bool:
        raise TypeError(f"{fn}: mask must be a bool tensor (true = valid), got dtype {mask.dtype}")
    _check_same_shape(fn, "log_prob", log_prob, "mask", mask)
    count = mask.sum()
    if count.item() == 0:
        raise ValueError(f"{fn}: mask has no true (valid) entry among {mask.numel()}; the mean would be 0/0")
    zero = log_prob.new_zeros(())
    # mask both factors, so a NaN/inf in a masked entry reaches neither the value nor the gradient
    return -(torch.where(mask, advantage, zero) * torch.where(mask, log_prob, zero)).sum() / count


def awr_loss(predicted_actions: torch.Tensor, actions: torch.Tensor, advantage: torch.Tensor) -> torch.Tensor:
    """Advantage-weighted regression for a deterministic continuous policy (rl4burn's weighting).

    ``mean_b(max(A_b, 0) * ||a_hat_b - a_b||^2)``: the squared error is summed over the action
    dims, weighted by the positive part of the advantage, and averaged over **all** ``B``
    samples (those with ``A <= 0`` count as zeros). Only samples with a positive advantage pull
    the policy towards their action; the others get exactly zero gradient (regressing *away*
    from an action with MSE has no minimum). The weights are linear in ``A`` (no
    ``exp(A / beta)``), and the advantage and the target actions are detached.

    Args:
        predicted_actions: the policy's actions ``[*B, A]`` (at least 2-D), with gradient.
        actions: the taken actions, the same shape.
        advantage: ``[*B]`` or ``[*B, 1]``.

    Returns:
        A scalar.
    """
    fn = "awr_loss"
    if predicted_actions.dim() < 2:
        raise ValueError(
            f"awr_loss: predicted_actions must be [*B, A] (at least 2-D; a 1-D action is [B, 1]), "
            f"got shape {tuple(predicted_actions.shape)}"
        )
    _check_same_shape(fn, "predicted_actions", predicted_actions, "actions", actions)
    _check_not_empty(fn, "predicted_actions", predicted_actions)
    batch = predicted_actions.shape[:-1]
    if advantage.shape == (*batch, 1):
        advantage = advantage.squeeze(-1)
    elif advantage.shape != batch:
        raise ValueError(
            f"{fn}: advantage must have shape {tuple(batch)} or {(*batch, 1)} (the batch of predicted_actions "
            f"{tuple(predicted_actions.shape)}), got {tuple(advantage.shape)}"
        )
    weight = advantage.detach().clamp(min=0.0)
    squared_error = (predicted_actions - actions.detach()).square().sum(-1)
    return (weight * squared_error).mean()
