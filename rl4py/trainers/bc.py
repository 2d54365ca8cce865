"""Behaviour cloning and policy distillation as a trainer: its defaults table (:class:`BCConfig`),
its builder (:func:`build_bc`), its update body (:func:`bc_update`) and the plain loop
(:func:`train_bc`). :class:`~rl4py.trainers.BCModule` (Lightning) calls the same three.

Two sources of supervision:

- **a dataset** of transitions (``"observation"`` and the expert's ``"action"``, e.g. a rollout a
  trained agent collected): :class:`~rl4py.losses.BCLoss`, ``epochs`` passes of shuffled
  minibatches;
- **a teacher** policy: each rollout of ``rollout_length`` steps is collected in the env (by the
  teacher, or by the student with ``collect_with="student"``, DAgger's states), and the student
  is fitted to the teacher's action distribution on it with
  :class:`~rl4py.losses.PolicyDistillationLoss`, ``epochs`` passes per rollout.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import torch
from tensordict import TensorDictBase
from tensordict.nn import InteractionType, set_interaction_type
from torch import nn

from rl4py import keys
from rl4py.collectors.sync import SyncCollector
from rl4py.envs.action_masks import has_action_mask
from rl4py.envs.base import EnvBase
from rl4py.losses.common import LossModule
from rl4py.losses.imitation import BCLoss, PolicyDistillationLoss
from rl4py.modules.activations import activation_class
from rl4py.modules.actor_critic import make_actor_critic
from rl4py.trainers.config import TrainConfig, _at_least, check_range
from rl4py.trainers.evaluation import evaluate_policy
from rl4py.trainers.tracking import Progress, ProgressReporter, TrainResult
from rl4py.trainers.updates import minibatch_update, num_threads

__all__ = ["BCConfig", "BCParts", "bc_update", "build_bc", "collect_demonstrations", "train_bc"]

COLLECTORS = ("teacher", "student")


@dataclass(frozen=True)
class BCConfig(TrainConfig):
    """Behaviour cloning / distillation hyperparameters (supervised learning's usual Adam settings;
    the distillation terms are :class:`~rl4py.losses.PolicyDistillationLoss`'s)."""

    num_envs: int = 8
    """Sub-envs collecting states for a teacher (per rank under Lightning)."""
    total_frames: int = 50_000
    """With a teacher: env steps collected in all."""
    rollout_length: int = 64
    """With a teacher: steps per sub-env per rollout."""
    collect_with: str = "teacher"
    """With a teacher: who picks the actions while collecting, ``"teacher"`` or ``"student"``
    (the student's own states, labelled by the teacher, as in DAgger)."""
    epochs: int = 10
    """Passes over the dataset, or over each collected rollout."""
    batch_size: int = 256
    """Samples per minibatch."""
    lr: float = 1e-3
    """Adam learning rate."""
    adam_eps: float = 1e-8
    """Adam epsilon."""
    max_grad_norm: float | None = 1.0
    """Global gradient-norm clip (``None``: off)."""
    skip_nonfinite: bool = False
    """Skip (and count) a step whose loss or gradient is NaN/inf instead of raising."""
    temperature: float = 1.0
    """Distillation softmax temperature."""
    soft_weight: float = 1.0
    """Weight of the KL to the teacher's distribution."""
    hard_weight: float = 0.0
    """Weight of the cross-entropy to the teacher's most likely action."""
    num_cells: tuple[int, ...] = (64, 64)
    """Hidden sizes of the student (when it is built)."""
    activation: str = "tanh"
    """Hidden activation of the student."""

    SHADOWED_BY = {("student",): ("num_cells", "activation")}

    def check(self) -> None:
        super().check()
        for name in ("rollout_length", "epochs", "batch_size"):
            _at_least(self, name, 1)
        check_range(self, "lr", 0.0)
        if self.collect_with not in COLLECTORS:
            raise ValueError(f"BCConfig: collect_with must be one of {COLLECTORS}, got {self.collect_with!r}")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"BCConfig: max_grad_norm must be > 0 or None, got {self.max_grad_norm}")
        activation_class(self.activation, "BCConfig")


