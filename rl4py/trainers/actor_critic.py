"""What the on-policy actor-critic algorithms (PPO, recurrent PPO, IMPALA) share: the config fields
of their update, the parts a builder makes, the update body (estimate, then epochs x minibatches)
and the plain loop around it.

The update body :func:`actor_critic_update` is the one the plain loop (:func:`run_actor_critic`)
and the LightningModules' ``training_step`` both call.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium as gym
import torch
from tensordict import TensorDictBase
from torch import nn

from rl4py.collectors.sync import SyncCollector
from rl4py.envs.action_masks import has_action_mask
from rl4py.envs.base import EnvBase
from rl4py.losses.common import LossModule
from rl4py.modules.activations import activation_class
from rl4py.modules.actor_critic import make_actor_critic
from rl4py.trainers.config import TrainConfig, _at_least, check_range
from rl4py.trainers.tracking import EpisodeTracker, Progress, ProgressReporter, TrainResult
from rl4py.trainers.updates import minibatch_update, num_threads
from rl4py.values.base import VALUE_ESTIMATORS, ValueEstimator

__all__ = [
    "ActorCriticConfig",
    "ActorCriticParts",
    "LossFactory",
    "actor_critic_update",
    "build_for_env",
    "check_reward_heads",
    "make_networks",
    "make_value_estimator_for",
    "run_actor_critic",
    "wire_value_estimator",
]

LossFactory = Callable[[nn.Module, nn.Module], LossModule]
"""Builds a loss from ``(actor, critic)``: a loss class, or a ``functools.partial`` of one."""


@dataclass(frozen=True)
class ActorCriticConfig(TrainConfig):
    """The fields of an on-policy actor-critic update, shared by :class:`~rl4py.trainers.PPOConfig`
    and :class:`~rl4py.trainers.ImpalaConfig` (each states its own defaults)."""

    rollout_length: int = 128
    """Steps per sub-env per rollout."""
    lr: float = 2.5e-4
    """Adam learning rate."""
    adam_eps: float = 1e-5
    """Adam epsilon."""
    gamma: float = 0.99
    """Discount."""
    entropy_coeff: float = 0.01
    """Entropy bonus weight."""
    critic_coeff: float = 0.5
    """Value loss weight."""
    epochs: int = 4
    """Passes over each rollout."""
    num_minibatches: int = 4
    """Minibatches per pass (the rollout's samples must split evenly)."""
    max_grad_norm: float | None = 0.5
    """Global gradient-norm clip (``None``: off)."""
    skip_nonfinite: bool = False
    """Skip (and count) an optimizer step whose loss or gradient is NaN/inf, instead of raising
    :class:`~rl4py.trainers.NonFiniteLossError`."""
    num_cells: tuple[int, ...] = (64, 64)
    """Hidden sizes of the actor and of the critic."""
    activation: str = "tanh"
    """Hidden activation of both networks: ``"tanh"`` (CleanRL's) or ``"relu"``."""
    init_log_std: float = 0.0
    """Initial log standard deviation of a Gaussian policy (``Box`` action spaces)."""

    SHADOWED_BY = {("actor", "critic"): ("num_cells", "activation", "init_log_std")}

    def check(self) -> None:
        super().check()
        for name in ("rollout_length", "epochs", "num_minibatches"):
            _at_least(self, name, 1)
        check_range(self, "gamma", 0.0, 1.0)
        for name in ("lr", "adam_eps", "entropy_coeff", "critic_coeff"):
            check_range(self, name, 0.0)
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"{type(self).__name__}: max_grad_norm must be > 0 or None, got {self.max_grad_norm}")
        activation_class(self.activation, type(self).__name__)

    def check_minibatches(self, num_envs: int, owner: str, sequence_length: int = 1) -> None:
        """Raises ``ValueError`` unless a rollout of ``num_envs`` sub-envs splits into
        ``num_minibatches`` equal minibatches (of sequences of ``sequence_length`` steps)."""
        samples = num_envs * self.rollout_length // sequence_length
        if samples % self.num_minibatches:
            what = "num_envs * rollout_length" + (" / chunk_length" if sequence_length > 1 else "")
            raise ValueError(
                f"{owner}: {what} = {samples} does not split into num_minibatches={self.num_minibatches} "
                "equal minibatches; choose num_minibatches dividing it"
            )


@dataclass
class ActorCriticParts:
    """The components an actor-critic builder makes (each one may have been passed in).

    Attributes:
        actor: the trained policy (``get_dist(td)`` for the loss).
        critic: the trained value network, writing ``"state_value"``.
        loss: the loss over ``(actor, critic)``.
        estimators: the stages run on each rollout before the update, in order (the value
            estimator; IMPALA may add UPGO after it; an intrinsic reward,
            :class:`~rl4py.exploration.IntrinsicRewardStage`, goes before it).
        policy: what the collector runs (the actor; a recurrent actor-critic; IMPALA's behaviour copy).
    """

    actor: nn.Module
    critic: nn.Module
    loss: LossModule
    estimators: list[nn.Module]
    policy: nn.Module

    @property
    def value_estimator(self) -> ValueEstimator:
        """The first :class:`~rl4py.values.ValueEstimator` stage (the one writing the value targets)."""
        for stage in self.estimators:
            if isinstance(stage, ValueEstimator):
                return stage
        raise ValueError(f"ActorCriticParts: no ValueEstimator among the stages {self.estimators}")


