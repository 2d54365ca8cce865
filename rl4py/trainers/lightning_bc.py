"""Behaviour cloning and policy distillation as a LightningModule: the config, builder and update
body of :mod:`rl4py.trainers.bc`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from rl4py.envs.base import EnvBase
from rl4py.trainers.bc import BCConfig, BCParts, bc_update, build_bc, make_bc_optimizer
from rl4py.trainers.lightning_base import Progress, RolloutModule, _identity, load_checkpoint

__all__ = ["BCModule", "load_demonstrations"]


def load_demonstrations(path: str | Path) -> TensorDictBase:
    """A dataset of transitions saved with ``TensorDict.memmap(path)`` (see
    :func:`~rl4py.trainers.collect_demonstrations`), loaded into memory.

    Raises:
        FileNotFoundError: ``path`` is not a saved TensorDict directory.
    """
    path = Path(path)
    if not (path / "meta.json").exists():
        raise FileNotFoundError(
            f"load_demonstrations: {path} is not a TensorDict saved with td.memmap(path) (no meta.json there)"
        )
    return TensorDict.load_memmap(path).to_tensordict()


class _Repeat(IterableDataset):
    """Yields the same dataset forever: one item per training step (one pass over it)."""

    def __init__(self, data: TensorDictBase) -> None:
        self.data = data

    def __iter__(self) -> Iterator[TensorDictBase]:
        while True:
            yield self.data


class BCModule(RolloutModule):
    """Trains a student policy by behaviour cloning from a dataset of transitions, or by
    distillation from a teacher checkpoint, with the Lightning ``Trainer``.

    - ``dataset``: a directory written by ``TensorDict.memmap`` with ``"observation"`` and the
      expert's ``"action"``; each training step is one pass of ``batch_size`` minibatches
      (:class:`~rl4py.losses.BCLoss`), ``config.epochs`` steps in all.
    - ``teacher``: a checkpoint of an rl4py LightningModule (e.g. a trained ``PPOModule``); each
      training step collects one rollout (with the teacher, or the student with
      ``collect_with="student"``) and fits the student to the teacher's distribution on it
      (:class:`~rl4py.losses.PolicyDistillationLoss`), until ``config.total_frames``.

    The student is ``actor`` (what :class:`~rl4py.trainers.EvaluationCallback` evaluates); the
    logged ``charts/episodic_return`` is the collecting policy's.

    Args:
        env: the env name (its spaces shape the student; a teacher's states come from it).
        config: the hyperparameters.
        env_kwargs: extra constructor arguments of the env.
        normalize_observations: wrap each rank's env in :class:`~rl4py.envs.ObservationNorm`.
        dataset: path of the demonstrations (exactly one of ``dataset`` and ``teacher``).
        teacher: path of the teacher's checkpoint.
        student: the policy to train instead of the built MLP.
    """

    config_class = BCConfig
    config: BCConfig
    component_args = ("student",)

    def __init__(
        self,
        env: str = "CartPole",
        config: BCConfig | None = None,
        env_kwargs: dict | None = None,
        normalize_observations: bool = False,
        dataset: str | None = None,
        teacher: str | None = None,
        student: nn.Module | None = None,
    ) -> None:
        if (dataset is None) == (teacher is None):
            raise ValueError("BCModule: give exactly one of dataset (behaviour cloning) and teacher (distillation)")
        super().__init__(env, config, env_kwargs, normalize_observations)
        self.dataset_path = dataset
        self.teacher_path = teacher
        self._student = student
        self.config.refuse_shadowed(student=student)  # fail at construction, not when fit starts
        self.demonstrations: TensorDictBase | None = None

    def build(self, observation_space: gym.Space, action_space: gym.Space, masked: bool) -> None:
        teacher = None
        if self.teacher_path is not None:
            with torch.random.fork_rng():
                teacher = load_checkpoint(self.teacher_path).actor.eval()
        self.parts: BCParts = build_bc(
            observation_space, action_space, self.config, masked=masked, student=self._student, teacher=teacher
        )
        self.actor = self.parts.student
        self.loss = self.parts.loss  # holds the teacher too (frozen)

    def collection_policy(self) -> nn.Module:
        return self.parts.collecting_policy(self.config) if self.parts.teacher is not None else self.parts.student

    def on_collector_built(self, env: EnvBase) -> None:
        self.loss.to(env.device)
        self._shuffle = torch.Generator().manual_seed(self.rank_seed)
        if self.dataset_path is not None:
            self.demonstrations = load_demonstrations(self.dataset_path).to(env.device)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return make_bc_optimizer(self.parts, self.config)

    def progress(self) -> Progress:
        if self.dataset_path is not None:  # behaviour cloning: passes over the dataset
            return Progress(self.training_steps, self.config.epochs, "passes")
        return super().progress()

    def train_dataloader(self) -> DataLoader:
        if self.demonstrations is None:
            return super().train_dataloader()
        return DataLoader(
            _Repeat(self.demonstrations), batch_size=None, collate_fn=_identity, generator=torch.Generator()
        )

    def training_step(self, dataloader_iter: Iterator) -> None:
        start = time.perf_counter()
        if self.demonstrations is not None:
            data, _, _ = next(dataloader_iter)
            self.training_steps += 1
            stats = bc_update(
                self.parts, data, self.optimizers(), self.config, self._shuffle, epochs=1, backward=self.backward_pass
            )
            self.log_metrics(stats)
            if self.training_steps >= self.config.epochs:
                self.trainer.should_stop = True
            return
        rollout = self.next_rollout(dataloader_iter)
        stats = bc_update(
            self.parts, rollout, self.optimizers(), self.config, self._shuffle, backward=self.backward_pass
        )
        frames = self.collector.frames_per_rollout * self.trainer.world_size
        self.log_metrics(stats, {"charts/SPS": frames / (time.perf_counter() - start)})
        self.stop_if_done()

    def extra_checkpoint_state(self) -> dict:
        return {"shuffle_rng": self._shuffle.get_state()}

    def load_extra_checkpoint_state(self, state: dict) -> None:
        self._shuffle.set_state(state["shuffle_rng"])
