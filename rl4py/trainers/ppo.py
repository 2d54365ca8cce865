"""PPO: its one defaults table (:class:`PPOConfig`), its builder (:func:`build_ppo`) and its plain
loop (:func:`train_ppo`). The update body is :func:`~rl4py.trainers.actor_critic.actor_critic_update`,
shared with :class:`~rl4py.trainers.PPOModule` (Lightning) and the CLI."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium as gym
from tensordict import TensorDictBase
from torch import nn

from rl4py.envs.base import EnvBase
from rl4py.losses.ppo import PPOLoss
from rl4py.trainers.actor_critic import (
    ActorCriticConfig,
    ActorCriticParts,
    LossFactory,
    build_for_env,
    make_networks,
    make_value_estimator_for,
    run_actor_critic,
    wire_value_estimator,
)
from rl4py.trainers.config import check_range
from rl4py.trainers.tracking import Progress, TrainResult
from rl4py.values.base import ValueEstimator

__all__ = [
    "PPOConfig",
    "build_ppo",
    "ppo_clip_epsilon",
    "ppo_learning_rate",
    "ppo_parts",
    "ppo_schedules",
    "reset_exploration",
    "train_ppo",
]


@dataclass(frozen=True)
class PPOConfig(ActorCriticConfig):
    """PPO's hyperparameters; the defaults are CleanRL's ``ppo.py`` (Huang et al., "The 37
    implementation details of PPO", 2022).

    The loss fields (``clip_epsilon`` ... ``normalize_advantage``, ``entropy_coeff``,
    ``critic_coeff``) build the default :class:`~rl4py.losses.PPOLoss`, and ``estimator``,
    ``gamma`` and ``lmbda`` the default value estimator; a loss or estimator passed to the builder
    replaces them.
    """

    num_envs: int = 4
    """Sub-envs stepped together (when the trainer builds the env; per rank under Lightning)."""
    rollout_length: int = 128
    """Steps per sub-env per rollout (CleanRL's ``num_steps``)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over ``total_frames``."""
    lmbda: float = 0.95
    """GAE lambda."""
    estimator: str = "gae"
    """Value estimator stage: ``"gae"``, ``"vtrace"`` (with the actor's importance ratios),
    ``"td_lambda"``, ``"multihead_gae"`` (with ``head_weights``) or any name in
    :data:`rl4py.values.VALUE_ESTIMATORS`."""
    head_weights: tuple[float, ...] | None = None
    """With ``estimator="multihead_gae"``: one weight per reward head of an env with
    ``reward_heads = K`` (multi-head value decomposition); the critic gets ``K`` value heads and the
    policy's advantage is ``sum_h head_weights[h] * A_h`` (:class:`~rl4py.values.MultiHeadGAE`)."""
    head_gammas: tuple[float, ...] | None = None
    """With ``head_weights``: each head's discount (``None``: ``gamma`` for every head), for example
    a short horizon for a dense shaping head and a long one for the outcome."""
    clip_epsilon: float = 0.2
    """Surrogate clip range."""
    dual_clip: float | None = None
    """Dual-clip coefficient c (> 1), or None."""
    clip_value: bool = True
    """Clip the value update to ``clip_epsilon``."""
    normalize_advantage: bool = True
    """Z-normalize advantages per minibatch."""
    anneal_clip: bool = False
    """Decay ``clip_epsilon`` linearly to 0 over ``total_frames``, like the learning rate (rl-zoo's
    ``lin_0.2``; the value clip keeps ``clip_epsilon``'s initial value)."""
    gsde: bool = False
    """Explore with generalized state-dependent noise (Raffin et al. 2021; ``Box`` action spaces):
    a :class:`~rl4py.modules.GSDEActor` whose noise is its features times an exploration matrix
    (``init_log_std`` sets the matrix's initial log-scale)."""
    sde_sample_freq: int = -1
    """With ``gsde``: steps between new exploration matrices (``-1``: one per rollout)."""

    def check(self) -> None:
        super().check()
        name = type(self).__name__
        check_range(self, "lmbda", 0.0, 1.0)
        multihead = self.estimator == "multihead_gae"
        if multihead and not self.head_weights:
            raise ValueError(f"{name}: estimator='multihead_gae' needs head_weights, one weight per reward head")
        if self.head_weights is not None and not multihead:
            raise ValueError(
                f"{name}: head_weights={self.head_weights!r} would be ignored: they apply to "
                f"estimator='multihead_gae', got estimator={self.estimator!r}"
            )
        if self.head_gammas is not None:
            if self.head_weights is None or len(self.head_gammas) != len(self.head_weights):
                raise ValueError(
                    f"{name}: head_gammas must have one discount per head of head_weights ({self.head_weights!r}), "
                    f"got {self.head_gammas!r}"
                )
            if not all(0.0 <= g <= 1.0 for g in self.head_gammas):
                raise ValueError(f"{name}: every entry of head_gammas must be in [0, 1], got {self.head_gammas!r}")
        if self.sde_sample_freq == 0 or self.sde_sample_freq < -1:
            raise ValueError(
                f"{name}: sde_sample_freq must be >= 1, or -1 for once per rollout, got {self.sde_sample_freq}"
            )
        if self.gsde and "gsde" not in type(self).SHADOWED_BY.get(("actor", "critic"), ()):
            raise ValueError(
                f"{name}: gsde applies to the feed-forward actor build_ppo builds; this config builds another"
            )

    SHADOWED_BY = {
        **ActorCriticConfig.SHADOWED_BY,
        ("actor", "critic"): (*ActorCriticConfig.SHADOWED_BY[("actor", "critic")], "gsde", "sde_sample_freq"),
        ("loss",): (
            "clip_epsilon",
            "dual_clip",
            "entropy_coeff",
            "critic_coeff",
            "clip_value",
            "normalize_advantage",
            "anneal_clip",
        ),
        ("value_estimator",): ("estimator", "gamma", "lmbda", "head_gammas"),
        ("critic", "value_estimator"): ("head_weights",),
    }

    @property
    def value_heads(self) -> int:
        """Value heads of the critic the builder makes: ``len(head_weights)``, or 1."""
        return len(self.head_weights) if self.head_weights else 1

    def loss_kwargs(self) -> dict:
        """The :class:`~rl4py.losses.PPOLoss` arguments this config sets."""
        return {
            "clip_epsilon": self.clip_epsilon,
            "dual_clip": self.dual_clip,
            "entropy_coeff": self.entropy_coeff,
            "critic_coeff": self.critic_coeff,
            "clip_value": self.clip_value,
            "normalize_advantage": self.normalize_advantage,
        }


def ppo_learning_rate(config: PPOConfig, frames_done: int) -> float:
    """The learning rate for the rollout after ``frames_done`` env steps: ``lr``, decayed linearly
    to 0 over ``total_frames`` with ``anneal_lr`` (CleanRL's schedule; floored at 0)."""
    if not config.anneal_lr:
        return config.lr
    return config.lr * max(0.0, 1.0 - frames_done / config.total_frames)


def ppo_clip_epsilon(config: PPOConfig, frames_done: int) -> float:
    """The surrogate clip range for the rollout after ``frames_done`` env steps: ``clip_epsilon``,
    decayed linearly to 0 over ``total_frames`` with ``anneal_clip`` (floored at 1e-8: the loss needs > 0)."""
    if not config.anneal_clip:
        return config.clip_epsilon
    return max(1e-8, config.clip_epsilon * (1.0 - frames_done / config.total_frames))


def ppo_schedules(config: PPOConfig, parts: ActorCriticParts, frames_done: int) -> float:
    """Sets the loss's clip range for the next update (with ``anneal_clip``) and returns its learning rate."""
    if config.anneal_clip:
        parts.loss.clip_epsilon = ppo_clip_epsilon(config, frames_done)
    return ppo_learning_rate(config, frames_done)


def reset_exploration(policy: nn.Module) -> None:
    """Draws new exploration noise for the next rollout where the policy has some (a gSDE actor's
    ``reset_noise``); nothing otherwise."""
    reset = getattr(policy, "reset_noise", None)
    if reset is not None:
        reset()


def build_ppo(
    observation_space: gym.Space,
    action_space: gym.Space,
    config: PPOConfig,
    *,
    masked: bool = False,
    actor: nn.Module | None = None,
    critic: nn.Module | None = None,
    loss: LossFactory | None = None,
    value_estimator: ValueEstimator | None = None,
) -> ActorCriticParts:
    """PPO's components for one sub-env's spaces; each one passed in is used instead of built.

    Args:
        observation_space, action_space: one sub-env's spaces.
        config: the hyperparameters.
        masked: the env returns ``"action_mask"`` (the built actor reads it).
        actor, critic: networks to train (default: :func:`~rl4py.modules.make_actor_critic`'s MLPs).
        loss: builds the loss from ``(actor, critic)`` (default: :class:`~rl4py.losses.PPOLoss`
            with the config's loss fields).
        value_estimator: the estimator stage (default: ``config.estimator``); its value network
            becomes the critic and, if it takes one and has none, its actor the actor.

    Returns:
        The parts; the policy that collects is the actor.

    Raises:
        ValueError: a component is given and the config also sets one of the fields only the
            built one reads (it would be dropped; :meth:`~rl4py.trainers.TrainConfig.refuse_shadowed`).
    """
    config.refuse_shadowed(actor=actor, critic=critic, loss=loss, value_estimator=value_estimator)
    # a given multi-head estimator (MultiHeadGAE) sets the critic's heads
    value_heads = getattr(value_estimator, "num_heads", None) if value_estimator is not None else config.value_heads
    actor, critic = make_networks(
        observation_space,
        action_space,
        config,
        masked=masked,
        actor=actor,
        critic=critic,
        gsde=config.gsde,
        sde_sample_freq=config.sde_sample_freq,
        value_heads=value_heads or 1,
    )
    return ppo_parts(actor, critic, config, loss=loss, value_estimator=value_estimator)


def ppo_parts(
    actor: nn.Module,
    critic: nn.Module,
    config: PPOConfig,
    *,
    loss: LossFactory | None = None,
    value_estimator: ValueEstimator | None = None,
) -> ActorCriticParts:
    """PPO's parts around given networks: the loss (``loss(actor, critic)``, default
    :class:`~rl4py.losses.PPOLoss` with the config's loss fields) and the value estimator (default
    ``config.estimator``; a given one is wired to ``critic`` and ``actor``)."""
    factory = loss if loss is not None else functools.partial(PPOLoss, **config.loss_kwargs())
    if value_estimator is None:
        value_estimator = make_value_estimator_for(
            config.estimator,
            gamma=config.gamma,
            lmbda=config.lmbda,
            actor=actor,
            value_network=critic,
            head_weights=config.head_weights,
            head_gammas=config.head_gammas,
        )
    else:
        wire_value_estimator(value_estimator, critic, actor)
    return ActorCriticParts(actor, critic, factory(actor, critic), [value_estimator], policy=actor)


def train_ppo(
    env: EnvBase,
    config: PPOConfig | None = None,
    progress: Progress | None = None,
    progress_every: int = 10,
    *,
    actor: nn.Module | None = None,
    critic: nn.Module | None = None,
    loss: LossFactory | None = None,
    value_estimator: ValueEstimator | None = None,
    on_update: Callable[[TensorDictBase, int], object] | None = None,
    stages: Sequence[nn.Module] = (),
) -> TrainResult:
    """Trains a PPO agent on ``env`` (separate actor and critic MLPs unless given).

    The actor fits the env's action space (:func:`~rl4py.modules.make_actor_critic`):
    categorical for ``Discrete`` (masked when the env returns ``"action_mask"``),
    multi-categorical for ``MultiDiscrete``, diagonal Gaussian for ``Box``.

    Args:
        env: a batched env with a flat ``Box`` observation (its ``num_envs`` is used).
        config: hyperparameters (CleanRL's defaults if ``None``).
        progress: where to report every ``progress_every`` iterations (a callable, an rl4py or a Lightning
            logger: see :class:`~rl4py.trainers.ProgressReporter`).
        progress_every: iterations between ``progress`` calls.
        actor, critic, loss, value_estimator: components replacing the built ones (:func:`build_ppo`).
        on_update: called after each update with its stats and the env frames so far (a
            :class:`~rl4py.diagnostics.TrainingHealth`'s ``update``).
        stages: rollout stages run, in order, before the value estimator on each rollout (an
            :class:`~rl4py.exploration.IntrinsicRewardStage`); moved to ``env``'s device.

    Returns:
        A :class:`~rl4py.trainers.TrainResult` with modules ``actor`` and ``critic`` (wall time
        counted from the start of this call).

    Examples:
        >>> from rl4py.envs import CartPole
        >>> result = train_ppo(CartPole(num_envs=4), PPOConfig(total_frames=1024))
        >>> result.frames
        1024
    """
    config = config or PPOConfig()
    start = time.perf_counter()
    parts = build_for_env(
        build_ppo, env, config, actor=actor, critic=critic, loss=loss, value_estimator=value_estimator
    )
    parts.estimators[:0] = [stage.to(env.device) for stage in stages]
    return run_actor_critic(
        env,
        parts,
        config,
        owner="train_ppo",
        start=start,
        modules={"actor": parts.actor, "critic": parts.critic},
        learning_rate=functools.partial(ppo_schedules, config, parts),
        after_update=functools.partial(reset_exploration, parts.policy),  # before the next rollout
        on_update=on_update,
        progress=progress,
        progress_every=progress_every,
    )