def make_networks(
    observation_space: gym.Space,
    action_space: gym.Space,
    config: ActorCriticConfig,
    *,
    masked: bool,
    actor: nn.Module | None = None,
    critic: nn.Module | None = None,
    gsde: bool = False,
    sde_sample_freq: int = -1,
    value_heads: int = 1,
) -> tuple[nn.Module, nn.Module]:
    """The actor and critic: those given, the others :func:`~rl4py.modules.make_actor_critic`'s MLPs
    for the config's ``num_cells``, ``activation`` and ``init_log_std`` (a gSDE actor with ``gsde``,
    a critic with ``value_heads`` values)."""
    if actor is not None and critic is not None:
        return actor, critic
    activation = activation_class(config.activation, type(config).__name__)
    built_actor, built_critic = make_actor_critic(
        observation_space,
        action_space,
        config.num_cells,
        activation,
        masked=masked,
        init_log_std=config.init_log_std,
        gsde=gsde,
        sde_sample_freq=sde_sample_freq,
        value_heads=value_heads,
    )
    return (actor if actor is not None else built_actor), (critic if critic is not None else built_critic)


def make_value_estimator_for(
    name: str,
    *,
    gamma: float,
    lmbda: float,
    actor: nn.Module,
    value_network: nn.Module,
    head_weights: Sequence[float] | None = None,
    head_gammas: Sequence[float] | None = None,
) -> ValueEstimator:
    """The registered estimator ``name`` (:data:`~rl4py.values.VALUE_ESTIMATORS`), given whichever
    of ``gamma``, ``lmbda``, ``actor`` and ``value_network`` its constructor takes; a multi-head
    estimator (:class:`~rl4py.values.MultiHeadGAE`) gets ``weights=head_weights``,
    ``gammas=head_gammas`` (or ``gamma`` for every head) and ``lmbdas=lmbda``.

    Raises:
        KeyError: ``name`` is not registered.
        ValueError: a multi-head estimator without ``head_weights``.
    """
    if name not in VALUE_ESTIMATORS:
        raise KeyError(f"unknown value estimator {name!r}; registered: {sorted(VALUE_ESTIMATORS)}")
    cls = VALUE_ESTIMATORS[name]
    offered = {"gamma": gamma, "lmbda": lmbda, "actor": actor, "value_network": value_network}
    accepted = inspect.signature(cls).parameters
    if "weights" in accepted:
        if not head_weights:
            raise ValueError(f"value estimator {name!r} needs head_weights, one weight per reward head")
        offered.update(weights=tuple(head_weights), gammas=gamma if head_gammas is None else tuple(head_gammas))
        offered["lmbdas"] = lmbda
    return cls(**{key: value for key, value in offered.items() if key in accepted})


def wire_value_estimator(estimator: ValueEstimator, value_network: nn.Module, actor: nn.Module) -> ValueEstimator:
    """Points a given estimator at the built networks: its value network becomes ``value_network``
    and, if it takes a target-policy actor (V-trace, UPGO) and has none, ``actor``."""
    estimator.value_network = value_network
    if hasattr(estimator, "actor") and estimator.actor is None:
        estimator.actor = actor
    return estimator


def build_for_env(
    build: Callable[..., ActorCriticParts], env: EnvBase, config: ActorCriticConfig, **components
) -> ActorCriticParts:
    """A plain loop's build: seeds torch with ``config.seed``, calls the algorithm's builder with
    ``env``'s spaces and mask (and the ``components`` passed in) and moves the parts to ``env``'s device."""
    torch.manual_seed(config.seed)  # network init
    parts = build(
        env.single_observation_space, env.single_action_space, config, masked=has_action_mask(env), **components
    )
    check_reward_heads(env, parts.value_estimator, type(config).__name__)
    for module in (parts.loss, parts.policy, *parts.estimators):
        module.to(env.device)
    return parts


def check_reward_heads(env: EnvBase, estimator: ValueEstimator, owner: str) -> None:
    """Raises ``ValueError`` unless the estimator fits ``env``'s reward heads: a multi-head estimator
    (one with ``num_heads``) needs ``env.reward_heads == num_heads``, any other a one-head env."""
    heads = getattr(estimator, "num_heads", 1)
    if env.reward_heads != heads:
        hint = (
            "use estimator='multihead_gae' with one head_weights entry per head, or sum the heads with "
            "rl4py.envs.SumRewardHeads"
            if heads == 1
            else f"give head_weights with {env.reward_heads} entries"
        )
        raise ValueError(
            f"{owner}: {env.name} returns {env.reward_heads} reward head(s) but the value estimator "
            f"{type(estimator).__name__} expects {heads}; {hint}"
        )


