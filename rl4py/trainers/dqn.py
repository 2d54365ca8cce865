"""DQN: its defaults table (:class:`DQNConfig`), its builder (:func:`build_dqn`), its update body
(:func:`dqn_update`: replay sample, gradient steps, target updates) and its plain loop
(:func:`train_dqn`). :class:`~rl4py.trainers.DQNModule` (Lightning) calls the same builder and
update body."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import torch
from tensordict import TensorDictBase
from torch import nn

from rl4py import keys
from rl4py.collectors.sync import SyncCollector
from rl4py.data import ReplayBuffer
from rl4py.envs.action_masks import has_action_mask
from rl4py.envs.base import EnvBase
from rl4py.losses.common import LossModule
from rl4py.losses.dqn import DQNLoss
from rl4py.losses.target import polyak_update
from rl4py.modules.activations import activation_class
from rl4py.modules.qvalue import EpsilonGreedy, QValueActor, make_q_network
from rl4py.trainers.config import TrainConfig, _at_least, check_range
from rl4py.trainers.tracking import EpisodeTracker, Progress, ProgressReporter, TrainResult
from rl4py.trainers.updates import gradient_step, num_threads

__all__ = ["DQNConfig", "DQNParts", "build_dqn", "dqn_update", "replay_keys", "train_dqn"]


#: the entries the replay buffer stores (what DQNLoss reads, plus "done")
REPLAY_KEYS = keys.TRANSITION_KEYS
#: stored as well when the env has action masks (the greedy target picks among allowed actions)
MASK_REPLAY_KEYS = (keys.ACTION_MASK, (keys.NEXT, keys.ACTION_MASK))


def replay_keys(masked: bool) -> tuple:
    """The rollout entries the replay buffer keeps (with the action masks when ``masked``)."""
    return REPLAY_KEYS + (MASK_REPLAY_KEYS if masked else ())


@dataclass(frozen=True)
class DQNConfig(TrainConfig):
    """DQN hyperparameters; ``lr``, ``gamma``, ``buffer_size``, ``batch_size``, ``tau``, the epsilon
    schedule and ``learning_starts`` are the rl4burn book's defaults (its DQN chapter), the
    gradient clip SB3's.

    Frames are env steps summed over the sub-envs. Each iteration collects ``train_frequency``
    steps from each of the ``num_envs`` sub-envs (``num_envs * train_frequency`` frames) into
    the replay buffer, then, once ``learning_starts`` frames are stored, runs
    ``gradient_steps`` updates on minibatches of ``batch_size`` sampled uniformly.
    """

    num_envs: int = 8
    """Sub-envs stepped together (when the trainer builds the env; per rank under Lightning)."""
    total_frames: int = 100_000
    """Env steps budget over all sub-envs."""
    train_frequency: int = 1
    """Steps per sub-env between two rounds of updates (the collector's rollout length)."""
    gradient_steps: int = 1
    """Updates (minibatches) per round."""
    buffer_size: int = 10_000
    """Replay buffer capacity in transitions (FIFO)."""
    batch_size: int = 32
    """Transitions per minibatch."""
    learning_starts: int = 1_000
    """Frames collected (with the exploration schedule) before the first update."""
    lr: float = 1e-4
    """Adam learning rate."""
    adam_eps: float = 1e-8
    """Adam epsilon (torch's default)."""
    gamma: float = 0.99
    """Discount."""
    loss_function: str = "l2"
    """``"l2"`` (squared TD error, the book's) or ``"huber"`` (SB3's smooth L1)."""
    double_dqn: bool = False
    """Evaluate the online network's argmax with the target network (van Hasselt et al., 2016)."""
    tau: float = 0.005
    """Polyak weight of each target update: 1.0 is a hard copy, 0.005 a slow average."""
    target_update_interval: int = 1
    """Gradient steps between target updates (hard copies every N steps: ``tau=1.0`` and N)."""
    eps_start: float = 1.0
    """Exploration probability at frame 0."""
    eps_end: float = 0.05
    """Exploration probability after ``exploration_frames``."""
    exploration_frames: int = 10_000
    """Frames over which epsilon decays linearly from ``eps_start`` to ``eps_end``."""
    max_grad_norm: float | None = 10.0
    """Global gradient-norm clip (SB3's 10), ``None`` to disable."""
    skip_nonfinite: bool = False
    """Skip (and count) a gradient step whose loss or gradient is NaN/inf instead of raising."""
    num_cells: tuple[int, ...] = (64, 64)
    """Hidden sizes of the Q-network."""
    activation: str = "relu"
    """Hidden activation: ``"relu"`` (the book's) or ``"tanh"``."""

    SHADOWED_BY = {
        ("q_network",): ("num_cells", "activation"),
        ("loss",): ("gamma", "loss_function", "double_dqn"),
    }

    def check(self) -> None:
        super().check()
        for name in ("train_frequency", "gradient_steps", "buffer_size", "batch_size", "target_update_interval"):
            _at_least(self, name, 1)
        for name in ("learning_starts", "exploration_frames"):
            _at_least(self, name, 0)
        self.check_rollout_fits(self.num_envs)
        check_range(self, "tau", 0.0, 1.0)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "eps_start", 0.0, 1.0)
        check_range(self, "eps_end", 0.0, 1.0)
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"DQNConfig: max_grad_norm must be > 0 or None, got {self.max_grad_norm}")
        if self.loss_function not in ("l2", "huber"):
            raise ValueError(f"DQNConfig: loss_function must be 'l2' or 'huber', got {self.loss_function!r}")
        activation_class(self.activation, "DQNConfig")

    def check_rollout_fits(self, num_envs: int) -> None:
        """Raises ``ValueError`` unless one rollout of ``num_envs`` sub-envs fits the buffer."""
        if num_envs * self.train_frequency > self.buffer_size:
            raise ValueError(
                f"DQNConfig: one rollout of num_envs * train_frequency = {num_envs * self.train_frequency} "
                f"transitions must fit buffer_size = {self.buffer_size}"
            )


