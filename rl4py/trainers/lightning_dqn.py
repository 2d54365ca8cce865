"""DQN as a LightningModule: each training step collects a few steps into the replay buffer and updates."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial

import torch

from rl4py.collectors.sync import SyncCollector
from rl4py.data import ReplayBuffer
from rl4py.envs.factory import make_env
from rl4py.losses.common import total_loss
from rl4py.losses.target import polyak_update
from rl4py.trainers.dqn_loop import DQNConfig, make_dqn_components, replay_keys
from rl4py.trainers.lightning_base import RolloutModule, should_log
from rl4py.trainers.updates import num_threads

__all__ = ["DQNModule"]


class DQNModule(RolloutModule):
    """DQN trained by the Lightning ``Trainer``; the plain-loop twin is :func:`rl4py.trainers.train_dqn`.

    Each training step collects ``train_frequency`` steps from every sub-env with the
    epsilon-greedy policy into the replay buffer, then (after ``learning_starts`` frames) runs
    ``gradient_steps`` updates with ``manual_backward`` and, every ``target_update_interval``
    updates, ``polyak_update(target, online, tau)``. As for every manual-optimization module,
    the Trainer's ``max_steps`` counts optimizer steps (none during the warm-up).

    Checkpoints hold the online and target networks, the optimizer, the epsilon schedule, the env
    and collector state, the RNG states and (``checkpoint_buffer=True``) the replay buffer, so a
    resumed run continues exactly; switch the buffer off for buffers too large to checkpoint.

    Args:
        env: a native env name or a gymnasium id with a ``Discrete`` action space.
        num_envs: sub-envs per rank.
        env_kwargs: extra constructor arguments of the env.
        num_cells, activation: the Q-network's MLP.
        buffer_size, batch_size, learning_starts, train_frequency, gradient_steps: replay settings.
        lr, gamma, loss_function, double_dqn, max_grad_norm: the update.
        tau, target_update_interval: target network updates.
        eps_start, eps_end, exploration_frames: the linear epsilon schedule (in env frames).
        checkpoint_buffer: include the replay buffer's contents in checkpoints.
        update_threads: torch threads during the update.
        target_return: stop once the mean return of the last 20 episodes reaches it.
        seed: base seed (each rank adds ``1000 * rank`` for its env, sampling and exploration).
    """

    def __init__(
        self,
        env: str = "CartPole",
        num_envs: int = 8,
        env_kwargs: dict | None = None,
        num_cells: Sequence[int] = (64, 64),
        activation: str = "relu",
        buffer_size: int = 10_000,
        batch_size: int = 32,
        learning_starts: int = 1_000,
        train_frequency: int = 1,
        gradient_steps: int = 1,
        lr: float = 1e-4,
        gamma: float = 0.99,
        loss_function: str = "l2",
        double_dqn: bool = False,
        max_grad_norm: float | None = 10.0,
        tau: float = 0.005,
        target_update_interval: int = 1,
        eps_start: float = 1.0,
        eps_end: float = 0.05,
        exploration_frames: int = 10_000,
        checkpoint_buffer: bool = True,
        update_threads: int | None = None,
        target_return: float | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        # the plain loop's checks, reported under this module's name
        settings = {k: v for k, v in self.hparams.items() if k in DQNConfig.__dataclass_fields__}
        DQNConfig(**{**settings, "num_cells": tuple(num_cells)}).check("DQNModule")
        torch.manual_seed(seed)
        probe = make_env(env, num_envs=1, **(env_kwargs or {}))
        self.actor, self.loss, policy = make_dqn_components(
            probe,
            tuple(num_cells),
            activation,
            gamma=gamma,
            loss_function=loss_function,
            double_dqn=double_dqn,
            eps_start=eps_start,
            eps_end=eps_end,
            exploration_frames=exploration_frames,
            seed=seed,
        )
        # the exploration policy wraps self.actor; it is kept out of the submodules so that the
        # state dict holds only the networks (its schedule and generator are per-rank checkpoint
        # state, restored in load_extra_checkpoint_state); setup() seeds it for the rank
        self.__dict__["policy"] = policy
        self._replay_keys = replay_keys(probe)
        probe.close()
        self.updates = 0
        self.buffer = ReplayBuffer(buffer_size, seed=seed)

    def setup(self, stage: str) -> None:
        if self.collector is not None:
            return
        hp = self.hparams
        rank_seed = self.rank_seed
        self.policy.generator = torch.Generator(device=self.device).manual_seed(rank_seed)
        self.collector = SyncCollector(
            self.make_rank_env(), self.policy, hp.train_frequency, seed=rank_seed, return_same_td=True
        )
        self.buffer = ReplayBuffer(hp.buffer_size, seed=rank_seed, device=self.device)
        torch.manual_seed(rank_seed)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.actor.parameters(), lr=self.hparams.lr, fused=True)

    def training_step(self, dataloader_iter: Iterator) -> None:
        hp = self.hparams
        rollout = self.next_rollout(dataloader_iter)
        self.buffer.extend(rollout.select(*self._replay_keys))
        self.policy.step(self.collector.frames_per_rollout)
        log = partial(self.log, on_step=True, on_epoch=False, batch_size=hp.batch_size)
        if self.env_frames >= hp.learning_starts:
            optimizer = self.optimizers()
            params = list(self.actor.parameters())
            with num_threads(hp.update_threads):
                for _ in range(hp.gradient_steps):
                    out = self.loss(self.buffer.sample(hp.batch_size))
                    optimizer.zero_grad(set_to_none=True)
                    self.manual_backward(total_loss(out))
                    if hp.max_grad_norm is not None:
                        torch.nn.utils.clip_grad_norm_(params, hp.max_grad_norm)
                    optimizer.step()
                    self.updates += 1
                    if self.updates % hp.target_update_interval == 0:
                        polyak_update(self.loss.target_network, self.actor, hp.tau)
            if should_log(self.trainer):
                for key, value in out.detach().items():
                    log(f"losses/{key}", value)
        if should_log(self.trainer):
            self.log_common(log)
            log("charts/epsilon", self.policy.epsilon)
        self.stop_at_target()

    def extra_checkpoint_state(self) -> dict:
        return {
            "buffer": self.buffer.state_dict() if self.hparams.checkpoint_buffer else None,
            "epsilon_steps": self.policy.steps,
            "exploration_rng": self.policy.generator.get_state(),
            "updates": self.updates,
        }

    def load_extra_checkpoint_state(self, state: dict) -> None:
        if state["buffer"] is not None:
            self.buffer.load_state_dict(state["buffer"])
        self.policy.steps = int(state["epsilon_steps"])
        self.policy.generator.set_state(state["exploration_rng"])
        self.updates = int(state["updates"])