def make_optimizer(loss: LossModule, config: ActorCriticConfig) -> torch.optim.Optimizer:
    """Adam over the loss's trainable parameters with the config's ``lr`` and ``adam_eps``."""
    params = [p for p in loss.parameters() if p.requires_grad]
    return torch.optim.Adam(params, lr=config.lr, eps=config.adam_eps, fused=True)


def actor_critic_update(
    parts: ActorCriticParts,
    rollout: TensorDictBase,
    optimizer: torch.optim.Optimizer,
    config: ActorCriticConfig,
    generator: torch.Generator | None,
    *,
    backward: Callable[[torch.Tensor], None] | None = None,
    keep_time: bool = False,
    chunk_length: int | None = None,
) -> TensorDictBase:
    """The update body: each estimator stage writes its entries into ``rollout``, then
    ``epochs`` x ``num_minibatches`` gradient steps of ``parts.loss`` (:func:`minibatch_update`).

    Args:
        parts: the built components.
        rollout: ``TensorDict[*B, T]`` from the collector.
        optimizer: steps the loss's parameters.
        config: ``epochs``, ``num_minibatches``, ``max_grad_norm``, ``skip_nonfinite``, ``update_threads``.
        generator: shuffles the minibatches.
        backward: the backward pass (a LightningModule passes ``self.manual_backward``).
        keep_time, chunk_length: sequence minibatches for recurrent policies (see :func:`minibatch_update`).

    Returns:
        The loss outputs averaged over the minibatches.
    """
    with num_threads(config.update_threads):
        for stage in parts.estimators:
            stage(rollout)
        return minibatch_update(
            parts.loss,
            optimizer,
            rollout,
            epochs=config.epochs,
            num_minibatches=config.num_minibatches,
            max_grad_norm=config.max_grad_norm,
            generator=generator,
            keep_time=keep_time,
            chunk_length=chunk_length,
            backward=backward,
            skip_nonfinite=config.skip_nonfinite,
        )


def run_actor_critic(
    env: EnvBase,
    parts: ActorCriticParts,
    config: ActorCriticConfig,
    *,
    owner: str,
    start: float,
    modules: dict[str, nn.Module],
    learning_rate: Callable[[int], float] | None = None,
    after_update: Callable[[], None] | None = None,
    on_update: Callable[[TensorDictBase, int], object] | None = None,
    progress: Progress | None = None,
    progress_every: int = 10,
    keep_time: bool = False,
    chunk_length: int | None = None,
    update: Callable[..., TensorDictBase] | None = None,
    rows_per_env: int = 1,
) -> TrainResult:
    """The plain on-policy loop: collect with ``parts.policy``, stop at ``target_return``, set the
    learning rate, :func:`actor_critic_update`, ``after_update()``, report.

    Args:
        env: the batched env.
        parts: the built components.
        config: the algorithm's config.
        owner: the trainer's name, for error messages.
        start: the trainer's start time (``time.perf_counter()``), for the wall time.
        modules: what the result returns by name.
        learning_rate: the learning rate for a rollout given the frames collected before it
            (``None``: constant ``config.lr``).
        after_update: called after each update (IMPALA moves its behaviour policy).
        on_update: called after each update with its stats and the env frames so far (for example
            :meth:`rl4py.diagnostics.TrainingHealth.update`).
        progress, progress_every: where to report progress (a callable, an rl4py or a Lightning logger:
            see :class:`~rl4py.trainers.ProgressReporter`) and the period in iterations.
        keep_time, chunk_length: sequence minibatches for recurrent policies.
        update: the update body, called as :func:`actor_critic_update` is (default: that one;
            MAPPO passes :func:`~rl4py.trainers.mappo.mappo_update`).
        rows_per_env: sequences each sub-env contributes to an update (the agents of a multi-agent env).
    """
    update = actor_critic_update if update is None else update
    config.check_minibatches(
        env.num_envs * rows_per_env, owner, (chunk_length or config.rollout_length) if keep_time else 1
    )
    optimizer = make_optimizer(parts.loss, config)
    torch.manual_seed(config.seed)  # the action sampling, as a LightningModule's rank 0 seeds it
    collector = SyncCollector(
        env,
        parts.policy,
        config.rollout_length,
        total_frames=config.total_frames,
        seed=config.seed,
        return_same_td=True,
    )
    shuffle = torch.Generator(device=env.device).manual_seed(config.seed)
    tracker = EpisodeTracker(config.window, config.target_return)
    reporter = ProgressReporter(progress, progress_every, start)
    updates = iteration = 0
    for iteration, rollout in enumerate(collector, start=1):
        tracker.update(rollout)
        if tracker.solved:
            break
        if learning_rate is not None:
            lr = learning_rate(collector.frames - collector.frames_per_rollout)
            for group in optimizer.param_groups:
                group["lr"] = lr
        stats = update(parts, rollout, optimizer, config, shuffle, keep_time=keep_time, chunk_length=chunk_length)
        updates += config.epochs * config.num_minibatches
        if after_update is not None:
            after_update()
        if on_update is not None:
            on_update(stats, collector.frames)
        reporter.maybe_report(
            iteration, collector.frames, tracker, stats, learning_rate=optimizer.param_groups[0]["lr"]
        )
    reporter.finish()
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
