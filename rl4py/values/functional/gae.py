"""Generalized advantage estimation and the one-step TD error on ``[*B, T, 1]`` tensors."""

from __future__ import annotations

import torch

from rl4py.values.functional._common import check_inputs, reverse_linear_scan, td_error

__all__ = ["generalized_advantage_estimate", "td0_advantage"]


def td0_advantage(
    gamma: float,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    terminated: torch.Tensor,
) -> torch.Tensor:
    """One-step TD error ``r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t)``.

    Args:
        gamma: discount.
        state_value: ``V(s_t)`` ``[*B, T, 1]``.
        next_state_value: ``V(s'_t)`` of the true next observation ``[*B, T, 1]``.
        reward: ``[*B, T, 1]``.
        terminated: ``[*B, T, 1]`` bool.

    Returns:
        The TD errors ``[*B, T, 1]``.

    Examples:
        >>> import torch
        >>> col = lambda *xs: torch.tensor(xs).view(1, -1, 1)
        >>> td0_advantage(0.5, col(1.0, 1.0), col(4.0, 4.0), col(1.0, 1.0), col(False, True))[0, :, 0]
        tensor([2., 0.])
    """
    check_inputs(
        "td0_advantage",
        state_value=state_value,
        next_state_value=next_state_value,
        reward=reward,
        terminated=terminated,
    )
    return td_error(gamma, state_value, next_state_value, reward, terminated.bool())


def generalized_advantage_estimate(
    gamma: float,
    lmbda: float,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE (Schulman et al., 2015) on time-last rollouts.

    ``delta_t = r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t)`` and
    ``A_t = delta_t + gamma * lmbda * (1 - done_t) * A_{t+1}``, with ``A_T = 0`` after the last
    step. A terminated step does not bootstrap; a truncated one (done, not terminated) bootstraps
    from ``V(s'_t)``, the value of the true next observation; both cut the recursion.

    Args:
        gamma: discount.
        lmbda: GAE lambda.
        state_value: ``V(s_t)`` ``[*B, T, 1]``.
        next_state_value: ``V(s'_t)`` of the true next observation ``[*B, T, 1]``.
        reward: ``[*B, T, 1]``.
        done: ``[*B, T, 1]`` bool, ``terminated | truncated``.
        terminated: ``[*B, T, 1]`` bool; ``None`` means ``done`` (every end is a termination).

    Returns:
        ``(advantage, value_target)``, each ``[*B, T, 1]``; ``value_target = advantage + V(s_t)``.

    Raises:
        ValueError: inputs of different shapes, fewer than 2 dims, or an empty time dim.

    Examples:
        >>> import torch
        >>> col = lambda *xs: torch.tensor(xs).view(1, -1, 1)
        >>> zeros, ones = torch.zeros(1, 3, 1), torch.ones(1, 3, 1)
        >>> advantage, value_target = generalized_advantage_estimate(
        ...     0.5, 1.0, zeros, zeros, ones, done=col(False, False, True))
        >>> advantage[0, :, 0]
        tensor([1.7500, 1.5000, 1.0000])
    """
    terminated = done if terminated is None else terminated
    check_inputs(
        "generalized_advantage_estimate",
        state_value=state_value,
        next_state_value=next_state_value,
        reward=reward,
        done=done,
        terminated=terminated,
    )
    delta = td_error(gamma, state_value, next_state_value, reward, terminated.bool())
    decay = (gamma * lmbda) * (~done.bool()).to(delta.dtype)
    advantage = reverse_linear_scan(delta, decay)
    return advantage, advantage + state_value
