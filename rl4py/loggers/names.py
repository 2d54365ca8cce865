"""The metric names every rl4py trainer logs under: CleanRL's, defined once for the plain loops and the
LightningModules.

A loss or update returns a ``TensorDict`` of rl4py field names (``loss_objective``, ``clip_fraction``,
...); :func:`stat_key` turns a field into its logged name (``losses/policy_loss``, ``losses/clipfrac``),
and :func:`progress_metrics` turns a plain loop's progress record into the metrics a logger receives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "ENV_STEPS",
    "EPISODIC_LENGTH",
    "EPISODIC_RETURN",
    "EPSILON",
    "LEARNING_RATE",
    "MAX_EPISODIC_RETURN",
    "SPS",
    "STAT_NAMES",
    "progress_metrics",
    "stat_key",
]

EPISODIC_RETURN = "charts/episodic_return"
"""Mean return of recently finished episodes."""
MAX_EPISODIC_RETURN = "charts/max_episodic_return"
"""Best return among them."""
EPISODIC_LENGTH = "charts/episodic_length"
"""Mean length (env steps) of recently finished episodes."""
LEARNING_RATE = "charts/learning_rate"
"""The optimizer's learning rate for the last update."""
SPS = "charts/SPS"
"""Env steps per second."""
ENV_STEPS = "charts/env_steps"
"""Env steps collected so far (all ranks)."""
EPSILON = "charts/epsilon"
"""DQN's exploration rate."""

#: rl4py stats field -> CleanRL's name under ``losses/``; fields not listed keep their own name.
#: ``loss_critic`` includes ``critic_coeff`` (CleanRL logs ``value_loss`` before ``vf_coef``).
STAT_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "loss_objective": "policy_loss",
        "loss_critic": "value_loss",
        "clip_fraction": "clipfrac",
        "loss_qvalue": "td_loss",
        "q_value": "q_values",
    }
)


def stat_key(field: str) -> str:
    """The logged name of an update's stats field: ``"losses/" + STAT_NAMES.get(field, field)``.

    >>> stat_key("clip_fraction"), stat_key("approx_kl")
    ('losses/clipfrac', 'losses/approx_kl')
    """
    return f"losses/{STAT_NAMES.get(field, field)}"


#: progress-record key -> metric name (see :class:`rl4py.trainers.ProgressReporter`)
_RECORD_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "frames": ENV_STEPS,
        "steps_per_second": SPS,
        "learning_rate": LEARNING_RATE,
        "epsilon": EPSILON,
        "mean_return": EPISODIC_RETURN,
        "max_return": MAX_EPISODIC_RETURN,
        "mean_length": EPISODIC_LENGTH,
        "updates": "charts/updates",
    }
)
#: record keys that are not metrics (``seconds``: every backend stores wall time itself)
_NOT_METRICS = frozenset({"seconds"})
#: record keys left out while no episode has finished (NaN), as the LightningModules leave them out
_EPISODE_KEYS = frozenset({"mean_return", "max_return", "mean_length"})


def progress_metrics(record: Mapping[str, float], stat_fields: frozenset[str] | set[str] = frozenset()) -> dict:
    """The metrics of one progress record, under the canonical names.

    Record keys in the table above get their ``charts/`` name, ``stat_fields`` (the update's stats
    fields) their :func:`stat_key`; the episode entries are left out while they are NaN (no episode
    finished yet). Other keys keep their name under ``charts/``.

    Args:
        record: a :class:`~rl4py.trainers.ProgressReporter` record (``frames``, ``steps_per_second``,
            ``mean_return``, ..., and the stats fields).
        stat_fields: which keys of ``record`` are stats fields.

    Returns:
        ``{name: float}``.

    >>> progress_metrics({"frames": 256, "seconds": 0.5, "mean_return": float("nan"), "approx_kl": 0.01}, {"approx_kl"})
    {'charts/env_steps': 256.0, 'losses/approx_kl': 0.01}
    """
    metrics = {}
    for key, value in record.items():
        if key in _NOT_METRICS or (key in _EPISODE_KEYS and math.isnan(value)):
            continue
        if key in stat_fields:
            name = stat_key(key)
        else:
            name = _RECORD_NAMES.get(key, f"charts/{key}")
        metrics[name] = float(value)
    return metrics
