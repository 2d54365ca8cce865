"""Plain loop-over-time transcriptions of the value estimators, to test fast implementations against.

Each function takes the arguments of its counterpart in :mod:`rl4py.values.functional` and
returns the same tuple, computed the slow and obvious way: one step at a time, backwards, with
the formula written out as it appears in the papers. They import nothing from
:mod:`rl4py.values`, so a bug in the fast forms' shared machinery cannot hide in both. They do
not validate their inputs: use them on well-formed tensors ``[*B, T, F]`` with time at dim -2.

Examples:
    >>> import torch
    >>> col = lambda *xs: torch.tensor(xs).view(1, -1, 1)
    >>> zeros = torch.zeros(1, 3, 1)
    >>> advantage, _ = gae_reference(0.5, 1.0, zeros, zeros, torch.ones(1, 3, 1), col(False, False, True))
    >>> advantage[0, :, 0]
    tensor([1.7500, 1.5000, 1.0000])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "gae_reference",
    "multi_head_gae_reference",
    "td_lambda_reference",
    "upgo_reference",
    "vtrace_reference",
]


def _steps(x: torch.Tensor) -> list[torch.Tensor]:
    """The per-step slices ``x[..., t, :]`` for ``t = 0 .. T-1``."""
    return list(x.unbind(-2))


def _stack_reversed(steps: list[torch.Tensor]) -> torch.Tensor:
    """Stacks per-step results collected from the last step to the first along dim -2, in time order."""
    return torch.stack(steps[::-1], dim=-2)


def gae_reference(
    gamma: float,
    lmbda: float,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE by a reverse loop: ``A_t = delta_t + gamma * lmbda * (1 - done_t) * A_{t+1}``.

    Same arguments and result as :func:`rl4py.values.functional.generalized_advantage_estimate`.
    """
    terminated = done if terminated is None else terminated
    v, nv, r = _steps(state_value), _steps(next_state_value), _steps(reward)
    d, term = _steps(done.bool()), _steps(terminated.bool())
    advantage = []  # from the last step to the first
    running = torch.zeros_like(r[0])
    for t in reversed(range(len(r))):
        delta = r[t] + gamma * torch.where(term[t], 0.0, nv[t]) - v[t]
        running = delta + gamma * lmbda * torch.where(d[t], 0.0, running)
        advantage.append(running)
    advantage_ = _stack_reversed(advantage)
    return advantage_, advantage_ + state_value


def multi_head_gae_reference(
    gammas: Sequence[float],
    lmbdas: Sequence[float],
    weights: Sequence[float],
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Multi-head GAE as one :func:`gae_reference` per head, then the weighted sum of the heads.

    Same arguments and result as
    :func:`rl4py.values.functional.multi_head_generalized_advantage_estimate`.
    """
    heads = [
        gae_reference(
            float(gammas[h]),
            float(lmbdas[h]),
            state_value[..., h : h + 1],
            next_state_value[..., h : h + 1],
            reward[..., h : h + 1],
            done,
            terminated,
        )
        for h in range(len(weights))
    ]
    advantage = torch.cat([a for a, _ in heads], dim=-1)
    value_target = torch.cat([target for _, target in heads], dim=-1)
    combined = sum(float(w) * advantage[..., h : h + 1] for h, w in enumerate(weights))
    return combined, advantage, value_target


def vtrace_reference(
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
    """V-trace (Espeholt et al., 2018) by a reverse loop over ``v_t - V(s_t)``.

    Same arguments and result as :func:`rl4py.values.functional.vtrace_advantage_estimate`::

        v_t - V(s_t) = delta_t + gamma * (1 - done_t) * c_t * (v_{t+1} - V(s_{t+1}))
        advantage_t  = rho_t * (r_t + gamma * (1 - terminated_t) * v'_t - V(s_t))
    """
    terminated = done if terminated is None else terminated
    v, nv, r, lr = _steps(state_value), _steps(next_state_value), _steps(reward), _steps(log_rho)
    d, term = _steps(done.bool()), _steps(terminated.bool())
    advantage, value_target = [], []  # from the last step to the first
    correction_next = torch.zeros_like(r[0])  # v_{t+1} - V(s_{t+1}); 0 after the last step
    for t in reversed(range(len(r))):
        rho = lr[t].exp().clamp(max=rho_bar)
        c = lr[t].exp().clamp(max=c_bar)
        bootstrap = gamma * torch.where(term[t], 0.0, nv[t])
        carried = torch.where(d[t], 0.0, correction_next)  # the trace stops at an episode end
        correction = rho * (r[t] + bootstrap - v[t]) + gamma * c * carried
        next_vs = nv[t] + carried  # v_{t+1} inside the episode, V(s'_t) at its end or the rollout's
        advantage.append(rho * (r[t] + gamma * torch.where(term[t], 0.0, next_vs) - v[t]))
        value_target.append(v[t] + correction)
        correction_next = correction
    return _stack_reversed(advantage), _stack_reversed(value_target)


def upgo_reference(
    gamma: float,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """UPGO with AlphaStar's rule by a reverse loop.

    Same arguments and result as :func:`rl4py.values.functional.upgo_advantage_estimate`::

        G_t = r_t + gamma * G_{t+1}                       if not done_t, t < T-1 and delta_{t+1} >= 0
        G_t = r_t + gamma * (1 - terminated_t) * V(s'_t)   otherwise
    """
    terminated = done if terminated is None else terminated
    v, nv, r = _steps(state_value), _steps(next_state_value), _steps(reward)
    d, term = _steps(done.bool()), _steps(terminated.bool())
    steps = len(r)
    one_step = [r[t] + gamma * torch.where(term[t], 0.0, nv[t]) for t in range(steps)]
    delta = [one_step[t] - v[t] for t in range(steps)]
    value_target = [one_step[-1]]  # from the last step to the first; the last one bootstraps
    for t in reversed(range(steps - 1)):
        upgoing = ~d[t] & (delta[t + 1] >= 0)  # Q(s_{t+1}, a_{t+1}) >= V(s_{t+1})
        value_target.append(torch.where(upgoing, r[t] + gamma * value_target[-1], one_step[t]))
    target = _stack_reversed(value_target)
    return target - state_value, target


def td_lambda_reference(
    gamma: float,
    lmbda: float,
    state_value: torch.Tensor,
    next_state_value: torch.Tensor,
    reward: torch.Tensor,
    continuation: torch.Tensor,
    done: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lambda-returns by a reverse loop: ``R_t = r_t + gamma c_t ((1 - lmbda) V(s'_t) + lmbda R_{t+1})``.

    ``R_{t+1}`` is replaced by ``V(s'_t)`` at the last step and where ``done_t``. Same arguments
    and result as :func:`rl4py.values.functional.td_lambda_return_estimate`.
    """
    nv, r, c = _steps(next_state_value), _steps(reward), _steps(continuation.to(state_value.dtype))
    d = _steps(torch.zeros_like(reward, dtype=torch.bool) if done is None else done.bool())
    value_target = []  # from the last step to the first
    for t in reversed(range(len(r))):
        if t == len(r) - 1:
            tail = nv[t]  # the bootstrap
        else:
            tail = torch.where(d[t], nv[t], (1 - lmbda) * nv[t] + lmbda * value_target[-1])
        value_target.append(r[t] + gamma * c[t] * tail)
    target = _stack_reversed(value_target)
    return target - state_value, target
