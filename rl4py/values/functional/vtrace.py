"""V-trace (IMPALA) on tensors: the paper's single-sequence form and the time-last rollout form."""

from __future__ import annotations

from typing import NamedTuple

import torch

from rl4py.values.functional._common import check_clip, check_inputs, reverse_linear_scan, shift_back

__all__ = ["VTraceReturns", "vtrace", "vtrace_advantage_estimate"]


class VTraceReturns(NamedTuple):
    """What :func:`vtrace` returns; both fields are shaped like ``values``.

    Attributes:
        vs: V-trace value targets ``v_s``.
        pg_advantages: policy-gradient advantages ``rho_s * (r_s + discount_s * v_{s+1} - V(x_s))``.
    """

    vs: torch.Tensor
    pg_advantages: torch.Tensor


def _vtrace_core(
    log_rho: torch.Tensor,
    bootstrap_discount: torch.Tensor,
    trace_discount: torch.Tensor,
    continues: torch.Tensor,
    reward: torch.Tensor,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    rho_bar: float,
    c_bar: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """V-trace on ``[*B, T, 1]`` tensors; returns ``(pg_advantage, vs)``.

    ``bootstrap_discount`` multiplies ``V(x'_t)`` in the TD error, ``trace_discount`` the trace
    ``c_t``, and ``continues`` (0/1) says whether ``v_{t+1}`` belongs to the same sequence.
    """
    ratio = log_rho.exp()
    rho = ratio.clamp(max=rho_bar)
    c = ratio.clamp(max=c_bar)
    delta = rho * (reward + bootstrap_discount * next_state_value - state_value)
    correction = reverse_linear_scan(delta, trace_discount * c)  # v_t - V(x_t)
    vs = state_value + correction
    next_vs = next_state_value + continues * shift_back(correction)  # v_{t+1}, or V(x'_t) at a sequence end
    pg_advantage = rho * (reward + bootstrap_discount * next_vs - state_value)
    return pg_advantage, vs


def vtrace(
    log_rhos: torch.Tensor,
    discounts: torch.Tensor,
    rewards: torch.Tensor,
    values: torch.Tensor,
    bootstrap_value: torch.Tensor | float,
    rho_bar: float = 1.0,
    c_bar: float = 1.0,
) -> VTraceReturns:
    """V-trace targets (Espeholt et al., 2018) for sequences with time on the **last** dim.

    The paper's single-sequence layout (the seed book's ``vtrace_targets``): ``values[..., t]`` is
    ``V(x_t)``, ``bootstrap_value`` is ``V(x_T)`` after the last step, ``discounts[..., t]`` is the
    discount applied after step ``t`` (``gamma``, or 0 where the episode ends). Rollouts in rl4py's
    ``[*B, T, 1]`` layout with done/terminated flags use :func:`vtrace_advantage_estimate`; both
    run the same math. With ``rho_t = min(rho_bar, exp(log_rhos_t))`` and
    ``c_t = min(c_bar, exp(log_rhos_t))``::

        delta_t = rho_t * (r_t + discounts_t * V(x_{t+1}) - V(x_t))
        v_t     = V(x_t) + delta_t + discounts_t * c_t * (v_{t+1} - V(x_{t+1})),   v_T = V(x_T)
        pg_t    = rho_t * (r_t + discounts_t * v_{t+1} - V(x_t))

    Args:
        log_rhos: ``log(pi(a_t|x_t) / mu(a_t|x_t))``, target over behaviour policy, ``[T]`` or ``[..., T]``.
        discounts: per-step discounts, same shape.
        rewards: same shape.
        values: ``V(x_t)``, same shape.
        bootstrap_value: ``V(x_T)``, shape ``values.shape[:-1]`` (a number or 0-d tensor for 1-D inputs).
        rho_bar: clipping threshold of the importance weights in the TD errors and the policy gradient (> 0).
        c_bar: clipping threshold of the trace coefficients (> 0).

    Returns:
        :class:`VTraceReturns` ``(vs, pg_advantages)``, each shaped like ``values``.

    Raises:
        ValueError: an empty input, inputs of different shapes, a ``bootstrap_value`` of the wrong
            shape, or a non-positive clipping threshold.

    Examples:
        >>> import torch
        >>> vs, pg = vtrace(torch.zeros(2), torch.full((2,), 0.5), torch.ones(2), torch.zeros(2), 4.0)
        >>> vs, pg
        (tensor([2.5000, 3.0000]), tensor([2.5000, 3.0000]))
    """
    name = "vtrace"
    check_clip(name, rho_bar, c_bar)
    tensors = {"log_rhos": log_rhos, "discounts": discounts, "rewards": rewards, "values": values}
    for key, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name}: {key} must be a torch.Tensor, got {type(value).__name__}")
        if value.dim() == 0:
            raise ValueError(f"{name}: {key} is a 0-d tensor; expected shape [T] or [..., T] (time on the last dim)")
        if value.shape[-1] == 0:
            raise ValueError(
                f"{name}: {key} is empty (shape {tuple(value.shape)}); expected at least one time step on the last dim"
            )
    for key, value in tensors.items():
        if value.shape != values.shape:
            raise ValueError(
                f"{name}: {key} has shape {tuple(value.shape)} but values has {tuple(values.shape)}; "
                "log_rhos, discounts, rewards and values must have the same shape [..., T]"
            )
    if not isinstance(bootstrap_value, torch.Tensor):
        bootstrap_value = torch.tensor(float(bootstrap_value), dtype=values.dtype, device=values.device)
    if bootstrap_value.shape != values.shape[:-1]:
        raise ValueError(
            f"{name}: bootstrap_value has shape {tuple(bootstrap_value.shape)}, expected {tuple(values.shape[:-1])} "
            f"(values.shape without the time dim; values has {tuple(values.shape)})"
        )
    log_rho, discount, reward, value = (x.unsqueeze(-1) for x in (log_rhos, discounts, rewards, values))
    next_value = torch.cat([value[..., 1:, :], bootstrap_value.to(value.dtype)[..., None, None]], dim=-2)
    pg_advantage, vs = _vtrace_core(
        log_rho, discount, discount, torch.ones_like(value), reward, value, next_value, rho_bar, c_bar
    )
    return VTraceReturns(vs.squeeze(-1), pg_advantage.squeeze(-1))


