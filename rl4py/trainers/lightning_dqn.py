"""DQN as a LightningModule: the config, builder and update body of :mod:`rl4py.trainers.dqn`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import gymnasium as gym
import torch

from rl4py.data import ReplayBuffer
from rl4py.envs.base import EnvBase
from rl4py.losses.common import LossModule
from rl4py.modules.qvalue import QValueActor
from rl4py.trainers.dqn import DQNConfig, DQNParts, build_dqn, dqn_update, make_dqn_optimizer
from rl4py.trainers.lightning_base import RolloutModule

__all__ = ["DQNModule"]


class DQNModule(RolloutModule):
    """DQN trained by the Lightning ``Trainer``; the plain-loop twin is :func:`rl4py.trainers.train_dqn`.

    Each training step collects ``train_frequency`` steps from every sub-env with the
    epsilon-greedy policy into the replay buffer, then (after ``learning_starts`` frames) runs
    the update body :func:`~rl4py.trainers.dqn.dqn_update` (``gradient_steps`` updates with
    ``manual_backward`` and the target updates). Training stops at ``config.total_frames``,
    ``config.target_return`` or the Trainer's limits.

    Checkpoints hold the online and target networks, the optimizer, the epsilon schedule, the env
    and collector state, the RNG states and (``checkpoint_buffer=True``) the replay buffer, so a
    resumed run continues exactly; switch the buffer off for buffers too large to checkpoint.

    Args:
        env: a native env name or a gymnasium id with a ``Discrete`` action space.
        config: the hyperparameters (``num_envs`` is per rank).
        env_kwargs: extra constructor arguments of the env.
        normalize_observations: wrap each rank's env in :class:`~rl4py.envs.ObservationNorm`.
        q_network: the online network instead of the built MLP.
        loss: builds the loss from the online network instead of the config's ``DQNLoss``.
        checkpoint_buffer: include the replay buffer's contents in checkpoints.
    """

    config_class = DQNConfig
    config: DQNConfig
    component_args = ("q_network", "loss")

    def __init__(
        self,
        env: str = "CartPole",
        config: DQNConfig | None = None,
        env_kwargs: dict | None = None,
        normalize_observations: bool = False,
        q_network: QValueActor | None = None,
        loss: Callable[[QValueActor], LossModule] | None = None,
        checkpoint_buffer: bool = True,
    ) -> None:
        super().__init__(env, config, env_kwargs, normalize_observations)
        self.checkpoint_buffer = checkpoint_buffer
        self._given = {"q_network": q_network, "loss": loss}
        self.config.refuse_shadowed(**self._given)  # fail at construction, not when fit starts
        self.updates = 0

    @property
    def rollout_length(self) -> int:
        return self.config.train_frequency

    def build(self, observation_space: gym.Space, action_space: gym.Space, masked: bool) -> None:
        generator = None
        if self.base_seed is not None:  # under a Trainer: this rank's exploration draws, on its device
            generator = torch.Generator(device=self.trainer.strategy.root_device).manual_seed(self.rank_seed)
        self.parts: DQNParts = build_dqn(
            observation_space, action_space, self.config, masked=masked, generator=generator, **self._given
        )
        # the Q-network and the loss (online and target networks) are the state dict; the
        # exploration schedule and generator are per-rank checkpoint state (extra_checkpoint_state)
        self.actor = self.parts.q_network
        self.loss = self.parts.loss

    def collection_policy(self) -> torch.nn.Module:
        return self.parts.policy

    def on_collector_built(self, env: EnvBase) -> None:
        self.config.check_rollout_fits(env.num_envs)
        self.buffer = ReplayBuffer(self.config.buffer_size, seed=self.rank_seed, device=env.device)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return make_dqn_optimizer(self.parts, self.config)

    def training_step(self, dataloader_iter: Iterator) -> None:
        rollout = self.next_rollout(dataloader_iter)
        self.buffer.extend(rollout.select(*self.parts.replay_keys))
        self.parts.exploration.step(self.collector.frames_per_rollout)
        stats = None
        if self.env_frames >= self.config.learning_starts:
            stats, self.updates = dqn_update(
                self.parts, self.buffer, self.optimizers(), self.config, self.updates, backward=self.backward_pass
            )
        self.log_metrics(stats, {"charts/epsilon": self.parts.exploration.epsilon})
        self.stop_if_done()

    def extra_checkpoint_state(self) -> dict:
        return {
            "buffer": self.buffer.state_dict() if self.checkpoint_buffer else None,
            "epsilon_steps": self.parts.exploration.steps,
            "exploration_rng": self.parts.exploration.generator.get_state(),
            "updates": self.updates,
        }

    def load_extra_checkpoint_state(self, state: dict) -> None:
        if state["buffer"] is not None:
            self.buffer.load_state_dict(state["buffer"])
        self.parts.exploration.steps = int(state["epsilon_steps"])
        self.parts.exploration.generator.set_state(state["exploration_rng"])
        self.updates = int(state["updates"])
