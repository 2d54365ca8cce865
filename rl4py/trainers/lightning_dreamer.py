"""DreamerV3 / R2-Dreamer as a LightningModule: the config, builder and update body of :mod:`rl4py.trainers.dreamer`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import gymnasium as gym
import torch
from torch import nn

from rl4py.envs.base import EnvBase
from rl4py.losses.dreamer import RepresentationLoss
from rl4py.modules.rssm import RSSM
from rl4py.trainers.dreamer import (
    REPLAY_KEYS,
    DreamerConfig,
    DreamerParts,
    TrainRatio,
    build_dreamer,
    dreamer_update,
    make_dreamer_optimizer,
    make_replay,
)
from rl4py.trainers.lightning_base import RolloutModule

__all__ = ["DreamerModule"]


class DreamerModule(RolloutModule):
    """Dreamer trained by the Lightning ``Trainer``; the plain-loop twin is :func:`rl4py.trainers.train_dreamer`.

    Each training step collects ``rollout_length`` steps from every sub-env with the
    :class:`~rl4py.modules.DreamerPolicy` into this rank's sequence replay, then takes the gradient
    steps the train ratio owes (:func:`~rl4py.trainers.dreamer_update`, one backward of every term
    per step). Under DDP each rank keeps its own replay and env; the gradients are averaged over the
    ranks at every step and the return normalizer gathers every rank's imagined returns, so the
    weights stay identical. Training stops at ``config.total_frames``, ``config.target_return`` or
    the Trainer's limits.

    Checkpoints hold every network (slow critic and return percentiles included), the optimizer, the
    train-ratio counter, the env and collector state (the policy's recurrent state too), the RNG
    states and (``checkpoint_buffer=True``) the replay, so a resumed run continues exactly.

    Args:
        env: a native env name or a gymnasium id (see :func:`rl4py.envs.make_env`).
        config: the hyperparameters (``num_envs`` is per rank).
        env_kwargs: extra constructor arguments of the env.
        normalize_observations: wrap each rank's env in :class:`~rl4py.envs.ObservationNorm`.
        encoder, rssm, actor, critic: networks instead of the built ones (:func:`~rl4py.trainers.build_dreamer`).
        representation_loss: called as ``representation_loss(feature_size, embed_size)`` instead of
            ``config.representation``; on the command line
            ``--model.representation_loss.class_path rl4py.losses.InfoNCELoss``.
        checkpoint_buffer: include the replay's contents in checkpoints.
    """

    config_class = DreamerConfig
    config: DreamerConfig
    component_args = ("encoder", "rssm", "actor", "critic", "representation_loss")

    def __init__(
        self,
        env: str = "CartPole",
        config: DreamerConfig | None = None,
        env_kwargs: dict | None = None,
        normalize_observations: bool = False,
        encoder: nn.Module | None = None,
        rssm: RSSM | None = None,
        actor: nn.Module | None = None,
        critic: nn.Module | None = None,
        representation_loss: Callable[[int, int], RepresentationLoss] | None = None,
        checkpoint_buffer: bool = True,
    ) -> None:
        super().__init__(env, config, env_kwargs, normalize_observations)
        self.checkpoint_buffer = checkpoint_buffer
        self._given = {
            "encoder": encoder,
            "rssm": rssm,
            "actor": actor,
            "critic": critic,
            "representation_loss": representation_loss,
        }
        self.config.refuse_shadowed(**self._given)  # fail at construction, not when fit starts
        self.updates = 0
        self.ratio = TrainRatio(self.config)

    def build(self, observation_space: gym.Space, action_space: gym.Space, masked: bool) -> None:
        if masked:
            raise TypeError(f"DreamerModule: {self.env_name} has action masks, which Dreamer's actor does not read")
        sync = self.attached and self.trainer.world_size > 1
        self.parts: DreamerParts = build_dreamer(
            observation_space, action_space, self.config, sync_returns=sync, **self._given
        )
        # the policy and the loss share the encoder, RSSM and actor: both are in the state dict
        self.actor = self.parts.policy
        self.loss = self.parts.loss

    def collection_policy(self) -> torch.nn.Module:
        return self.parts.policy

    def on_collector_built(self, env: EnvBase) -> None:
        self.buffer = make_replay(self.config, env.num_envs, self.rank_seed, env.device)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return make_dreamer_optimizer(self.parts, self.config)

    def training_step(self, dataloader_iter: Iterator) -> None:
        rollout = self.next_rollout(dataloader_iter)
        self.buffer.extend(rollout.select(*REPLAY_KEYS))
        steps = self.ratio.due(self.collector.frames_per_rollout)
        stats = None
        if steps:
            stats, taken = dreamer_update(
                self.parts, self.buffer, self.optimizers(), self.config, steps, backward=self.backward_pass
            )
            self.updates += taken
        self.log_metrics(stats, {"charts/gradient_steps": float(self.updates)})
        self.stop_if_done()

    def extra_checkpoint_state(self) -> dict:
        return {
            "buffer": self.buffer.state_dict() if self.checkpoint_buffer else None,
            "train_ratio": self.ratio.state_dict(),
            "updates": self.updates,
        }

    def load_extra_checkpoint_state(self, state: dict) -> None:
        if state["buffer"] is not None:
            self.buffer.load_state_dict(state["buffer"])
        self.ratio.load_state_dict(state["train_ratio"])
        self.updates = int(state["updates"])
