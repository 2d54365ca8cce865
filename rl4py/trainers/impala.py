"""The IMPALA-style actor-critic: its defaults table (:class:`ImpalaConfig`), its builder
(:func:`build_impala`), the lagging behaviour policy (:class:`BehaviourLag`) and the plain loop
(:func:`train_impala`). The update body is :func:`~rl4py.trainers.actor_critic.actor_critic_update`,
shared with :class:`~rl4py.trainers.ImpalaModule`."""

from __future__ import annotations

import copy
import functools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import torch
from tensordict import TensorDictBase
from torch import nn

from rl4py.envs.base import EnvBase
from rl4py.losses.actor_critic import ActorCriticLoss
from rl4py.trainers.actor_critic import (
    ActorCriticConfig,
    ActorCriticParts,
    LossFactory,
    build_for_env,
    make_networks,
    run_actor_critic,
    wire_value_estimator,
)
from rl4py.trainers.config import _at_least, check_range
from rl4py.trainers.tracking import Progress, TrainResult
from rl4py.values.base import ValueEstimator
from rl4py.values.upgo import UPGO
from rl4py.values.vtrace import VTrace

__all__ = ["UPGO_ADVANTAGE", "BehaviourLag", "ImpalaConfig", "build_impala", "train_impala"]

UPGO_ADVANTAGE = "upgo_advantage"
"""The entry UPGO writes beside V-trace's ``"advantage"`` (``upgo=True``)."""


@dataclass(frozen=True)
class ImpalaConfig(ActorCriticConfig):
    """Hyperparameters of the V-trace actor-critic (Espeholt et al., 2018), with an actor lag
    standing in for IMPALA's remote actors; ``upgo`` adds ROA-Star's UPGO term."""

    num_envs: int = 32
    """Sub-envs stepped together (the actors)."""
    rollout_length: int = 32
    """Steps per sub-env per rollout (IMPALA's unroll length)."""
    total_frames: int = 500_000
    """Env steps budget."""
    policy_lag: int = 2
    """The behaviour policy collecting each rollout is the learner from this many updates ago,
    as when actors run ahead of a remote learner; V-trace corrects for the difference."""
    lr: float = 1e-3
    """Adam learning rate."""
    rho_bar: float = 1.0
    """V-trace clip of the importance weights in the targets and advantages."""
    c_bar: float = 1.0
    """V-trace clip of the trace coefficients."""
    upgo: bool = False
    """Add UPGO's policy-gradient term (ROA-Star) to V-trace's."""
    epochs: int = 1
    """Passes over each rollout (1 in IMPALA)."""

    SHADOWED_BY = {
        **ActorCriticConfig.SHADOWED_BY,
        ("loss",): ("entropy_coeff", "critic_coeff"),
        ("value_estimator",): ("gamma", "rho_bar", "c_bar"),
    }

    def check(self) -> None:
        super().check()
        _at_least(self, "policy_lag", 0)
        check_range(self, "rho_bar", 0.0)
        check_range(self, "c_bar", 0.0)


def build_impala(
    observation_space: gym.Space,
    action_space: gym.Space,
    config: ImpalaConfig,
    *,
    masked: bool = False,
    actor: nn.Module | None = None,
    critic: nn.Module | None = None,
    loss: LossFactory | None = None,
    value_estimator: ValueEstimator | None = None,
) -> ActorCriticParts:
    """The V-trace actor-critic's components; each one passed in is used instead of built.

    The estimator stages are the value estimator (default :class:`~rl4py.values.VTrace` with the
    config's ``gamma``, ``rho_bar``, ``c_bar``) and, with ``upgo``, :class:`~rl4py.values.UPGO`
    writing ``"upgo_advantage"`` from the values and target log-probs the first stage stored
    (importance-weighted with AlphaStar's clip at 1). The collecting policy is a frozen copy of
    the actor (move it with :class:`BehaviourLag`).

    Raises:
        TypeError: ``upgo`` with a loss that has no ``advantage_keys``.
    """
    config.refuse_shadowed(actor=actor, critic=critic, loss=loss, value_estimator=value_estimator)
    actor, critic = make_networks(observation_space, action_space, config, masked=masked, actor=actor, critic=critic)
    if loss is None:
        loss = functools.partial(ActorCriticLoss, entropy_coeff=config.entropy_coeff, critic_coeff=config.critic_coeff)
    loss_module = loss(actor, critic)
    if value_estimator is None:
        value_estimator = VTrace(config.gamma, config.rho_bar, config.c_bar, value_network=critic, actor=actor)
    else:
        wire_value_estimator(value_estimator, critic, actor)
    stages: list[ValueEstimator] = [value_estimator]
    if config.upgo:
        advantage_keys = getattr(loss_module, "advantage_keys", None)
        if advantage_keys is None:
            raise TypeError(
                f"build_impala: upgo=True needs a loss with advantage_keys (ActorCriticLoss), "
                f"got {type(loss_module).__name__}"
            )
        gamma = getattr(value_estimator, "gamma", config.gamma)
        stages.append(
            UPGO(
                gamma,
                value_network=None,
                write_value_target=False,
                rho_bar=1.0,
                actor=actor,
                advantage_key=UPGO_ADVANTAGE,
            )
        )
        if UPGO_ADVANTAGE not in advantage_keys:
            loss_module.advantage_keys = [*advantage_keys, UPGO_ADVANTAGE]
    # no gradient reaches the behaviour copy; it is a submodule of whoever holds it, so its
    # weights are checkpointed
    behaviour = copy.deepcopy(actor).requires_grad_(False)
    return ActorCriticParts(actor, critic, loss_module, stages, policy=behaviour)