@dataclass
class BCParts:
    """What :func:`build_bc` makes.

    Attributes:
        student: the policy being trained.
        loss: :class:`~rl4py.losses.BCLoss` (dataset) or :class:`~rl4py.losses.PolicyDistillationLoss` (teacher).
        teacher: the frozen teacher, or ``None``.
    """

    student: nn.Module
    loss: LossModule
    teacher: nn.Module | None

    def collecting_policy(self, config: BCConfig) -> nn.Module:
        """The policy that collects states with a teacher (``config.collect_with``)."""
        if self.teacher is None:
            raise ValueError("BC: collecting states needs a teacher; a dataset is trained on as given")
        return self.teacher if config.collect_with == "teacher" else self.student


def build_bc(
    observation_space: gym.Space,
    action_space: gym.Space,
    config: BCConfig,
    *,
    masked: bool = False,
    student: nn.Module | None = None,
    teacher: nn.Module | None = None,
) -> BCParts:
    """The student (default: :func:`~rl4py.modules.make_actor_critic`'s actor for the spaces) and
    its loss: distillation from ``teacher`` when one is given, else cloning of dataset actions.
    The teacher's parameters are frozen."""
    config.refuse_shadowed(student=student)
    if student is None:
        activation = activation_class(config.activation, "BCConfig")
        student, _ = make_actor_critic(observation_space, action_space, config.num_cells, activation, masked=masked)
    if teacher is None:
        return BCParts(student, BCLoss(student), None)
    teacher.requires_grad_(False)
    loss = PolicyDistillationLoss(
        student,
        teacher,
        temperature=config.temperature,
        soft_weight=config.soft_weight,
        hard_weight=config.hard_weight,
    )
    return BCParts(student, loss, teacher)


def bc_update(
    parts: BCParts,
    data: TensorDictBase,
    optimizer: torch.optim.Optimizer,
    config: BCConfig,
    generator: torch.Generator | None,
    *,
    epochs: int | None = None,
    backward: Callable[[torch.Tensor], None] | None = None,
) -> TensorDictBase:
    """The update body: ``epochs`` (default ``config.epochs``) shuffled passes of ``batch_size``
    minibatches over ``data`` (any batch shape, flattened), one gradient step each.

    Returns:
        The loss outputs averaged over the minibatches.
    """
    with num_threads(config.update_threads):
        return minibatch_update(
            parts.loss,
            optimizer,
            data,
            epochs=config.epochs if epochs is None else epochs,
            num_minibatches=None,
            minibatch_size=min(config.batch_size, data.numel()),
            max_grad_norm=config.max_grad_norm,
            generator=generator,
            backward=backward,
            skip_nonfinite=config.skip_nonfinite,
        )


def collect_demonstrations(
    env: EnvBase, policy: nn.Module, frames: int, *, deterministic: bool = True, seed: int = 0
) -> TensorDictBase:
    """Runs ``policy`` in ``env`` for at least ``frames`` env steps and returns the transitions
    ``TensorDict[N]`` (``"observation"``, ``"action"``, and ``"action_mask"`` when the env has one)
    for behaviour cloning. Save them with ``td.memmap(path)`` for :class:`~rl4py.trainers.BCModule`.

    Args:
        env: the batched env.
        policy: the expert (writes ``"action"``).
        frames: env steps to collect (rounded up to whole steps of every sub-env).
        deterministic: the expert acts with its distribution's mode (cleanest labels).
        seed: the env's reset seed.
    """
    if frames < 1:
        raise ValueError(f"collect_demonstrations: frames must be >= 1, got {frames}")
    steps = math.ceil(frames / env.num_envs)
    collector = SyncCollector(env, policy, steps, total_frames=steps * env.num_envs, seed=seed)
    interaction = InteractionType.DETERMINISTIC if deterministic else InteractionType.RANDOM
    with set_interaction_type(interaction):
        rollout = collector.rollout()
    wanted = [keys.OBSERVATION, keys.ACTION] + ([keys.ACTION_MASK] if keys.ACTION_MASK in rollout.keys() else [])  # noqa: SIM118 -- TensorDict has no "in"
    return rollout.select(*wanted).reshape(-1).clone()


def make_bc_optimizer(parts: BCParts, config: BCConfig) -> torch.optim.Optimizer:
    """Adam over the student's parameters."""
    return torch.optim.Adam(parts.student.parameters(), lr=config.lr, eps=config.adam_eps)


