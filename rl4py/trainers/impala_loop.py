"""IMPALA-style actor-critic in a plain loop: stale behaviour policy, V-trace targets, optional UPGO."""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import torch

from rl4py import keys
from rl4py.collectors.sync import SyncCollector
from rl4py.envs.action_masks import has_action_mask
from rl4py.envs.base import EnvBase
from rl4py.losses.actor_critic import ActorCriticLoss
from rl4py.modules.actor_critic import make_actor_critic
from rl4py.trainers.tracking import EpisodeTracker, ProgressReporter, TrainResult
from rl4py.trainers.updates import minibatch_update, num_threads
from rl4py.values.upgo import UPGO
from rl4py.values.vtrace import VTrace

__all__ = ["ImpalaConfig", "train_impala"]

UPGO_ADVANTAGE = "upgo_advantage"


@dataclass
class ImpalaConfig:
    """Hyperparameters of :func:`train_impala`."""

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
    gamma: float = 0.99
    """Discount."""
    rho_bar: float = 1.0
    """V-trace clip of the importance weights in the targets and advantages."""
    c_bar: float = 1.0
    """V-trace clip of the trace coefficients."""
    upgo: bool = False
    """Add UPGO's policy-gradient term (ROA-Star) to V-trace's."""
    entropy_coeff: float = 0.01
    """Entropy bonus weight."""
    critic_coeff: float = 0.5
    """Value loss weight."""
    epochs: int = 1
    """Passes over each rollout (1 in IMPALA)."""
    num_minibatches: int = 4
    """Minibatches per pass."""
    max_grad_norm: float | None = 0.5
    """Global gradient-norm clip."""
    num_cells: tuple[int, ...] = (64, 64)
    """Hidden sizes of the actor and of the critic."""
    update_threads: int | None = None
    """torch threads during the update (``None``: unchanged)."""
    target_return: float | None = None
    """Stop once the mean return of the last ``window`` episodes reaches this."""
    window: int = 20
    """Episodes in the running mean."""
    seed: int = 0
    """Seeds torch and the env."""


def train_impala(
    env: EnvBase,
    config: ImpalaConfig | None = None,
    progress: Callable[[dict], None] | None = None,
    progress_every: int = 10,
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
        progress: called every ``progress_every`` iterations with a dict of measurements.
        progress_every: iterations between ``progress`` calls.

    Returns:
        A :class:`~rl4py.trainers.TrainResult` with modules ``actor``, ``critic``, ``behaviour``.
    """
    config = config or ImpalaConfig()
    if config.policy_lag < 0:
        raise ValueError(f"train_impala: policy_lag must be >= 0, got {config.policy_lag}")
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    actor, critic = make_actor_critic(
        env.single_observation_space,
        env.single_action_space,
        config.num_cells,
        masked=has_action_mask(env),
    )
    actor, critic = actor.to(env.device), critic.to(env.device)
    behaviour = copy.deepcopy(actor).requires_grad_(False)
    vtrace = VTrace(config.gamma, config.rho_bar, config.c_bar, value_network=critic, actor=actor)
    advantage_keys = [keys.ADVANTAGE]
    upgo = None
    if config.upgo:
        # importance-weighted with AlphaStar's clip at 1; reuses the "target_log_prob" V-trace stored
        upgo = UPGO(
            config.gamma,
            value_network=None,
            write_value_target=False,
            rho_bar=1.0,
            actor=actor,
            advantage_key=UPGO_ADVANTAGE,
        )
        advantage_keys.append(UPGO_ADVANTAGE)
    loss = ActorCriticLoss(actor, critic, config.entropy_coeff, config.critic_coeff, advantage_keys)
    optimizer = torch.optim.Adam(loss.parameters(), lr=config.lr, eps=1e-5, fused=True)
    collector = SyncCollector(
        env, behaviour, config.rollout_length, total_frames=config.total_frames, seed=config.seed, return_same_td=True
    )
    shuffle = torch.Generator(device=env.device).manual_seed(config.seed)
    # learner weights after each update; the behaviour policy loads the one `policy_lag` updates back
    snapshots: deque[dict] = deque([copy.deepcopy(actor.state_dict())], maxlen=config.policy_lag + 1)
    tracker = EpisodeTracker(config.window, config.target_return)
    reporter = ProgressReporter(progress, progress_every, start)
    updates = 0
    iteration = 0
    for iteration, rollout in enumerate(collector, start=1):
        tracker.update(rollout)
        if tracker.solved:
            break
        with num_threads(config.update_threads):
            vtrace(rollout)
            if upgo is not None:
                upgo(rollout)  # reuses the "state_value" entries V-trace wrote
            stats = minibatch_update(
                loss,
                optimizer,
                rollout,
                epochs=config.epochs,
                num_minibatches=config.num_minibatches,
                max_grad_norm=config.max_grad_norm,
                generator=shuffle,
            )
            updates += config.epochs * config.num_minibatches
        snapshots.append(copy.deepcopy(actor.state_dict()))
        behaviour.load_state_dict(snapshots[0])
        reporter.maybe_report(iteration, collector.frames, tracker.mean_return, stats)
    return TrainResult(
        solved=tracker.solved,
        frames=collector.frames,
        seconds=time.perf_counter() - start,
        mean_return=tracker.mean_return,
        iterations=iteration,
        updates=updates,
        modules={"actor": actor, "critic": critic, "behaviour": behaviour},
        history=reporter.history,
    )
