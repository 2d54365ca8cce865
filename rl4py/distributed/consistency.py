"""Checks that every process of a run was started with the same settings.

On one machine a launcher starts every process from one command line; across nodes each node is
started on its own, and a node given another seed, recipe or step limit either trains something
else silently or waits forever in a collective the other ranks never reach.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.distributed as dist

__all__ = ["check_same_settings", "settings_differences"]

_PLAIN = (type(None), bool, int, float, str)


def _plain(value: Any) -> Any:
    """``value`` as nested dicts and lists of plain values; any other object as ``<its type name>``
    (no memory addresses: the same setting reads the same in every process)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, _PLAIN):
        return value
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> dict[str, str]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = repr(value)  # repr: 1 and 1.0 differ, nan equals nan
    return out


def settings_differences(reference: Mapping[str, Any], other: Mapping[str, Any]) -> list[str]:
    """The settings that differ between two nested mappings, one ``"key: reference != other"`` line
    each (keys dotted: ``config.num_envs: 32 != 16``; a key one side lacks reads ``<missing>``).

    Examples:
        >>> settings_differences({"seed": 0, "config": {"lr": 0.01, "num_envs": 32}},
        ...                      {"seed": 0, "config": {"lr": 0.01, "num_envs": 16}})
        ['config.num_envs: 32 != 16']
    """
    if not isinstance(reference, Mapping) or not isinstance(other, Mapping):
        raise TypeError(
            f"settings_differences: expected two mappings, got {type(reference).__name__} and {type(other).__name__}"
        )
    left, right = _flatten(_plain(reference), "", {}), _flatten(_plain(other), "", {})
    keys = list(left) + [key for key in right if key not in left]
    return [
        f"{key}: {left.get(key, '<missing>')} != {right.get(key, '<missing>')}"
        for key in keys
        if left.get(key) != right.get(key)
    ]


def check_same_settings(settings: Mapping[str, Any], who: str = "rl4py", group: Any = None) -> None:
    """Raises on every process when some process's ``settings`` differ from rank 0's.

    A collective: every process of ``group`` must call it (a no-op without an initialized
    ``torch.distributed`` process group, or with one process). Values other than mappings, lists
    and plain scalars are compared by their type name.

    Args:
        settings: what must be the same on every rank (seed, hyperparameters, step limits).
        who: the name the error message starts with.
        group: the process group (``None``: the default group).

    Raises:
        ValueError: naming each differing rank and setting, on every rank alike (so that no rank
            goes on alone into a collective the others never reach).
    """
    if not isinstance(settings, Mapping):
        raise TypeError(f"{who}: check_same_settings takes a mapping of settings, got {type(settings).__name__}")
    if not (dist.is_available() and dist.is_initialized()):
        return
    world_size = dist.get_world_size(group)
    if world_size == 1:
        return
    every: list[Any] = [None] * world_size
    dist.all_gather_object(every, _plain(settings), group=group)
    problems = [
        f"rank {rank} has {difference}"
        for rank, other in enumerate(every[1:], start=1)
        for difference in settings_differences(every[0], other)
    ]
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise ValueError(
            f"{who}: the processes of this run were started with different settings (rank 0's first): {shown}; "
            "start every node with the same code, recipe, seed and command-line overrides"
        )