@dataclass
class DQNParts:
    """DQN's components.

    Attributes:
        q_network: the online Q-network as a greedy policy (``"action_value"`` -> ``"action"``).
        loss: the TD loss holding the online and target networks.
        exploration: the epsilon-greedy stage run after the greedy actor when collecting.
        masked: the env has action masks (the replay buffer stores them).
    """

    q_network: QValueActor
    loss: DQNLoss
    exploration: EpsilonGreedy
    masked: bool

    @property
    def policy(self) -> nn.Module:
        """The collecting policy: the greedy actor followed by the exploration stage."""
        return self.exploration

    @property
    def replay_keys(self) -> tuple:
        """The rollout entries the replay buffer keeps."""
        return replay_keys(self.masked)


def build_dqn(
    observation_space: gym.Space,
    action_space: gym.Space,
    config: DQNConfig,
    *,
    masked: bool = False,
    q_network: QValueActor | None = None,
    loss: Callable[[QValueActor], LossModule] | None = None,
    generator: torch.Generator | None = None,
) -> DQNParts:
    """DQN's components for one sub-env's spaces; each one passed in is used instead of built.

    An env with an ``"action_mask"`` observation gets masked greedy actions, masked exploration
    and a target whose ``argmax`` runs over the actions allowed at ``s'``.

    Args:
        observation_space: a flat ``Box``.
        action_space: ``Discrete`` from 0.
        config: the hyperparameters.
        masked: the env returns ``"action_mask"``.
        q_network: the online network (default: :func:`~rl4py.modules.make_q_network` MLP).
        loss: builds the loss from the online network (default: :class:`~rl4py.losses.DQNLoss`
            with the config's ``gamma``, ``loss_function``, ``double_dqn``).
        generator: the exploration's random draws (default: a CPU generator seeded ``config.seed``).

    Raises:
        TypeError: the action space is not ``Discrete`` from 0 or the observation is not a flat ``Box``.
    """
    config.refuse_shadowed(q_network=q_network, loss=loss)
    if not isinstance(action_space, gym.spaces.Discrete) or int(action_space.start) != 0:
        raise TypeError(f"DQN: needs a Discrete action space starting at 0, got {action_space}")
    if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
        raise TypeError(f"DQN: needs a flat Box observation space, got {observation_space}")
    mask_key = keys.ACTION_MASK if masked else None
    if q_network is None:
        activation = activation_class(config.activation, "DQNConfig")
        q_network = make_q_network(
            observation_space.shape[0], int(action_space.n), config.num_cells, activation, mask_key
        )
    if loss is None:
        loss_module = DQNLoss(
            q_network,
            gamma=config.gamma,
            loss_function=config.loss_function,
            double_dqn=config.double_dqn,
            action_mask_key=mask_key,
        )
    else:
        loss_module = loss(q_network)
    exploration = EpsilonGreedy(
        action_space,
        eps_start=config.eps_start,
        eps_end=config.eps_end,
        annealing_steps=config.exploration_frames,
        generator=generator if generator is not None else torch.Generator().manual_seed(config.seed),
        actor=q_network,
        action_mask_key=mask_key,
    )
    return DQNParts(q_network, loss_module, exploration, masked)