def train_bc(
    env: EnvBase | None,
    config: BCConfig | None = None,
    *,
    dataset: TensorDictBase | None = None,
    teacher: nn.Module | None = None,
    student: nn.Module | None = None,
    observation_space: gym.Space | None = None,
    action_space: gym.Space | None = None,
    eval_episodes: int = 0,
    progress: Progress | None = None,
    progress_every: int = 10,
) -> TrainResult:
    """Trains a student policy by behaviour cloning (``dataset``) or distillation (``teacher``).

    Args:
        env: the env that a teacher's states are collected in and the student is evaluated on
            (``None`` with a dataset and no evaluation: give the spaces instead).
        config: hyperparameters.
        dataset: transitions ``TensorDict[*B]`` with ``"observation"`` and the expert's ``"action"``.
        teacher: a policy with ``get_dist`` (exactly one of ``dataset`` and ``teacher``).
        student: the policy to train (default: built from the spaces, see :func:`build_bc`).
        observation_space, action_space: one sub-env's spaces, when ``env`` is ``None``.
        eval_episodes: after training, the student's greedy return is measured on ``env`` over
            this many sub-envs' episodes (``env.num_envs`` at a time) and reported as
            ``mean_return``; ``target_return`` then sets ``solved``.
        progress, progress_every: where to report every ``progress_every`` updates (a callable, an rl4py
            or a Lightning logger: see :class:`~rl4py.trainers.ProgressReporter`).

    Returns:
        A :class:`~rl4py.trainers.TrainResult` with modules ``student`` (also ``actor``) and, with a
        teacher, ``teacher``; ``frames`` counts the env steps collected.

    Raises:
        ValueError: neither or both of ``dataset`` and ``teacher``; no env and no spaces.
    """
    config = config or BCConfig()
    if (dataset is None) == (teacher is None):
        raise ValueError("train_bc: give exactly one of dataset= (behaviour cloning) and teacher= (distillation)")
    if env is None and (teacher is not None or eval_episodes):
        raise ValueError("train_bc: a teacher's states and the evaluation need an env")
    if env is not None:
        observation_space, action_space = env.single_observation_space, env.single_action_space
    if observation_space is None or action_space is None:
        raise ValueError("train_bc: without an env, pass observation_space and action_space")
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    parts = build_bc(
        observation_space,
        action_space,
        config,
        masked=env is not None and has_action_mask(env),
        student=student,
        teacher=teacher,
    )
    device = env.device if env is not None else dataset.device
    parts.loss.to(device)
    optimizer = make_bc_optimizer(parts, config)
    shuffle = torch.Generator(device=device).manual_seed(config.seed)
    reporter = ProgressReporter(progress, progress_every, start)
    frames = iterations = updates = 0
    if dataset is not None:
        for iterations in range(1, config.epochs + 1):
            stats = bc_update(parts, dataset, optimizer, config, shuffle, epochs=1)
            updates += _minibatches(dataset, config)
            reporter.maybe_report(iterations, 0, float("nan"), stats)
    else:
        collector = SyncCollector(
            env,
            parts.collecting_policy(config),
            config.rollout_length,
            total_frames=config.total_frames,
            seed=config.seed,
        )
        for iterations, rollout in enumerate(collector, start=1):
            stats = bc_update(parts, rollout, optimizer, config, shuffle)
            updates += config.epochs * _minibatches(rollout, config)
            frames = collector.frames
            reporter.maybe_report(iterations, frames, float("nan"), stats)
    reporter.finish()
    mean_return = float("nan")
    if eval_episodes:
        runs = -(-eval_episodes // env.num_envs)
        returns = torch.cat([evaluate_policy(env, parts.student, seed=config.seed + i) for i in range(runs)])
        mean_return = float(returns[:eval_episodes].mean())
    solved = config.target_return is not None and mean_return >= config.target_return
    modules = {"student": parts.student, "actor": parts.student}
    if parts.teacher is not None:
        modules["teacher"] = parts.teacher
    return TrainResult(
        solved=solved,
        frames=frames,
        seconds=time.perf_counter() - start,
        mean_return=mean_return,
        iterations=iterations,
        modules=modules,
        history=reporter.history,
        updates=updates,
    )


def _minibatches(data: TensorDictBase, config: BCConfig) -> int:
    """Minibatches per pass of :func:`bc_update` over ``data``."""
    return data.numel() // min(config.batch_size, data.numel())
