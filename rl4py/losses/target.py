"""Target-network updates: Polyak averaging and hard copies."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["polyak_update"]


def _check_pairs(kind: str, target: list[tuple[str, torch.Tensor]], source: list[tuple[str, torch.Tensor]]) -> None:
    if len(target) != len(source):
        raise ValueError(
            f"polyak_update: target has {len(target)} {kind}, source has {len(source)}; "
            "expected two modules of the same architecture"
        )
    for (t_name, t), (s_name, s) in zip(target, source):
        if t_name != s_name:
            raise ValueError(
                f"polyak_update: the {kind} pair {t_name!r} (target) with {s_name!r} (source); expected two "
                "modules of the same architecture with the same names (a copy.deepcopy of the source)"
            )
        if t.dtype != s.dtype:
            raise ValueError(
                f"polyak_update: {kind[:-1]} {t_name!r} of target is {t.dtype}, source {s.dtype}; expected one dtype"
            )
        if t.shape != s.shape:
            raise ValueError(
                f"polyak_update: {kind[:-1]} {t_name!r} of target has shape {tuple(t.shape)}, "
                f"source {s_name!r} has {tuple(s.shape)}; expected equal shapes"
            )
        if t.device != s.device:
            raise ValueError(
                f"polyak_update: {kind[:-1]} {t_name!r} of target is on {t.device}, source on {s.device}; "
                "expected the same device"
            )


@torch.no_grad()
def polyak_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """Moves ``target``'s parameters towards ``source``'s, in place.

    ``theta_target <- (1 - tau) * theta_target + tau * theta_source`` for every parameter, as
    one ``torch._foreach_lerp_`` over all of them (``torch._foreach_copy_`` when ``tau == 1``,
    an exact hard copy). Buffers (for example normalization statistics) are copied, not
    averaged. ``tau == 0`` leaves ``target`` unchanged.

    Parameters are paired in ``named_parameters()`` order, so both modules must share one
    architecture (a ``copy.deepcopy`` of the source, typically).

    Args:
        target: the module updated in place (the target network).
        source: the module read (the online network).
        tau: interpolation weight in ``[0, 1]``: 1 for a hard copy, 0.005 for a slow average.

    Examples:
        >>> import copy
        >>> online = nn.Linear(4, 2)
        >>> target = copy.deepcopy(online)
        >>> polyak_update(target, online, tau=0.005)
    """
    tau = float(tau)
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"polyak_update: tau must be in [0, 1], got {tau}")
    if target is source:
        raise ValueError("polyak_update: target and source are the same module; expected a separate target copy")
    t_params, s_params = list(target.named_parameters()), list(source.named_parameters())
    t_buffers, s_buffers = list(target.named_buffers()), list(source.named_buffers())
    _check_pairs("parameters", t_params, s_params)
    _check_pairs("buffers", t_buffers, s_buffers)
    if tau == 0.0:
        return
    t_tensors = [p for _, p in t_params]
    s_tensors = [p for _, p in s_params]
    if t_tensors:
        if tau == 1.0:
            torch._foreach_copy_(t_tensors, s_tensors)
        else:
            torch._foreach_lerp_(t_tensors, s_tensors, tau)
    if t_buffers:
        torch._foreach_copy_([b for _, b in t_buffers], [b for _, b in s_buffers])
