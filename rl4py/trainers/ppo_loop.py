"""PPO in a plain loop: collector + GAE + PPOLoss + Adam, configured by one dataclass."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from rl4py.collectors.sync import SyncCollector
from rl4py.envs.action_masks import has_action_mask
from rl4py.envs.base import EnvBase
from rl4py.losses.ppo import PPOLoss
from rl4py.modules.activations import activation_class
from rl4py.modules.actor_critic import make_actor_critic
from rl4py.trainers.tracking import EpisodeTracker, ProgressReporter, TrainResult
from rl4py.trainers.updates import minibatch_update, num_threads
from rl4py.values import GAE, TDLambda, ValueEstimator, VTrace, make_value_estimator

__all__ = ["PPOConfig", "run_ppo", "train_ppo"]


@dataclass
class PPOConfig:
    """PPO hyperparameters; the defaults are CleanRL's ``ppo.py``."""

    num_envs: int = 4
    """Sub-envs stepped together (only used when ``train_ppo`` builds the env)."""
    rollout_length: int = 128
    """Steps per sub-env per rollout (CleanRL's ``num_steps``)."""
    total_frames: int = 500_000
    """Env steps budget over all sub-envs."""
    lr: float = 2.5e-4
    """Adam learning rate."""
    adam_eps: float = 1e-5
    """Adam epsilon (CleanRL's 1e-5)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over ``total_frames``."""
    gamma: float = 0.99
    """Discount."""
    lmbda: float = 0.95
    """GAE lambda."""
    estimator: str = "gae"
    """Value estimator stage: ``"gae"``, ``"vtrace"`` (with the actor's importance ratios),
    ``"td_lambda"`` or any name in :data:`rl4py.values.VALUE_ESTIMATORS` taking ``gamma`` and
    ``value_network``."""
    clip_epsilon: float = 0.2
    """Surrogate clip range."""
    dual_clip: float | None = None
    """Dual-clip coefficient c (> 1), or None."""
    entropy_coeff: float = 0.01
    """Entropy bonus weight."""
    critic_coeff: float = 0.5
    """Value loss weight."""
    clip_value: bool = True
    """Clip the value update to ``clip_epsilon``."""
    normalize_advantage: bool = True
    """Z-normalize advantages per minibatch."""
    epochs: int = 4
    """Passes over each rollout."""
    num_minibatches: int = 4
    """Minibatches per pass."""
    max_grad_norm: float | None = 0.5
    """Global gradient-norm clip."""
    update_threads: int | None = None
    """torch threads during the update (``None``: unchanged); collection keeps the caller's setting."""
    num_cells: tuple[int, ...] = (64, 64)
    """Hidden sizes of the actor and of the critic."""
    activation: str = "tanh"
    """Hidden activation of both networks: ``"tanh"`` (CleanRL's) or ``"relu"``."""
    init_log_std: float = 0.0
    """Initial log standard deviation of a Gaussian policy (Box action spaces)."""
    target_return: float | None = None
    """Stop once the mean return of the last ``window`` finished episodes reaches this."""
    window: int = 20
    """Episodes in the running mean compared with ``target_return``."""
    seed: int = 0
    """Seeds torch (network init, sampling) and the env."""
    extra: dict = field(default_factory=dict)
    """Free-form notes carried into the result (for benchmarks)."""


def train_ppo(
    env: EnvBase,
    config: PPOConfig | None = None,
    progress: Callable[[dict], None] | None = None,
    progress_every: int = 10,
) -> TrainResult:
    """Trains a PPO agent (separate actor and critic MLPs) on ``env``.

    The actor fits the env's action space (:func:`~rl4py.modules.make_actor_critic`):
    categorical for ``Discrete`` (masked when the env returns ``"action_mask"``),
    multi-categorical for ``MultiDiscrete``, diagonal Gaussian for ``Box``.

    Args:
        env: a batched env with a flat ``Box`` observation.
        config: hyperparameters (CleanRL's defaults if ``None``).
        progress: called every ``progress_every`` iterations with a dict of ``frames``,
            ``seconds``, ``steps_per_second``, ``mean_return`` and the loss diagnostics.
        progress_every: iterations between ``progress`` calls.

    Returns:
        A :class:`~rl4py.trainers.TrainResult` (wall time counted from the start of this call).
    """
    config = config or PPOConfig()
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    activation = activation_class(config.activation, "train_ppo")
    actor, critic = make_actor_critic(
        env.single_observation_space,
        env.single_action_space,
        config.num_cells,
        activation,
        masked=has_action_mask(env),
        init_log_std=config.init_log_std,
    )
    actor, critic = actor.to(env.device), critic.to(env.device)
    return run_ppo(
        env,
        config,
        policy=actor,
        actor=actor,
        critic=critic,
        value_network=critic,
        modules={"actor": actor, "critic": critic},
        start=start,
        progress=progress,
        progress_every=progress_every,
    )


