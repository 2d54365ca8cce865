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

from collections.abc import Sequence
from typing import NamedTuple

import torch

__all__ = [
    "VTraceReturns",
    "generalized_advantage_estimate",
    "multi_head_generalized_advantage_estimate",
    "multi_head_value_loss",
    "td0_advantage",
    "td_lambda_return_estimate",
    "upgo_advantage_estimate",
    "vec_generalized_advantage_estimate",
    "vec_multi_head_generalized_advantage_estimate",
    "vec_td_lambda_return_estimate",
    "vec_upgo_advantage_estimate",
    "vec_vtrace_advantage_estimate",
    "vtrace",
    "vtrace_advantage_estimate",
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
    _check(
        "td0_advantage",
        state_value=state_value,
        next_state_value=next_state_value,
        reward=reward,
        terminated=terminated,
    )
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


# ---------------------------------------------------------------------------------------------------------------------
# V-trace, UPGO, multi-head GAE and TD(lambda). Each is a reverse linear recursion x_t = s_t + d_t x_{t+1}, solved by
# :func:`_reverse_linear_recursion` with the loop (reference) or the [T, T] matrix (fast form).


def _reverse_linear_recursion(source: torch.Tensor, decay: torch.Tensor, vectorized: bool) -> torch.Tensor:
    """Solves ``x_t = source_t + decay_t * x_{t+1}`` backwards over dim -2 with ``x_T = 0``.

    Args:
        source: ``[*B, T, F]``.
        decay: ``[*B, T, F]`` (the last step's decay multiplies ``x_T = 0``, so it is never used).
        vectorized: ``True`` for the loop-free ``O(B F T^2)`` matrix form, ``False`` for the loop over time.

    Returns:
        ``x`` ``[*B, T, F]``.
    """
    dtype = torch.promote_types(source.dtype, decay.dtype)
    source, decay = source.to(dtype), decay.to(dtype)
    if vectorized:
        matrix = _discounted_sum_matrix(decay.transpose(-1, -2))  # [*B, F, T, T]
        return (matrix @ source.transpose(-1, -2).unsqueeze(-1)).squeeze(-1).transpose(-1, -2)
    out = torch.empty_like(source)
    running = torch.zeros_like(source.select(-2, 0))
    for t in range(source.shape[-2] - 1, -1, -1):
        running = source.select(-2, t) + decay.select(-2, t) * running
        out.select(-2, t).copy_(running)
    return out


def _shift_back(x: torch.Tensor, fill: float | bool = 0) -> torch.Tensor:
    """``y_t = x_{t+1}`` over dim -2, with ``y_{T-1} = fill``."""
    return torch.cat([x[..., 1:, :], torch.full_like(x[..., :1, :], fill)], dim=-2)


def _check_clip(name: str, rho_bar: float, c_bar: float) -> None:
    for arg, value in (("rho_bar", rho_bar), ("c_bar", c_bar)):
        if not value > 0:  # also rejects NaN
            raise ValueError(f"{name}: {arg} must be a positive clipping threshold (> 0), got {value}")


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
    vectorized: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """V-trace on ``[*B, T, 1]`` tensors; returns ``(pg_advantage, vs)``.

    ``bootstrap_discount`` multiplies ``V(x'_t)`` in the TD error, ``trace_discount`` the trace
    ``c_t``, and ``continues`` (0/1) says whether ``v_{t+1}`` belongs to the same sequence.
    """
    ratio = log_rho.exp()
    rho = ratio.clamp(max=rho_bar)
    c = ratio.clamp(max=c_bar)
    delta = rho * (reward + bootstrap_discount * next_state_value - state_value)
    correction = _reverse_linear_recursion(delta, trace_discount * c, vectorized)  # v_t - V(x_t)
    vs = state_value + correction
    next_vs = next_state_value + continues * _shift_back(correction)  # v_{t+1}, or V(x'_t) at a sequence end
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

    The single-sequence form of the seed book (``vtrace_targets``): ``values[..., t]`` is
    ``V(x_t)``, ``bootstrap_value`` is ``V(x_T)`` after the last step, ``discounts[..., t]`` is the
    discount applied after step ``t`` (``gamma``, or 0 where the episode ends). With
    ``rho_t = min(rho_bar, exp(log_rhos_t))`` and ``c_t = min(c_bar, exp(log_rhos_t))``::

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
    """
    name = "vtrace"
    _check_clip(name, rho_bar, c_bar)
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
    column = [x.unsqueeze(-1) for x in (log_rhos, discounts, rewards, values)]
    log_rho, discount, reward, value = column
    next_value = torch.cat([value[..., 1:, :], bootstrap_value.to(value.dtype)[..., None, None]], dim=-2)
    pg_advantage, vs = _vtrace_core(
        log_rho, discount, discount, torch.ones_like(value), reward, value, next_value, rho_bar, c_bar, vectorized=False
    )
    return VTraceReturns(vs.squeeze(-1), pg_advantage.squeeze(-1))


def _vtrace_batched(
    name: str,
    gamma: float,
    log_rho: torch.Tensor,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None,
    rho_bar: float,
    c_bar: float,
    vectorized: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    terminated = done if terminated is None else terminated
    _check_clip(name, rho_bar, c_bar)
    _check(
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
        gamma * not_terminated,
        gamma * not_done,
        not_done,
        reward,
        state_value,
        next_state_value,
        rho_bar,
        c_bar,
        vectorized,
    )


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
    """V-trace (Espeholt et al., 2018) on time-last rollouts ``[*B, T, 1]``, loop reference.

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
    """
    return _vtrace_batched(
        "vtrace_advantage_estimate",
        gamma,
        log_rho,
        state_value,
        next_state_value,
        reward,
        done,
        terminated,
        rho_bar,
        c_bar,
        vectorized=False,
    )


def vec_vtrace_advantage_estimate(
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
    """V-trace without a Python loop over time (``O(B T^2)`` memory); same arguments and result as
    :func:`vtrace_advantage_estimate`."""
    return _vtrace_batched(
        "vec_vtrace_advantage_estimate",
        gamma,
        log_rho,
        state_value,
        next_state_value,
        reward,
        done,
        terminated,
        rho_bar,
        c_bar,
        vectorized=True,
    )


def _upgo(
    name: str,
    gamma: float,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None,
    vectorized: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    terminated = done if terminated is None else terminated
    _check(
        name,
        state_value=state_value,
        next_state_value=next_state_value,
        reward=reward,
        done=done,
        terminated=terminated,
    )
    done, terminated = done.bool(), terminated.bool()
    delta = _td_error(gamma, state_value, next_state_value, reward, terminated)
    # G_t takes G_{t+1} iff the episode goes on after t, t < T - 1 and step t+1 is upgoing (delta_{t+1} >= 0)
    propagate = _shift_back(delta >= 0, False) & ~done
    decay = gamma * propagate.to(delta.dtype)
    one_step = reward + gamma * (~terminated).to(delta.dtype) * next_state_value
    # G_t = one_step_t + decay_t * (G_{t+1} - V(s'_t))
    value_target = _reverse_linear_recursion(one_step - decay * next_state_value, decay, vectorized)
    return value_target - state_value, value_target


def upgo_advantage_estimate(
    gamma: float,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """UPGO, the upgoing policy-gradient return (AlphaStar, Vinyals et al., 2019), loop reference.

    The return follows the trajectory while the next action was at least as good as expected and
    falls back on the value estimate as soon as it was not::

        delta_t = r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t)
        G_t = r_t + gamma * G_{t+1}                          if not done_t, t < T-1 and delta_{t+1} >= 0
        G_t = r_t + gamma * (1 - terminated_t) * V(s'_t)      otherwise

    ``delta_{t+1} >= 0`` is the test ``Q(s_{t+1}, a_{t+1}) >= V(s_{t+1})`` with the one-step
    estimate ``Q = r_{t+1} + gamma * V(s_{t+2})``. A done step ends the return (terminated: no
    bootstrap; truncated: bootstrap from the true next observation); the last step of the rollout
    bootstraps from ``V(s'_{T-1})``.

    Args:
        gamma: discount.
        state_value: ``V(s_t)`` ``[*B, T, 1]``.
        next_state_value: ``V(s'_t)`` of the true next observation ``[*B, T, 1]``.
        reward: ``[*B, T, 1]``.
        done: ``[*B, T, 1]`` bool, ``terminated | truncated``.
        terminated: ``[*B, T, 1]`` bool; ``None`` means ``done``.

    Returns:
        ``(advantage, value_target)``, each ``[*B, T, 1]``: ``G_t - V(s_t)`` and ``G_t``.
    """
    return _upgo(
        "upgo_advantage_estimate", gamma, state_value, next_state_value, reward, done, terminated, vectorized=False
    )


def vec_upgo_advantage_estimate(
    gamma: float,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """UPGO without a Python loop over time (``O(B T^2)`` memory); same arguments and result as
    :func:`upgo_advantage_estimate`."""
    return _upgo(
        "vec_upgo_advantage_estimate", gamma, state_value, next_state_value, reward, done, terminated, vectorized=True
    )


def _head_params(
    name: str, arg: str, values: Sequence[float] | torch.Tensor, n: int, like: torch.Tensor, unit: bool
) -> torch.Tensor:
    tensor = torch.as_tensor(values, dtype=like.dtype, device=like.device)
    if tensor.shape != (n,):
        raise ValueError(
            f"{name}: {arg} must have one entry per head, expected shape ({n},), got {tuple(tensor.shape)}"
        )
    if unit and not bool(((tensor >= 0) & (tensor <= 1)).all()):
        raise ValueError(f"{name}: every entry of {arg} must be in [0, 1], got {tensor.tolist()}")
    return tensor


def _multi_head_gae(
    name: str,
    gammas: Sequence[float] | torch.Tensor,
    lmbdas: Sequence[float] | torch.Tensor,
    weights: Sequence[float] | torch.Tensor,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None,
    vectorized: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    terminated = done if terminated is None else terminated
    shape = _check(name, state_value=state_value, next_state_value=next_state_value, reward=reward)
    flags_shape = (*shape[:-1], 1)
    _check(name, done=done, terminated=terminated)
    for key, value in (("done", done), ("terminated", terminated)):
        if value.shape != flags_shape:
            raise ValueError(
                f"{name}: {key} has shape {tuple(value.shape)}, expected {flags_shape} ([*B, T, 1], shared by the "
                f"{shape[-1]} heads of reward/state_value {tuple(shape)})"
            )
    n = shape[-1]
    gamma = _head_params(name, "gammas", gammas, n, state_value, unit=True)
    lmbda = _head_params(name, "lmbdas", lmbdas, n, state_value, unit=True)
    weight = _head_params(name, "weights", weights, n, state_value, unit=False)
    delta = _td_error(gamma, state_value, next_state_value, reward, terminated.bool())
    decay = (gamma * lmbda) * (~done.bool()).to(delta.dtype)  # [*B, T, N]
    advantage = _reverse_linear_recursion(delta, decay, vectorized)
    combined = (advantage * weight).sum(-1, keepdim=True)
    return combined, advantage, advantage + state_value


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
    """GAE for ``N`` reward heads, each with its own discount and lambda, loop reference.

    Head ``h`` runs :func:`generalized_advantage_estimate` with ``gammas[h]`` and ``lmbdas[h]`` on
    ``reward[..., h]`` and ``state_value[..., h]``; the episode flags are shared by all heads. The
    policy's advantage is the weighted sum ``sum_h weights[h] * A_h``.

    Args:
        gammas: per-head discounts, length ``N``.
        lmbdas: per-head GAE lambdas, length ``N``.
        weights: per-head weights of the combined advantage, length ``N``.
        state_value: ``V_h(s_t)`` ``[*B, T, N]``.
        next_state_value: ``V_h(s'_t)`` of the true next observation ``[*B, T, N]``.
        reward: per-head rewards ``[*B, T, N]``.
        done: ``[*B, T, 1]`` bool, ``terminated | truncated``.
        terminated: ``[*B, T, 1]`` bool; ``None`` means ``done``.

    Returns:
        ``(advantage, head_advantages, value_target)``: the combined advantage ``[*B, T, 1]``, the
        per-head advantages ``[*B, T, N]`` and the per-head value targets ``[*B, T, N]``.
    """
    return _multi_head_gae(
        "multi_head_generalized_advantage_estimate",
        gammas,
        lmbdas,
        weights,
        state_value,
        next_state_value,
        reward,
        done,
        terminated,
        vectorized=False,
    )


def vec_multi_head_generalized_advantage_estimate(
    gammas: Sequence[float] | torch.Tensor,
    lmbdas: Sequence[float] | torch.Tensor,
    weights: Sequence[float] | torch.Tensor,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Multi-head GAE without a Python loop over time (``O(B N T^2)`` memory); same arguments and
    result as :func:`multi_head_generalized_advantage_estimate`."""
    return _multi_head_gae(
        "vec_multi_head_generalized_advantage_estimate",
        gammas,
        lmbdas,
        weights,
        state_value,
        next_state_value,
        reward,
        done,
        terminated,
        vectorized=True,
    )


def multi_head_value_loss(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each value head.

    Args:
        predictions: predicted values ``[*B, N]`` (for rollouts ``[*B, T, N]``).
        targets: value targets, same shape (no gradient flows into them: they are detached).

    Returns:
        per-head losses ``[N]``: ``mean over *B of (predictions[..., h] - targets[..., h])^2``. Sum
        them (or weight them) for the total value loss.
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


def _td_lambda(
    name: str,
    gamma: float,
    lmbda: float,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    continuation: torch.Tensor,
    done: torch.Tensor | None,
    vectorized: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    tensors = {
        "state_value": state_value,
        "next_state_value": next_state_value,
        "reward": reward,
        "continuation": continuation,
    }
    if done is not None:
        tensors["done"] = done
    _check(name, **tensors)
    continuation = continuation.to(state_value.dtype)
    if not bool(((continuation >= 0) & (continuation <= 1)).all()):
        raise ValueError(
            f"{name}: continuation must hold probabilities in [0, 1], got values in "
            f"[{continuation.min().item()}, {continuation.max().item()}]"
        )
    goes_on = torch.ones_like(continuation, dtype=torch.bool) if done is None else ~done.bool()
    goes_on = goes_on & _shift_back(torch.ones_like(goes_on), False)  # the last step bootstraps
    mix = lmbda * goes_on.to(state_value.dtype)  # weight of R_{t+1} against V(s'_t)
    discount = gamma * continuation
    # R_t = r_t + gamma c_t ((1 - mix_t) V(s'_t) + mix_t R_{t+1})
    value_target = _reverse_linear_recursion(
        reward + discount * (1 - mix) * next_state_value, discount * mix, vectorized
    )
    return value_target - state_value, value_target


def td_lambda_return_estimate(
    gamma: float,
    lmbda: float,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    continuation: torch.Tensor,
    done: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """TD(lambda) returns with per-step continuation probabilities (Dreamer's lambda-returns), loop reference.

    ::

        R_t = r_t + gamma * c_t * ((1 - lmbda) * V(s'_t) + lmbda * R_{t+1})

    where ``R_{t+1}`` is replaced by ``V(s'_t)`` at the last step (the bootstrap) and where
    ``done_t`` (the recursion is cut; a truncated step still bootstraps through ``c_t``).
    ``c_t`` is the probability that the episode continues after step ``t``: ``1 - terminated_t``
    on real rollouts, a predicted probability in imagination.

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
    """
    return _td_lambda(
        "td_lambda_return_estimate",
        gamma,
        lmbda,
        state_value,
        next_state_value,
        reward,
        continuation,
        done,
        vectorized=False,
    )


def vec_td_lambda_return_estimate(
    gamma: float,
    lmbda: float,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    continuation: torch.Tensor,
    done: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """TD(lambda) returns without a Python loop over time (``O(B T^2)`` memory); same arguments and
    result as :func:`td_lambda_return_estimate`."""
    return _td_lambda(
        "vec_td_lambda_return_estimate",
        gamma,
        lmbda,
        state_value,
        next_state_value,
        reward,
        continuation,
        done,
        vectorized=True,
    )