def dqn_update(
    parts: DQNParts,
    buffer: ReplayBuffer,
    optimizer: torch.optim.Optimizer,
    config: DQNConfig,
    updates: int,
    *,
    backward: Callable[[torch.Tensor], None] | None = None,
) -> tuple[TensorDictBase, int]:
    """DQN's update body: ``gradient_steps`` times, sample ``batch_size`` transitions, take a
    :func:`~rl4py.trainers.gradient_step` of the TD loss, and every ``target_update_interval``
    steps ``polyak_update(target, online, tau)``.

    Args:
        parts: the built components.
        buffer: the replay buffer.
        optimizer: steps the online network.
        config: the hyperparameters.
        updates: gradient steps taken so far (the target-update clock).
        backward: the backward pass (a LightningModule passes ``self.manual_backward``).

    Returns:
        ``(stats, updates)``: the last step's loss outputs and the new step count (skipped
        non-finite steps are not counted).
    """
    params = [p for p in parts.q_network.parameters() if p.requires_grad]
    out = None
    with num_threads(config.update_threads):
        for _ in range(config.gradient_steps):
            out, stepped = gradient_step(
                parts.loss,
                optimizer,
                buffer.sample(config.batch_size),
                max_grad_norm=config.max_grad_norm,
                params=params,
                backward=backward,
                skip_nonfinite=config.skip_nonfinite,
            )
            if not stepped:
                continue
            updates += 1
            if updates % config.target_update_interval == 0:
                polyak_update(parts.loss.target_network, parts.q_network, config.tau)
    return out, updates


def make_dqn_optimizer(parts: DQNParts, config: DQNConfig) -> torch.optim.Optimizer:
    """Adam over the online network with the config's ``lr`` and ``adam_eps``."""
    return torch.optim.Adam(parts.q_network.parameters(), lr=config.lr, eps=config.adam_eps, fused=True)


def train_dqn(
    env: EnvBase,
    config: DQNConfig | None = None,
    progress: Progress | None = None,
    progress_every: int = 50,
    *,
    q_network: QValueActor | None = None,
    loss: Callable[[QValueActor], LossModule] | None = None,
) -> TrainResult:
    """Trains a DQN agent on ``env``.

    Each iteration: collect ``train_frequency`` steps per sub-env with the epsilon-greedy policy,
    add them to the replay buffer, advance epsilon by the frames collected, then (after
    ``learning_starts`` frames) :func:`dqn_update`.

    Args:
        env: a batched env with a flat ``Box`` observation and a ``Discrete`` action space
            (its ``num_envs`` is used; ``config.num_envs`` is not).
        config: hyperparameters (the book's defaults if ``None``).
        progress: where to report every ``progress_every`` iterations: a callable gets a record of
            ``frames``, ``seconds``, ``steps_per_second``, ``updates``, ``epsilon``, ``mean_return``,
            ``max_return``, ``mean_length`` and the last update's loss diagnostics; an rl4py or a
            Lightning logger gets them as metrics (see :class:`~rl4py.trainers.ProgressReporter`).
        progress_every: iterations between ``progress`` calls.
        q_network, loss: components replacing the built ones (:func:`build_dqn`).

    Returns:
        A :class:`~rl4py.trainers.TrainResult` with modules ``actor`` (the online Q-network as a
        greedy policy) and ``loss`` (online and target networks) and ``updates`` gradient steps.
    """
    config = config or DQNConfig()
    config.check_rollout_fits(env.num_envs)
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    parts = build_dqn(
        env.single_observation_space,
        env.single_action_space,
        config,
        masked=has_action_mask(env),
        q_network=q_network,
        loss=loss,
        generator=torch.Generator(device=env.device).manual_seed(config.seed),
    )
    parts.loss.to(env.device)
    optimizer = make_dqn_optimizer(parts, config)
    collector = SyncCollector(
        env,
        parts.policy,
        config.train_frequency,
        total_frames=config.total_frames,
        seed=config.seed,
        return_same_td=True,
    )
    buffer = ReplayBuffer(config.buffer_size, seed=config.seed)
    tracker = EpisodeTracker(config.window, config.target_return)
    reporter = ProgressReporter(progress, progress_every, start)
    last: TensorDictBase | None = None
    updates = iteration = 0
    for iteration, rollout in enumerate(collector, start=1):
        tracker.update(rollout)
        if tracker.solved:
            break
        buffer.extend(rollout.select(*parts.replay_keys))
        parts.exploration.step(collector.frames_per_rollout)
        if collector.frames >= config.learning_starts:
            last, updates = dqn_update(parts, buffer, optimizer, config, updates)
        reporter.maybe_report(
            iteration, collector.frames, tracker, last, updates=updates, epsilon=parts.exploration.epsilon
        )
    reporter.finish()
    return TrainResult(
        solved=tracker.solved,
        frames=collector.frames,
        seconds=time.perf_counter() - start,
        mean_return=tracker.mean_return,
        iterations=iteration,
        modules={"actor": parts.q_network, "loss": parts.loss},
        history=reporter.history,
        updates=updates,
    )
