"""DQN in a plain loop: collector + replay buffer + epsilon-greedy + DQNLoss + Adam, configured by one dataclass."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import torch
from tensordict import TensorDictBase
from torch import nn

from rl4py import keys
from rl4py.collectors.sync import SyncCollector
from rl4py.data import ReplayBuffer
from rl4py.envs.action_masks import has_action_mask
from rl4py.envs.base import EnvBase
from rl4py.losses.common import total_loss
from rl4py.losses.dqn import DQNLoss
from rl4py.losses.target import polyak_update
from rl4py.modules.activations import activation_class
from rl4py.modules.qvalue import EpsilonGreedy, QValueActor, make_q_network
from rl4py.trainers.tracking import EpisodeTracker, ProgressReporter, TrainResult
from rl4py.trainers.updates import num_threads

__all__ = ["DQNConfig", "make_q_network", "train_dqn"]


#: the entries the replay buffer stores (what DQNLoss reads, plus "done")
REPLAY_KEYS = (
    keys.OBSERVATION,
    keys.ACTION,
    (keys.NEXT, keys.OBSERVATION),
    (keys.NEXT, keys.REWARD),
    (keys.NEXT, keys.TERMINATED),
    (keys.NEXT, keys.DONE),
)
#: stored as well when the env has action masks (the greedy target picks among allowed actions)
MASK_REPLAY_KEYS = (keys.ACTION_MASK, (keys.NEXT, keys.ACTION_MASK))


def replay_keys(env: EnvBase) -> tuple:
    """The entries of ``env``'s rollouts the replay buffer keeps."""
    return REPLAY_KEYS + (MASK_REPLAY_KEYS if has_action_mask(env) else ())


def make_dqn_components(
    env: EnvBase,
    num_cells: tuple[int, ...],
    activation: str,
    *,
    gamma: float,
    loss_function: str,
    double_dqn: bool,
    eps_start: float,
    eps_end: float,
    exploration_frames: int,
    seed: int,
) -> tuple[QValueActor, DQNLoss, EpsilonGreedy]:
    """The Q-network, its loss and the epsilon-greedy policy for ``env``, on its device.

    An env with an ``"action_mask"`` observation gets masked greedy actions, masked exploration
    and a target whose ``argmax`` runs over the actions allowed at ``s'``.

    Raises:
        TypeError: the action space is not ``Discrete`` from 0 or the observation is not a flat ``Box``.
    """
    obs_space, act_space = env.single_observation_space, env.single_action_space
    if not isinstance(act_space, gym.spaces.Discrete) or int(act_space.start) != 0:
        raise TypeError(f"DQN: needs a Discrete action space starting at 0, got {act_space}")
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise TypeError(f"DQN: needs a flat Box observation space, got {obs_space}")
    mask_key = keys.ACTION_MASK if has_action_mask(env) else None
    actor = make_q_network(obs_space.shape[0], int(act_space.n), num_cells, activation, mask_key).to(env.device)
    loss = DQNLoss(actor, gamma=gamma, loss_function=loss_function, double_dqn=double_dqn, action_mask_key=mask_key).to(
        env.device
    )
    policy = EpsilonGreedy(
        act_space,
        eps_start=eps_start,
        eps_end=eps_end,
        annealing_steps=exploration_frames,
        generator=torch.Generator(device=env.device).manual_seed(seed),
        actor=actor,
        action_mask_key=mask_key,
    )
    return actor, loss, policy