class BehaviourLag:
    """Keeps the behaviour policy ``lag`` learner updates behind the learner.

    After each update, :meth:`after_update` snapshots the learner and loads the snapshot from
    ``lag`` updates ago into the behaviour policy (``lag=0``: on-policy).

    Args:
        actor: the learner.
        behaviour: the policy that collects (same architecture).
        lag: updates between the two.
    """

    def __init__(self, actor: nn.Module, behaviour: nn.Module, lag: int) -> None:
        if lag < 0:
            raise ValueError(f"BehaviourLag: lag must be >= 0, got {lag}")
        self.actor = actor
        self.behaviour = behaviour
        self.snapshots: deque[dict[str, torch.Tensor]] = deque(maxlen=lag + 1)
        self.restart()

    def restart(self) -> None:
        """Forgets the snapshots; the behaviour policy becomes the learner as it is now."""
        self.snapshots.clear()
        self.snapshots.append(self._snapshot())
        self.behaviour.load_state_dict(self.snapshots[0])

    def _snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.actor.state_dict().items()}

    def after_update(self) -> None:
        """Snapshots the learner and moves the behaviour policy to the snapshot ``lag`` updates back."""
        self.snapshots.append(self._snapshot())
        self.behaviour.load_state_dict(self.snapshots[0])

    def state_dict(self) -> dict:
        """The learner snapshots the behaviour policy will load next."""
        return {"actor_snapshots": list(self.snapshots)}

    def load_state_dict(self, state: dict, device: torch.device | None = None) -> None:
        """Restores the snapshots (moved to ``device``).

        Raises:
            ValueError: more snapshots than ``lag + 1`` (the run had a longer lag).
        """
        snapshots = state["actor_snapshots"]
        if len(snapshots) > self.snapshots.maxlen:
            raise ValueError(
                f"BehaviourLag: the checkpoint holds {len(snapshots)} learner snapshots, more than "
                f"policy_lag + 1 = {self.snapshots.maxlen}; resume with the policy_lag it was trained with"
            )
        self.snapshots.clear()
        self.snapshots.extend({k: v.to(device) for k, v in snap.items()} for snap in snapshots)


def train_impala(
    env: EnvBase,
    config: ImpalaConfig | None = None,
    progress: Progress | None = None,
    progress_every: int = 10,
    *,
    actor: nn.Module | None = None,
    critic: nn.Module | None = None,
    loss: LossFactory | None = None,
    value_estimator: ValueEstimator | None = None,
    on_update: Callable[[TensorDictBase, int], object] | None = None,
) -> TrainResult:
    """Trains an actor-critic with V-trace off rollouts from a lagging behaviour policy.

    Each iteration: the behaviour actor (the learner's weights from ``policy_lag`` updates ago)
    collects a rollout; :class:`~rl4py.values.VTrace` computes the value targets and
    importance-weighted advantages with the learner's policy; optionally
    :class:`~rl4py.values.UPGO` adds ``"upgo_advantage"``; :class:`~rl4py.losses.ActorCriticLoss`
    updates the learner.

    Args:
        env: a batched env with a flat ``Box`` observation (any action space ``make_actor_critic`` supports).
        config: hyperparameters.
        progress: where to report every ``progress_every`` iterations (a callable, an rl4py or a Lightning
            logger: see :class:`~rl4py.trainers.ProgressReporter`).
        progress_every: iterations between ``progress`` calls.
        actor, critic, loss, value_estimator: components replacing the built ones (:func:`build_impala`).
        on_update: called after each update with its stats and the env frames so far (a
            :class:`~rl4py.diagnostics.TrainingHealth`'s ``update``).

    Returns:
        A :class:`~rl4py.trainers.TrainResult` with modules ``actor``, ``critic``, ``behaviour``.
    """
    config = config or ImpalaConfig()
    start = time.perf_counter()
    parts = build_for_env(
        build_impala, env, config, actor=actor, critic=critic, loss=loss, value_estimator=value_estimator
    )
    lag = BehaviourLag(parts.actor, parts.policy, config.policy_lag)
    return run_actor_critic(
        env,
        parts,
        config,
        owner="train_impala",
        start=start,
        modules={"actor": parts.actor, "critic": parts.critic, "behaviour": parts.policy},
        after_update=lag.after_update,
        on_update=on_update,
        progress=progress,
        progress_every=progress_every,
    )
