"""TD(lambda) returns with per-step continuation probabilities (DreamerV3's lambda-returns)."""

from __future__ import annotations

import torch

from rl4py.values.functional._common import check_inputs, reverse_linear_scan, shift_back

__all__ = ["td_lambda_return_estimate"]


def td_lambda_return_estimate(
    gamma: float,
    lmbda: float,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    continuation: torch.Tensor,
    done: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """TD(lambda) returns with per-step continuation probabilities (Dreamer's lambda-returns).

    ::

        R_t = r_t + gamma * c_t * ((1 - lmbda) * V(s'_t) + lmbda * R_{t+1})

    where ``R_{t+1}`` is replaced by ``V(s'_t)`` at the last step (the bootstrap) and where
    ``done_t`` (the recursion is cut; a truncated step still bootstraps through ``c_t``).
    ``c_t`` is the probability that the episode continues after step ``t``: ``1 - terminated_t``
    on real rollouts, a predicted probability in imagination. Gradients flow through every input
    (Dreamer's actor back-propagates through imagined rewards and values).

    Args:
        gamma: discount.
        lmbda: lambda (0: one-step TD targets, 1: discounted Monte Carlo return plus bootstrap).
        state_value: ``V(s_t)`` ``[*B, T, 1]`` (only used for the advantage).
        next_state_value: ``V(s'_t)`` ``[*B, T, 1]``.
        reward: ``[*B, T, 1]``.
        continuation: ``c_t`` in ``[0, 1]``, ``[*B, T, 1]`` (float or bool).
        done: ``[*B, T, 1]`` bool cutting the recursion, or ``None`` for no cuts.

    Returns:
        ``(advantage, value_target)``, each ``[*B, T, 1]``: ``R_t - V(s_t)`` and ``R_t``.

    Raises:
        ValueError: inputs of different shapes, an empty time dim, or a continuation outside [0, 1].

    Examples:
        >>> import torch
        >>> col = lambda *xs: torch.tensor(xs).view(1, -1, 1)
        >>> advantage, value_target = td_lambda_return_estimate(
        ...     0.5, 0.5, torch.zeros(1, 3, 1), col(2.0, 4.0, 8.0), col(1.0, 2.0, 0.0), col(1.0, 0.5, 1.0))
        >>> value_target[0, :, 0]
        tensor([2.2500, 3.0000, 4.0000])
    """
    name = "td_lambda_return_estimate"
    tensors = {
        "state_value": state_value,
        "next_state_value": next_state_value,
        "reward": reward,
        "continuation": continuation,
    }
    if done is not None:
        tensors["done"] = done
    check_inputs(name, **tensors)
    continuation = continuation.to(state_value.dtype)
    if not bool(((continuation >= 0) & (continuation <= 1)).all()):
        raise ValueError(
            f"{name}: continuation must hold probabilities in [0, 1], got values in "
            f"[{continuation.min().item()}, {continuation.max().item()}]"
        )
    goes_on = torch.ones_like(continuation, dtype=torch.bool) if done is None else ~done.bool()
    goes_on = goes_on & shift_back(torch.ones_like(goes_on), False)  # the last step bootstraps
    mix = lmbda * goes_on.to(state_value.dtype)  # weight of R_{t+1} against V(s'_t)
    discount = gamma * continuation
    # R_t = r_t + gamma c_t ((1 - mix_t) V(s'_t) + mix_t R_{t+1})
    value_target = reverse_linear_scan(reward + discount * (1 - mix) * next_state_value, discount * mix)
    return value_target - state_value, value_target