def vtrace_advantage_estimate(
    gamma: float,
    log_rho: torch.Tensor,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
    *,
    rho_bar: float = 1.0,
    c_bar: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """V-trace (Espeholt et al., 2018) on time-last rollouts ``[*B, T, 1]``.

    With ``rho_t = min(rho_bar, exp(log_rho_t))``, ``c_t = min(c_bar, exp(log_rho_t))``::

        delta_t = rho_t * (r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t))
        v_t - V(s_t) = delta_t + gamma * (1 - done_t) * c_t * (v_{t+1} - V(s_{t+1}))
        advantage_t = rho_t * (r_t + gamma * (1 - terminated_t) * v'_t - V(s_t))

    where ``v'_t = v_{t+1}`` inside an episode and ``v'_t = V(s'_t)`` where ``done_t`` or at the last
    step (the bootstrap). Terminated steps do not bootstrap; truncated steps bootstrap from the value
    of the true next observation; both cut the trace.

    Args:
        gamma: discount.
        log_rho: ``log pi(a_t|s_t) - log mu(a_t|s_t)`` (learner over behaviour policy) ``[*B, T, 1]``.
        state_value: ``V(s_t)`` ``[*B, T, 1]``.
        next_state_value: ``V(s'_t)`` of the true next observation ``[*B, T, 1]``.
        reward: ``[*B, T, 1]``.
        done: ``[*B, T, 1]`` bool, ``terminated | truncated``.
        terminated: ``[*B, T, 1]`` bool; ``None`` means ``done``.
        rho_bar: clipping threshold of the importance weights (> 0).
        c_bar: clipping threshold of the traces (> 0).

    Returns:
        ``(advantage, value_target)``, each ``[*B, T, 1]``: the policy-gradient advantages and ``v_t``.

    Raises:
        ValueError: inputs of different shapes, an empty time dim, or a non-positive clipping threshold.

    Examples:
        >>> import torch
        >>> zeros, ones = torch.zeros(1, 3, 1), torch.ones(1, 3, 1)
        >>> no = torch.zeros(1, 3, 1, dtype=torch.bool)
        >>> advantage, value_target = vtrace_advantage_estimate(0.5, zeros, zeros, zeros, ones, no)
        >>> value_target[0, :, 0]
        tensor([1.7500, 1.5000, 1.0000])
    """
    name = "vtrace_advantage_estimate"
    terminated = done if terminated is None else terminated
    check_clip(name, rho_bar, c_bar)
    check_inputs(
        name,
        log_rho=log_rho,
        state_value=state_value,
        next_state_value=next_state_value,
        reward=reward,
        done=done,
        terminated=terminated,
    )
    not_done = (~done.bool()).to(state_value.dtype)
    not_terminated = (~terminated.bool()).to(state_value.dtype)
    return _vtrace_core(
        log_rho,
        bootstrap_discount=gamma * not_terminated,
        trace_discount=gamma * not_done,
        continues=not_done,
        reward=reward,
        state_value=state_value,
        next_state_value=next_state_value,
        rho_bar=rho_bar,
        c_bar=c_bar,
    )
