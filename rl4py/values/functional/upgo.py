"""UPGO, the upgoing policy-gradient return (AlphaStar's rule), on ``[*B, T, 1]`` tensors."""

from __future__ import annotations

import torch

from rl4py.values.functional._common import check_inputs, reverse_linear_scan, shift_back, td_error

__all__ = ["upgo_advantage_estimate"]


def upgo_advantage_estimate(
    gamma: float,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """UPGO, the upgoing policy-gradient return (AlphaStar, Vinyals et al., 2019).

    The return follows the trajectory while the next action was at least as good as expected and
    falls back on the value estimate as soon as it was not::

        delta_t = r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t)
        G_t = r_t + gamma * G_{t+1}                          if not done_t, t < T-1 and delta_{t+1} >= 0
        G_t = r_t + gamma * (1 - terminated_t) * V(s'_t)      otherwise

    ``delta_{t+1} >= 0`` is the test ``Q(s_{t+1}, a_{t+1}) >= V(s_{t+1})`` with the one-step
    estimate ``Q = r_{t+1} + gamma * V(s_{t+2})``. A done step ends the return (terminated: no
    bootstrap; truncated: bootstrap from the true next observation); the last step of the rollout
    bootstraps from ``V(s'_{T-1})``. The seed book's rule differs (a step's own TD error decides,
    and a non-upgoing step's target is ``V(s_t)``): ``docs/guide/upgo.md`` compares the two.

    Args:
        gamma: discount.
        state_value: ``V(s_t)`` ``[*B, T, 1]``.
        next_state_value: ``V(s'_t)`` of the true next observation ``[*B, T, 1]``.
        reward: ``[*B, T, 1]``.
        done: ``[*B, T, 1]`` bool, ``terminated | truncated``.
        terminated: ``[*B, T, 1]`` bool; ``None`` means ``done``.

    Returns:
        ``(advantage, value_target)``, each ``[*B, T, 1]``: ``G_t - V(s_t)`` and ``G_t``.

    Raises:
        ValueError: inputs of different shapes, fewer than 2 dims, or an empty time dim.

    Examples:
        >>> import torch
        >>> col = lambda *xs: torch.tensor(xs).view(1, -1, 1)
        >>> no = torch.zeros(1, 3, 1, dtype=torch.bool)
        >>> advantage, value_target = upgo_advantage_estimate(
        ...     0.5, col(0.0, 1.0, 0.0), col(1.0, 0.0, 2.0), col(0.0, 1.0, 2.0), no)
        >>> advantage[0, :, 0]
        tensor([1.2500, 1.5000, 3.0000])
    """
    terminated = done if terminated is None else terminated
    check_inputs(
        "upgo_advantage_estimate",
        state_value=state_value,
        next_state_value=next_state_value,
        reward=reward,
        done=done,
        terminated=terminated,
    )
    done, terminated = done.bool(), terminated.bool()
    delta = td_error(gamma, state_value, next_state_value, reward, terminated)
    # G_t takes G_{t+1} iff the episode goes on after t, t < T - 1 and step t+1 is upgoing (delta_{t+1} >= 0)
    propagate = shift_back(delta >= 0, False) & ~done
    decay = gamma * propagate.to(delta.dtype)
    one_step = reward + gamma * (~terminated).to(delta.dtype) * next_state_value
    # G_t = one_step_t + decay_t * (G_{t+1} - V(s'_t))
    value_target = reverse_linear_scan(one_step - decay * next_state_value, decay)
    return value_target - state_value, value_target
