"""Value-estimation math as pure functions on tensors with time at dim -2.

Every function takes tensors shaped ``[*batch, T, 1]`` (or ``[*batch, T, F]`` for F value
heads) and returns the same shape. ``done`` cuts the recursion (the next step belongs to a
new episode); ``terminated`` cuts the bootstrap (the next state has value 0). A truncated
step is done but not terminated: it bootstraps from ``next_state_value``, the value of the
true next observation.

Each estimator has a loop reference (a reverse loop over time, vectorized over the batch)
and a fast form without a Python loop over time; the tests check one against the other.
"""

from __future__ import annotations

import torch

__all__ = [
    "generalized_advantage_estimate",
    "td0_advantage",
    "vec_generalized_advantage_estimate",
]


def _check(name: str, **tensors: torch.Tensor) -> torch.Size:
    shape = None
    for key, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name}: {key} must be a torch.Tensor, got {type(value).__name__}")
        if value.dim() < 2:
            raise ValueError(f"{name}: {key} has shape {tuple(value.shape)}, expected [*batch, T, 1] (time at dim -2)")
        if shape is None:
            shape = value.shape
        elif value.shape != shape:
            first = next(iter(tensors))
            raise ValueError(
                f"{name}: {key} has shape {tuple(value.shape)} but {first} has {tuple(shape)}; "
                "every input must have the same shape [*batch, T, 1]"
            )
    if shape[-2] == 0:
        raise ValueError(f"{name}: the time dim (-2) is empty")
    return shape


def _td_error(gamma, state_value, next_state_value, reward, terminated):
    not_terminated = (~terminated).to(state_value.dtype)
    return reward + gamma * not_terminated * next_state_value - state_value


def td0_advantage(
    gamma: float,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    terminated: torch.Tensor,
) -> torch.Tensor:
    """One-step TD error ``r + gamma * (1 - terminated) * V(s') - V(s)``; shapes ``[*B, T, 1]``."""
    _check("td0_advantage", state_value=state_value, next_state_value=next_state_value, reward=reward)
    return _td_error(gamma, state_value, next_state_value, reward, terminated.bool())


def generalized_advantage_estimate(
    gamma: float,
    lmbda: float,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE (Schulman et al., 2015), loop reference.

    ``delta_t = r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t)`` and
    ``A_t = delta_t + gamma * lmbda * (1 - done_t) * A_{t+1}``.

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
    """
    terminated = done if terminated is None else terminated
    _check(
        "generalized_advantage_estimate",
        state_value=state_value,
        next_state_value=next_state_value,
        reward=reward,
        done=done,
        terminated=terminated,
    )
    done, terminated = done.bool(), terminated.bool()
    delta = _td_error(gamma, state_value, next_state_value, reward, terminated)
    decay = gamma * lmbda * (~done).to(delta.dtype)
    advantage = torch.empty_like(delta)
    running = torch.zeros_like(delta.select(-2, 0))
    for t in range(delta.shape[-2] - 1, -1, -1):
        running = delta.select(-2, t) + decay.select(-2, t) * running
        advantage.select(-2, t).copy_(running)
    return advantage, advantage + state_value


def _discounted_sum_matrix(decay: torch.Tensor) -> torch.Tensor:
    """``M[..., t, k] = prod_{j=t}^{k-1} decay_j`` for ``k >= t``, else 0; ``decay`` is ``[..., T]``."""
    t = decay.shape[-1]
    above_diagonal = torch.ones(t, t, dtype=torch.bool, device=decay.device).triu(1)  # k > t
    shifted = torch.cat([torch.ones_like(decay[..., :1]), decay[..., :-1]], dim=-1)  # shifted_k = decay_{k-1}
    factors = torch.where(above_diagonal, shifted.unsqueeze(-2), torch.ones((), dtype=decay.dtype, device=decay.device))
    # cumprod over k of row t: prod_{k'=t+1}^{k} decay_{k'-1} = prod_{j=t}^{k-1} decay_j
    return factors.cumprod(-1).triu_()


def vec_generalized_advantage_estimate(
    gamma: float,
    lmbda: float,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE without a Python loop over time; same arguments and result as
    :func:`generalized_advantage_estimate`.

    The recursion ``A_t = delta_t + c_t A_{t+1}`` with ``c_t = gamma * lmbda * (1 - done_t)``
    unrolls to ``A_t = sum_{k >= t} (prod_{j=t}^{k-1} c_j) delta_k``: a ``[T, T]`` matrix of
    cumulative products per sequence, applied with one batched matmul. Memory is
    ``O(B * T^2)``, so use it for rollouts of up to a few hundred steps.
    """
    terminated = done if terminated is None else terminated
    _check(
        "vec_generalized_advantage_estimate",
        state_value=state_value,
        next_state_value=next_state_value,
        reward=reward,
        done=done,
        terminated=terminated,
    )
    delta = _td_error(gamma, state_value, next_state_value, reward, terminated.bool())
    decay = (gamma * lmbda) * (~done.bool()).to(delta.dtype)
    # [*B, F, T] layout: one sequence per row
    decay_rows = decay.transpose(-1, -2)
    matrix = _discounted_sum_matrix(decay_rows)  # [*B, F, T, T]
    advantage = (matrix @ delta.transpose(-1, -2).unsqueeze(-1)).squeeze(-1).transpose(-1, -2)
    return advantage, advantage + state_value