def run_ppo(
    env: EnvBase,
    config: PPOConfig,
    *,
    policy: torch.nn.Module,
    actor: torch.nn.Module,
    critic: torch.nn.Module,
    value_network: torch.nn.Module,
    modules: dict[str, torch.nn.Module],
    start: float,
    progress: Callable[[dict], None] | None = None,
    progress_every: int = 10,
    **update_kwargs: Any,
) -> TrainResult:
    """The PPO loop of :func:`train_ppo` and :func:`~rl4py.trainers.train_recurrent_ppo` on built networks.

    Collects with ``policy``, estimates advantages with ``value_network``, updates
    :class:`~rl4py.losses.PPOLoss` on ``(actor, critic)`` with :func:`minibatch_update`
    (``update_kwargs`` such as ``keep_time``/``chunk_length`` pass through), anneals the learning
    rate, tracks episodes and reports progress.
    """
    estimator = make_estimator(config, actor, value_network)
    loss = PPOLoss(
        actor,
        critic,
        clip_epsilon=config.clip_epsilon,
        dual_clip=config.dual_clip,
        entropy_coeff=config.entropy_coeff,
        critic_coeff=config.critic_coeff,
        clip_value=config.clip_value,
        normalize_advantage=config.normalize_advantage,
    )
    optimizer = torch.optim.Adam(loss.parameters(), lr=config.lr, eps=config.adam_eps, fused=True)
    collector = SyncCollector(
        env, policy, config.rollout_length, total_frames=config.total_frames, seed=config.seed, return_same_td=True
    )
    shuffle = torch.Generator(device=env.device).manual_seed(config.seed)
    tracker = EpisodeTracker(config.window, config.target_return)
    reporter = ProgressReporter(progress, progress_every, start)
    updates = 0
    iteration = 0
    for iteration, rollout in enumerate(collector, start=1):
        tracker.update(rollout)
        if tracker.solved:
            break
        if config.anneal_lr:
            frac = 1.0 - (collector.frames - collector.frames_per_rollout) / config.total_frames
            for group in optimizer.param_groups:
                group["lr"] = config.lr * frac
        with num_threads(config.update_threads):
            estimator(rollout)
            stats = minibatch_update(
                loss,
                optimizer,
                rollout,
                epochs=config.epochs,
                num_minibatches=config.num_minibatches,
                max_grad_norm=config.max_grad_norm,
                generator=shuffle,
                **update_kwargs,
            )
            updates += config.epochs * config.num_minibatches
        reporter.maybe_report(iteration, collector.frames, tracker.mean_return, stats)
    return TrainResult(
        solved=tracker.solved,
        frames=collector.frames,
        seconds=time.perf_counter() - start,
        mean_return=tracker.mean_return,
        iterations=iteration,
        updates=updates,
        modules=modules,
        history=reporter.history,
    )


def make_estimator(config: PPOConfig, actor: torch.nn.Module, critic: torch.nn.Module) -> ValueEstimator:
    """Builds the value-estimator stage named by ``config.estimator``."""
    name = config.estimator
    if name == "gae":
        return GAE(config.gamma, config.lmbda, value_network=critic)
    if name == "vtrace":
        return VTrace(config.gamma, value_network=critic, actor=actor)
    if name == "td_lambda":
        return TDLambda(config.gamma, config.lmbda, value_network=critic)
    return make_value_estimator(name, gamma=config.gamma, value_network=critic)