@dataclass
class DQNConfig:
    """DQN hyperparameters; ``lr``, ``gamma``, ``buffer_size``, ``batch_size``, ``tau``, the epsilon
    schedule and ``learning_starts`` are the rl4burn book's defaults.

    Frames are env steps summed over the sub-envs. Each iteration collects ``train_frequency``
    steps from each of the ``num_envs`` sub-envs (``num_envs * train_frequency`` frames) into
    the replay buffer, then, once ``learning_starts`` frames are stored, runs
    ``gradient_steps`` updates on minibatches of ``batch_size`` sampled uniformly.
    """

    num_envs: int = 8
    """Sub-envs stepped together (only used when the caller builds the env from the config)."""
    train_frequency: int = 1
    """Steps per sub-env between two rounds of updates (the collector's rollout length)."""
    gradient_steps: int = 1
    """Updates (minibatches) per round."""
    total_frames: int = 100_000
    """Env steps budget over all sub-envs."""
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
    num_cells: tuple[int, ...] = (64, 64)
    """Hidden sizes of the Q-network."""
    activation: str = "relu"
    """Hidden activation: ``"relu"`` (the book's) or ``"tanh"``."""
    update_threads: int | None = None
    """torch threads during the updates (``None``: unchanged); collection keeps the caller's setting."""
    target_return: float | None = None
    """Stop once the mean return of the last ``window`` finished episodes reaches this."""
    window: int = 20
    """Episodes in the running mean compared with ``target_return``."""
    seed: int = 0
    """Seeds torch (network init), the env, the exploration and the replay sampling."""
    extra: dict = field(default_factory=dict)
    """Free-form notes carried into the result (for benchmarks)."""

    def check(self, owner: str = "DQNConfig") -> None:
        """Raises ``ValueError`` naming ``owner`` and the first field outside its range."""
        positive = ("num_envs", "train_frequency", "gradient_steps", "total_frames", "buffer_size", "batch_size")
        for name in (*positive, "target_update_interval", "window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{owner}: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("learning_starts", "exploration_frames"):
            if getattr(self, name) < 0:
                raise ValueError(f"{owner}: {name} must be >= 0, got {getattr(self, name)}")
        if self.num_envs * self.train_frequency > self.buffer_size:
            raise ValueError(
                f"{owner}: one rollout of num_envs * train_frequency = {self.num_envs * self.train_frequency} "
                f"transitions must fit buffer_size = {self.buffer_size}"
            )
        if not 0.0 <= self.tau <= 1.0:
            raise ValueError(f"{owner}: tau must be in [0, 1], got {self.tau}")
        activation_class(self.activation, owner)


def train_dqn(
    env: EnvBase,
    config: DQNConfig | None = None,
    progress: Callable[[dict], None] | None = None,
    progress_every: int = 50,
) -> TrainResult:
    """Trains a DQN agent (an MLP Q-network) on ``env``.

    Each iteration: collect ``train_frequency`` steps per sub-env with the epsilon-greedy policy,
    add them to the replay buffer, advance epsilon by the frames collected, then (after
    ``learning_starts`` frames) ``gradient_steps`` times: sample a minibatch,
    ``DQNLoss`` -> backward -> global grad-norm clip -> Adam step, and every
    ``target_update_interval`` gradient steps ``polyak_update(target, online, tau)``.

    Args:
        env: a batched env with a flat ``Box`` observation and a ``Discrete`` action space
            (its ``num_envs`` is used; ``config.num_envs`` is not).
        config: hyperparameters (the book's defaults if ``None``).
        progress: called every ``progress_every`` iterations with a dict of ``frames``,
            ``seconds``, ``steps_per_second``, ``updates``, ``epsilon``, ``mean_return`` and the
            last update's loss diagnostics.
        progress_every: iterations between ``progress`` calls.

    Returns:
        A :class:`~rl4py.trainers.TrainResult` with modules ``actor`` (the online Q-network as a
        greedy policy) and ``loss`` (online and target networks) and ``updates`` gradient steps.
    """
    config = config or DQNConfig()
    config.check()
    if env.num_envs * config.train_frequency > config.buffer_size:
        raise ValueError(
            f"train_dqn: one rollout of env.num_envs * train_frequency = {env.num_envs * config.train_frequency} "
            f"transitions must fit buffer_size = {config.buffer_size}"
        )
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    actor, loss, policy = make_dqn_components(
        env,
        config.num_cells,
        config.activation,
        gamma=config.gamma,
        loss_function=config.loss_function,
        double_dqn=config.double_dqn,
        eps_start=config.eps_start,
        eps_end=config.eps_end,
        exploration_frames=config.exploration_frames,
        seed=config.seed,
    )
    params = list(actor.parameters())
    optimizer = torch.optim.Adam(params, lr=config.lr, eps=config.adam_eps, fused=True)
    stored = replay_keys(env)
    collector = SyncCollector(
        env, policy, config.train_frequency, total_frames=config.total_frames, seed=config.seed, return_same_td=True
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
        buffer.extend(rollout.select(*stored))
        policy.step(collector.frames_per_rollout)
        if collector.frames >= config.learning_starts:
            with num_threads(config.update_threads):
                for _ in range(config.gradient_steps):
                    out = loss(buffer.sample(config.batch_size))
                    optimizer.zero_grad(set_to_none=True)
                    total_loss(out).backward()
                    if config.max_grad_norm is not None:
                        nn.utils.clip_grad_norm_(params, config.max_grad_norm, foreach=True)
                    optimizer.step()
                    updates += 1
                    if updates % config.target_update_interval == 0:
                        polyak_update(loss.target_network, actor, config.tau)
            last = out
        reporter.maybe_report(
            iteration,
            collector.frames,
            tracker.mean_return,
            last.detach() if last is not None else None,
            updates=updates,
            epsilon=policy.epsilon,
        )
    return TrainResult(
        solved=tracker.solved,
        frames=collector.frames,
        seconds=time.perf_counter() - start,
        mean_return=tracker.mean_return,
        iterations=iteration,
        modules={"actor": actor, "loss": loss},
        history=reporter.history,
        updates=updates,
    )
