"""DreamerV3 / R2-Dreamer: the defaults table (:class:`DreamerConfig`), the builder (:func:`build_dreamer`),
the update body (:func:`dreamer_update`) and the plain loop (:func:`train_dreamer`).
:class:`~rl4py.trainers.DreamerModule` (Lightning) calls the same builder and update body.

One iteration: collect ``rollout_length`` steps per sub-env with the :class:`~rl4py.modules.DreamerPolicy`
into a sequence replay (:class:`~rl4py.data.SliceSampler`), then, once ``learning_starts`` frames are
stored, take the gradient steps the train ratio owes: each samples ``batch_size`` slices of
``sequence_length`` steps and takes one :func:`~rl4py.trainers.gradient_step` of
:class:`~rl4py.losses.DreamerLoss` (world model, imagination, actor, critic; each network clipped on
its own), then moves the slow critic.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDictBase
from torch import nn

from rl4py import keys
from rl4py.collectors.sync import SyncCollector
from rl4py.data import ReplayBuffer, SliceSampler
from rl4py.envs.action_masks import has_action_mask
from rl4py.envs.base import EnvBase
from rl4py.losses.dreamer import (
    BarlowTwinsLoss,
    DecoderLoss,
    DreamerActorLoss,
    DreamerProLoss,
    DreamerValueLoss,
    DreamerWorldModelLoss,
    InfoNCELoss,
    RepresentationLoss,
)
from rl4py.losses.dreamer_loss import DreamerLoss
from rl4py.modules.actors import ProbabilisticActor
from rl4py.modules.conv import ConvDecoder, ConvEncoder
from rl4py.modules.distributions import Categorical, DiagGaussian
from rl4py.modules.dreamer_policy import DreamerPolicy
from rl4py.modules.gaussian import GaussianParams
from rl4py.modules.mlp import MLP
from rl4py.modules.rssm import RSSM, RSSM_PRESETS
from rl4py.modules.twohot import Symlog
from rl4py.planning.imagination import Imagination
from rl4py.trainers.config import TrainConfig, _at_least, check_range
from rl4py.trainers.tracking import EpisodeTracker, Progress, ProgressReporter, TrainResult
from rl4py.trainers.updates import gradient_step, num_threads
from rl4py.values.percentile import PercentileNormalizer

__all__ = [
    "REPRESENTATIONS",
    "DreamerConfig",
    "DreamerParts",
    "TrainRatio",
    "build_dreamer",
    "dreamer_update",
    "make_dreamer_optimizer",
    "train_dreamer",
]

#: the entries the sequence replay stores (what DreamerWorldModelLoss reads, plus "done")
REPLAY_KEYS = keys.TRANSITION_KEYS

#: the representation losses ``DreamerConfig.representation`` names
REPRESENTATIONS = ("barlow", "decoder", "infonce", "dreamerpro", "none")


@dataclass(frozen=True)
class DreamerConfig(TrainConfig):
    """DreamerV3 hyperparameters; the model sizes are DreamerV3's presets (:data:`~rl4py.modules.RSSM_PRESETS`),
    the loss weights, imagination, return normalization and slow critic its published values (the
    paper and ``configs.yaml``), the learning rates, Adam epsilons and clips those of the paper's
    first version (world model 1e-4 / 1e-8 / 1000, actor and critic 3e-5 / 1e-5 / 100), which
    sheeprl also uses. ``representation="barlow"`` is R2-Dreamer (no decoder), ``"decoder"``
    DreamerV3.

    Frames are env steps summed over the sub-envs. Each iteration collects ``rollout_length`` steps
    per sub-env; past ``learning_starts`` frames every collected frame owes ``train_ratio / (batch_size
    * sequence_length)`` gradient steps (``train_ratio`` replayed steps per env step, DreamerV3's unit).
    """

    num_envs: int = 4
    """Sub-envs stepped together (per rank under Lightning)."""
    total_frames: int = 100_000
    """Env steps budget over all sub-envs."""
    preset: str = "size1m"
    """Model size: a key of :data:`~rl4py.modules.RSSM_PRESETS` (``"tiny"``, ``"size1m"`` ... ``"size400m"``)."""
    representation: str = "barlow"
    """What trains the encoder beside the KL terms: ``"barlow"`` (R2-Dreamer), ``"decoder"`` (DreamerV3),
    ``"infonce"``, ``"dreamerpro"`` or ``"none"``."""
    rollout_length: int = 1
    """Steps per sub-env between two rounds of updates (the collector's rollout length)."""
    batch_size: int = 16
    """Replayed sequences per gradient step."""
    sequence_length: int = 64
    """Steps per replayed sequence."""
    train_ratio: float = 512.0
    """Replayed steps per env step: ``batch_size * sequence_length`` per gradient step."""
    buffer_size: int = 100_000
    """Replay capacity in steps (over all sub-envs; rounded down to a multiple of ``num_envs``). The
    storage is preallocated and keeps each step's observation and next observation: 64x64 RGB images
    take 24 KiB a step (2.4 GiB for 100,000 steps)."""
    learning_starts: int = 1_024
    """Frames collected before the first update (at least ``num_envs * sequence_length``)."""
    horizon: int = 15
    """Imagination steps."""
    gamma: float = 1.0 - 1.0 / 333.0
    """Discount of the imagined returns."""
    lmbda: float = 0.95
    """Lambda of the imagined returns."""
    free_nats: float = 1.0
    """KL floor per step."""
    dyn_coeff: float = 1.0
    """Weight of the dynamics KL (trains the prior)."""
    rep_coeff: float = 0.1
    """Weight of the representation KL (trains the posterior)."""
    reward_coeff: float = 1.0
    """Weight of the reward head's loss."""
    continue_coeff: float = 1.0
    """Weight of the continue head's loss."""
    entropy_coeff: float = 3e-4
    """Actor entropy bonus."""
    slow_critic_rate: float = 0.02
    """EMA rate of the slow critic per gradient step."""
    slow_critic_coeff: float = 1.0
    """Weight of the slow-critic regularizer."""
    return_decay: float = 0.99
    """EMA decay of the return percentiles (DreamerV3's rate 0.01)."""
    world_model_lr: float = 1e-4
    """Adam learning rate of the encoder, RSSM, heads and representation loss."""
    actor_lr: float = 3e-5
    """Adam learning rate of the actor."""
    critic_lr: float = 3e-5
    """Adam learning rate of the critic."""
    world_model_eps: float = 1e-8
    """Adam epsilon of the world model."""
    actor_critic_eps: float = 1e-5
    """Adam epsilon of the actor and the critic."""
    world_model_grad_clip: float | None = 1000.0
    """Gradient-norm clip of the world model (``None``: none)."""
    actor_grad_clip: float | None = 100.0
    """Gradient-norm clip of the actor."""
    critic_grad_clip: float | None = 100.0
    """Gradient-norm clip of the critic."""
    skip_nonfinite: bool = False
    """Skip (and count) a gradient step whose loss or gradient is NaN/inf instead of raising."""

    SHADOWED_BY = {
        ("representation_loss",): ("representation",),
    }

    def check(self) -> None:
        super().check()
        for name in ("rollout_length", "batch_size", "sequence_length", "buffer_size", "horizon"):
            _at_least(self, name, 1)
        _at_least(self, "learning_starts", 0)
        if not self.train_ratio > 0:
            raise ValueError(f"DreamerConfig: train_ratio must be > 0, got {self.train_ratio}")
        if self.preset not in RSSM_PRESETS:
            raise ValueError(f"DreamerConfig: preset must be one of {sorted(RSSM_PRESETS)}, got {self.preset!r}")
        if self.representation not in REPRESENTATIONS:
            raise ValueError(
                f"DreamerConfig: representation must be one of {REPRESENTATIONS}, got {self.representation!r}"
            )
        for name in ("gamma", "lmbda", "return_decay"):
            check_range(self, name, 0.0, 1.0)
        check_range(self, "slow_critic_rate", 0.0, 1.0)
        if self.slow_critic_rate == 0.0 or self.return_decay == 1.0:
            raise ValueError("DreamerConfig: slow_critic_rate must be > 0 and return_decay < 1")
        for name in (
            "free_nats", "dyn_coeff", "rep_coeff", "reward_coeff", "continue_coeff", "entropy_coeff",
            "slow_critic_coeff",
        ):  # fmt: skip
            _at_least(self, name, 0.0)
        for name in ("world_model_lr", "actor_lr", "critic_lr", "world_model_eps", "actor_critic_eps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"DreamerConfig: {name} must be > 0, got {getattr(self, name)}")
        for name in ("world_model_grad_clip", "actor_grad_clip", "critic_grad_clip"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"DreamerConfig: {name} must be > 0 or None, got {value}")

    def check_env_fits(self, num_envs: int) -> None:
        """Raises ``ValueError`` unless the replay of ``num_envs`` sub-envs can hold and start a sequence."""
        capacity = self.buffer_size - self.buffer_size % num_envs
        if capacity < num_envs * max(self.sequence_length, self.rollout_length):
            raise ValueError(
                f"DreamerConfig: buffer_size = {self.buffer_size} must hold num_envs * max(sequence_length, "
                f"rollout_length) = {num_envs * max(self.sequence_length, self.rollout_length)} steps"
            )
        if self.learning_starts < num_envs * self.sequence_length:
            raise ValueError(
                f"DreamerConfig: learning_starts = {self.learning_starts} must be at least num_envs * sequence_length "
                f"= {num_envs * self.sequence_length} (one full sequence per sub-env before the first update)"
            )

    @property
    def replayed_steps(self) -> int:
        """Steps replayed per gradient step: ``batch_size * sequence_length``."""
        return self.batch_size * self.sequence_length


class TrainRatio:
    """Counts the gradient steps owed: each frame past ``learning_starts`` adds ``train_ratio / replayed``.

    Args:
        config: the hyperparameters.

    Examples:
        >>> ratio = TrainRatio(DreamerConfig(train_ratio=512, learning_starts=256, num_envs=1, sequence_length=64))
        >>> ratio.due(256), ratio.due(4), ratio.due(1), ratio.due(1)   # 1024 steps replayed per update
        (0, 2, 0, 1)
    """

    def __init__(self, config: DreamerConfig) -> None:
        self.per_frame = config.train_ratio / config.replayed_steps
        self.learning_starts = config.learning_starts
        self.frames = 0
        self.owed = 0.0

    def due(self, new_frames: int) -> int:
        """Adds ``new_frames`` collected frames; returns the gradient steps to take now."""
        before = self.frames
        self.frames += int(new_frames)
        counted = self.frames - max(before, self.learning_starts)
        if self.frames < self.learning_starts or counted <= 0:
            return 0
        self.owed += counted * self.per_frame
        steps = math.floor(self.owed + 1e-9)
        self.owed -= steps
        return steps

    def state_dict(self) -> dict:
        return {"frames": self.frames, "owed": self.owed}

    def load_state_dict(self, state: dict) -> None:
        self.frames = int(state["frames"])
        self.owed = float(state["owed"])


@dataclass
class DreamerParts:
    """Dreamer's components.

    Attributes:
        encoder: observations -> embeddings.
        rssm: the world model's core (with its reward and continue heads).
        actor: the policy over the RSSM's features.
        critic: features -> two-hot value logits.
        loss: every term of an update (:class:`~rl4py.losses.DreamerLoss`).
        policy: the collecting policy (:class:`~rl4py.modules.DreamerPolicy`).
    """

    encoder: nn.Module
    rssm: RSSM
    actor: nn.Module
    critic: nn.Module
    loss: DreamerLoss
    policy: DreamerPolicy

    @property
    def world_model_parameters(self) -> list[nn.Parameter]:
        """The trainable parameters of the encoder, the RSSM and the representation loss."""
        return [p for p in self.loss.world_model.parameters() if p.requires_grad]

    def clip_groups(self, config: DreamerConfig) -> dict[str, tuple[list[nn.Parameter], float | None]]:
        """``{name: (params, max_norm)}`` for :func:`~rl4py.trainers.gradient_step`'s per-network clips."""
        return {
            "world_model": (self.world_model_parameters, config.world_model_grad_clip),
            "actor": ([p for p in self.actor.parameters() if p.requires_grad], config.actor_grad_clip),
            "critic": ([p for p in self.critic.parameters() if p.requires_grad], config.critic_grad_clip),
        }


def _is_image(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 3


def _conv_layout(depth: int) -> dict:
    # DreamerV3's encoder: channels depth x (2, 3, 4, 4), kernel 4, stride 2, padding 1 (64 -> 4 pixels)
    return {"channels": tuple(depth * m for m in (2, 3, 4, 4)), "kernel_sizes": 4, "strides": 2, "paddings": 1}


def _dense(n_in: int, n_out: int, units: int, layers: int, output_gain: float = 1.0) -> MLP:
    return MLP(n_in, n_out, (units,) * layers, activation=nn.SiLU, norm=nn.RMSNorm, output_gain=output_gain)


def _make_encoder(observation_space: gym.Space, units: int, depth: int) -> tuple[nn.Module, int]:
    if _is_image(observation_space):
        c, h, w = (int(d) for d in observation_space.shape)
        encoder = ConvEncoder(c, (h, w), out_features=None, activation=nn.SiLU, **_conv_layout(depth))
        return encoder, encoder.out_features
    obs_size = int(observation_space.shape[0])
    # DreamerV3's vector encoder: symlog, then units-wide Linear -> RMSNorm -> SiLU layers
    return nn.Sequential(Symlog(), _dense(obs_size, units, units, 2)), units


def _make_decoder(observation_space: gym.Space, encoder: nn.Module, feature_size: int, units: int) -> nn.Module:
    if _is_image(observation_space):
        if not isinstance(encoder, ConvEncoder):
            raise TypeError(
                "build_dreamer: representation='decoder' builds its image decoder from a ConvEncoder; give a "
                f"representation_loss for an encoder of type {type(encoder).__name__}"
            )
        return ConvDecoder.from_encoder(encoder, in_features=feature_size, output_activation=nn.Sigmoid)
    return _dense(feature_size, int(observation_space.shape[0]), units, 2)


def _make_actor(action_space: gym.Space, feature_size: int, units: int) -> nn.Module:
    if isinstance(action_space, gym.spaces.Discrete):
        if int(action_space.start) != 0:
            raise TypeError(f"Dreamer: a Discrete action space must start at 0, got {action_space}")
        return ProbabilisticActor(
            _dense(feature_size, int(action_space.n), units, 2, output_gain=0.01),
            in_keys=[keys.FEATURES],
            distribution_class=Categorical,
        )
    d = int(action_space.shape[0])
    return ProbabilisticActor(
        GaussianParams(_dense(feature_size, 2 * d, units, 2, output_gain=0.01), d, "output"),
        in_keys=[keys.FEATURES],
        dist_keys=[keys.LOC, keys.LOG_STD],
        distribution_class=DiagGaussian,
        distribution_kwargs={"tanh": True},
    )


def _check_spaces(observation_space: gym.Space, action_space: gym.Space) -> bool:
    """Raises ``TypeError`` for spaces Dreamer does not take; returns whether the actions are discrete."""
    if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) not in (1, 3):
        raise TypeError(
            f"Dreamer: needs a flat Box (vector) or a [C, H, W] Box (image) observation space, got {observation_space}"
        )
    if _is_image(observation_space) and observation_space.dtype != np.uint8:
        raise TypeError(f"Dreamer: image observations must be uint8 [C, H, W], got {observation_space.dtype}")
    if isinstance(action_space, gym.spaces.Discrete):
        return True
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        if not (np.all(action_space.low == -1.0) and np.all(action_space.high == 1.0)):
            raise TypeError(
                "Dreamer: a Box action space must span [-1, 1] (the actor squashes its actions with tanh); got "
                f"{action_space}: rescale the env's actions to [-1, 1]"
            )
        return False
    raise TypeError(f"Dreamer: needs a Discrete or a flat Box action space, got {action_space}")


def _make_representation(
    config: DreamerConfig, observation_space: gym.Space, encoder: nn.Module, feature_size: int, embed_size: int,
    units: int,
) -> RepresentationLoss | None:  # fmt: skip
    name = config.representation
    if name == "barlow":
        return BarlowTwinsLoss(feature_size, embed_size)
    if name == "decoder":
        return DecoderLoss(_make_decoder(observation_space, encoder, feature_size, units))
    if name == "infonce":
        return InfoNCELoss(feature_size, embed_size)
    if name == "dreamerpro":
        num_prototypes = min(2500, config.replayed_steps // 4)  # DreamerPro's 2500 only for large batches
        return DreamerProLoss(feature_size, embed_size, num_prototypes=max(2, num_prototypes))
    return None


def build_dreamer(
    observation_space: gym.Space,
    action_space: gym.Space,
    config: DreamerConfig,
    *,
    encoder: nn.Module | None = None,
    rssm: RSSM | None = None,
    actor: nn.Module | None = None,
    critic: nn.Module | None = None,
    representation_loss: Callable[[int, int], RepresentationLoss] | None = None,
    sync_returns: bool = False,
) -> DreamerParts:
    """Dreamer's components for one sub-env's spaces; each one passed in is used instead of built.

    Built from ``config.preset`` (:data:`~rl4py.modules.RSSM_PRESETS`): vector observations go through
    ``symlog`` and a two-layer ``units`` MLP (RMSNorm, SiLU), uint8 images ``[C, H, W]`` through DreamerV3's
    conv encoder (``depth x (2, 3, 4, 4)`` channels, kernel 4, stride 2); the RSSM of the preset; a
    two-layer actor (categorical for ``Discrete``; tanh-squashed Gaussian for a ``Box`` in ``[-1, 1]``,
    trained by dynamics back-propagation) and critic (255 two-hot bins, zero-initialized output).

    Args:
        observation_space: a flat ``Box`` or a uint8 ``Box`` ``[C, H, W]``.
        action_space: ``Discrete`` from 0, or a flat ``Box`` in ``[-1, 1]``.
        config: the hyperparameters.
        encoder: observations ``[*B, ...]`` -> ``[*B, E]`` (give ``rssm`` too unless it outputs the
            built encoder's size).
        rssm: the world model's core, with ``embed_size`` = the encoder's output size.
        actor: a :class:`~rl4py.modules.ProbabilisticActor` reading ``"features"``.
        critic: features ``[*B, F]`` -> logits ``[*B, 255]``.
        representation_loss: called as ``representation_loss(feature_size, embed_size)`` (a class such
            as :class:`~rl4py.losses.InfoNCELoss` or a ``functools.partial``) instead of ``config.representation``.
        sync_returns: the return normalizer gathers every rank's returns (under ``torch.distributed``).

    Raises:
        TypeError: an observation or action space Dreamer does not take.
        ValueError: a given component's sizes disagree with the others'.
    """
    config.refuse_shadowed(representation_loss=representation_loss)
    discrete = _check_spaces(observation_space, action_space)
    size = RSSM_PRESETS[config.preset]
    action_size = int(action_space.n) if discrete else int(action_space.shape[0])
    if encoder is None:
        encoder, embed_size = _make_encoder(observation_space, size.units, size.depth)
    else:
        embed_size = rssm.embed_size if rssm is not None else None
        if embed_size is None:
            raise ValueError("build_dreamer: a given encoder needs a given rssm (whose embed_size is its output size)")
    if rssm is None:
        rssm = RSSM.from_preset(size, embed_size, action_size)
    if rssm.embed_size != embed_size or rssm.action_size != action_size:
        raise ValueError(
            f"build_dreamer: the rssm takes embed_size={rssm.embed_size}, action_size={rssm.action_size}; the encoder "
            f"gives {embed_size} and the action space needs {action_size}"
        )
    feature_size = rssm.feature_size
    if actor is None:
        actor = _make_actor(action_space, feature_size, size.units)
    if critic is None:
        critic = _dense(feature_size, rssm.twohot.num_bins, size.units, 2, output_gain=0.0)
    if representation_loss is None:
        representation = _make_representation(config, observation_space, encoder, feature_size, embed_size, size.units)
    else:
        representation = representation_loss(feature_size, embed_size)
    world_model = DreamerWorldModelLoss(
        encoder,
        rssm,
        representation,
        free_nats=config.free_nats,
        dyn_coeff=config.dyn_coeff,
        rep_coeff=config.rep_coeff,
        reward_coeff=config.reward_coeff,
        continue_coeff=config.continue_coeff,
    )
    gradient = "reinforce" if discrete else "dynamics"
    value_loss = DreamerValueLoss(
        critic, twohot=rssm.twohot, slow_rate=config.slow_critic_rate, slow_coeff=config.slow_critic_coeff
    )
    imagination = Imagination(
        rssm, actor, critic, config.horizon, config.gamma, config.lmbda, reparameterize=not discrete
    )
    loss = DreamerLoss(
        world_model,
        DreamerActorLoss(actor, config.entropy_coeff, gradient),
        value_loss,
        imagination,
        PercentileNormalizer(decay=config.return_decay, sync_dist=sync_returns),
    )
    return DreamerParts(encoder, rssm, actor, critic, loss, DreamerPolicy(encoder, rssm, actor))


def make_dreamer_optimizer(parts: DreamerParts, config: DreamerConfig) -> torch.optim.Optimizer:
    """Adam with three parameter groups: the world model, the actor and the critic, each with its lr and eps."""
    groups = parts.clip_groups(config)
    settings = {
        "world_model": (config.world_model_lr, config.world_model_eps),
        "actor": (config.actor_lr, config.actor_critic_eps),
        "critic": (config.critic_lr, config.actor_critic_eps),
    }
    return torch.optim.Adam(
        [{"params": groups[name][0], "lr": lr, "eps": eps, "name": name} for name, (lr, eps) in settings.items()]
    )


def make_replay(
    config: DreamerConfig, num_envs: int, seed: int, device: torch.device | str | None = None
) -> ReplayBuffer:
    """The sequence replay of ``num_envs`` sub-envs (slices may run across episode ends, reset at ``is_init``)."""
    config.check_env_fits(num_envs)
    sampler = SliceSampler(config.sequence_length, num_envs, cross_episodes=True)
    capacity = config.buffer_size - config.buffer_size % num_envs
    return ReplayBuffer(capacity, sampler=sampler, seed=seed, device=device)


def dreamer_update(
    parts: DreamerParts,
    buffer: ReplayBuffer,
    optimizer: torch.optim.Optimizer,
    config: DreamerConfig,
    steps: int,
    *,
    backward: Callable[[torch.Tensor], None] | None = None,
) -> tuple[TensorDictBase | None, int]:
    """Dreamer's update body: ``steps`` times, sample ``batch_size`` sequences of ``sequence_length``,
    take a :func:`~rl4py.trainers.gradient_step` of :class:`~rl4py.losses.DreamerLoss` (each network
    clipped to its own norm), then move the slow critic.

    Args:
        parts: the built components.
        buffer: the sequence replay (:func:`make_replay`).
        optimizer: :func:`make_dreamer_optimizer`'s.
        config: the hyperparameters.
        steps: gradient steps to take (:class:`TrainRatio`).
        backward: the backward pass (a LightningModule passes its own).

    Returns:
        ``(stats, taken)``: the last step's loss outputs (``None`` when ``steps`` is 0) and the steps
        taken (skipped non-finite steps are not counted).
    """
    out, taken = None, 0
    groups = parts.clip_groups(config)
    with num_threads(config.update_threads):
        for _ in range(steps):
            out, stepped = gradient_step(
                parts.loss,
                optimizer,
                buffer.sample(config.batch_size),
                backward=backward,
                skip_nonfinite=config.skip_nonfinite,
                clip_groups=groups,
            )
            if stepped:
                parts.loss.after_step()
                taken += 1
    return out, taken


def train_dreamer(
    env: EnvBase,
    config: DreamerConfig | None = None,
    progress: Progress | None = None,
    progress_every: int = 100,
    *,
    encoder: nn.Module | None = None,
    rssm: RSSM | None = None,
    actor: nn.Module | None = None,
    critic: nn.Module | None = None,
    representation_loss: Callable[[int, int], RepresentationLoss] | None = None,
    on_update: Callable[[TensorDictBase, int], None] | None = None,
) -> TrainResult:
    """Trains DreamerV3 (``representation="decoder"``) or R2-Dreamer (``"barlow"``, the default) on ``env``.

    Each iteration: collect ``rollout_length`` steps per sub-env with the world-model policy, add them
    to the sequence replay, then take the gradient steps the train ratio owes (:func:`dreamer_update`).

    Args:
        env: a batched env with a flat ``Box`` or uint8 ``[C, H, W]`` observation and a ``Discrete``
            or ``[-1, 1]`` ``Box`` action space (its ``num_envs`` is used; ``config.num_envs`` is not).
        config: hyperparameters (DreamerV3's defaults if ``None``).
        progress: where to report every ``progress_every`` iterations (a callable, an rl4py or a
            Lightning logger; see :class:`~rl4py.trainers.ProgressReporter`): ``frames``, ``seconds``,
            ``steps_per_second``, ``updates``, returns and the last update's loss terms.
        progress_every: iterations between ``progress`` calls.
        encoder, rssm, actor, critic, representation_loss: components replacing the built ones
            (:func:`build_dreamer`).
        on_update: called after each round of updates with the last step's stats and the frames so far.

    Returns:
        A :class:`~rl4py.trainers.TrainResult` with modules ``actor`` (the :class:`~rl4py.modules.DreamerPolicy`,
        ready for :func:`~rl4py.trainers.evaluate_policy`) and ``loss`` (every network), ``updates`` gradient steps.

    Raises:
        TypeError: the env has action masks (Dreamer's actor does not read them) or unsupported spaces.
    """
    config = config or DreamerConfig()
    if has_action_mask(env):
        raise TypeError(f"train_dreamer: {env.name} has action masks, which Dreamer's actor does not read")
    config.check_env_fits(env.num_envs)
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    parts = build_dreamer(
        env.single_observation_space,
        env.single_action_space,
        config,
        encoder=encoder,
        rssm=rssm,
        actor=actor,
        critic=critic,
        representation_loss=representation_loss,
    )
    parts.loss.to(env.device)
    optimizer = make_dreamer_optimizer(parts, config)
    collector = SyncCollector(
        env, parts.policy, config.rollout_length, total_frames=config.total_frames, seed=config.seed,
        return_same_td=True,
    )  # fmt: skip
    buffer = make_replay(config, env.num_envs, config.seed, env.device)
    ratio = TrainRatio(config)
    tracker = EpisodeTracker(config.window, config.target_return)
    reporter = ProgressReporter(progress, progress_every, start)
    last: TensorDictBase | None = None
    updates = iteration = 0
    for iteration, rollout in enumerate(collector, start=1):
        tracker.update(rollout)
        if tracker.solved:
            break
        buffer.extend(rollout.select(*REPLAY_KEYS))
        steps = ratio.due(collector.frames_per_rollout)
        if steps:
            stats, taken = dreamer_update(parts, buffer, optimizer, config, steps)
            updates += taken
            if stats is not None:
                last = stats
                if on_update is not None:
                    on_update(stats, collector.frames)
        reporter.maybe_report(iteration, collector.frames, tracker, last, updates=updates)
    reporter.finish()
    return TrainResult(
        solved=tracker.solved,
        frames=collector.frames,
        seconds=time.perf_counter() - start,
        mean_return=tracker.mean_return,
        iterations=iteration,
        modules={"actor": parts.policy, "loss": parts.loss},
        history=reporter.history,
        updates=updates,
    )
