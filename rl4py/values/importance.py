"""Importance log-ratios ``log pi(a|s) - log mu(a|s)`` of stored actions, for off-policy estimators."""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDictBase

from rl4py.keys import NestedKey
from rl4py.values.base import ValueEstimator

__all__ = ["check_actor", "importance_log_ratio"]


def check_actor(owner: str, actor: Any) -> None:
    """Raises ``TypeError`` unless ``actor`` is ``None`` or has ``get_dist(td)``."""
    if actor is not None and not callable(getattr(actor, "get_dist", None)):
        raise TypeError(
            f"{owner}: actor must have a get_dist(td) method returning a torch distribution, got {type(actor).__name__}"
        )


@torch.no_grad()
def importance_log_ratio(
    estimator: ValueEstimator,
    td: TensorDictBase,
    actor: Any | None,
    *,
    action_key: NestedKey,
    log_prob_key: NestedKey,
    target_log_prob_key: NestedKey,
    prefer_stored: bool = False,
) -> torch.Tensor:
    """``log pi(a_t|s_t) - log mu(a_t|s_t)`` ``[*B, T, 1]`` (no gradient).

    ``mu``'s log-probabilities are the stored ``log_prob_key`` (written at collection). ``pi``'s
    come from ``actor.get_dist(td).log_prob(action)``, which is then also stored under
    ``target_log_prob_key`` for later stages; or, without an actor (or with ``prefer_stored`` when
    the entry exists, e.g. written by :class:`~rl4py.values.VTrace` earlier in the pipeline), from
    ``target_log_prob_key``.
    """
    name = type(estimator).__name__
    behaviour = estimator._get(td, log_prob_key, "the behaviour policy during collection (ProbabilisticActor)")
    stored = td.get(target_log_prob_key, None)
    if actor is not None and not (prefer_stored and stored is not None):
        action = estimator._get(td, action_key, "the behaviour policy during collection", per_step=False)
        target = actor.get_dist(td).log_prob(action)
        if target.shape == td.batch_size:  # one log-prob per step, without the trailing 1
            target = target.unsqueeze(-1)
        source = "actor.get_dist(td).log_prob(action)"
        if target.shape == behaviour.shape:
            td.set(target_log_prob_key, target)
    else:
        target = estimator._get(
            td,
            target_log_prob_key,
            "the learner policy (the log-probability of the stored action under the policy being trained); "
            f"or pass actor=policy to {name} to compute it",
        )
        source = repr(target_log_prob_key)
    if target.shape != behaviour.shape:
        raise ValueError(
            f"{name}: {source} has shape {tuple(target.shape)}, expected {tuple(behaviour.shape)} "
            f"(the shape of {log_prob_key!r}, [*B, T, 1])"
        )
    return target - behaviour
