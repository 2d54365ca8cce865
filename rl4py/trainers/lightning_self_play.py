"""Self-play and league training as a LightningModule: each ``training_step`` is one
:func:`~rl4py.trainers.self_play.self_play_update` round, as the plain loop runs it."""

from __future__ import annotations

import dataclasses
import itertools
import time
import warnings
from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from rl4py.trainers.config import lightning_config
from rl4py.trainers.lightning_base import Progress
from rl4py.trainers.self_play import (
    SelfPlayConfig,
    SelfPlayParts,
    build_self_play,
    self_play_exploitability,
    self_play_update,
)

__all__ = ["SelfPlayModule"]

# the learners step their own optimizers (the league replaces them on a reset): none for Lightning
warnings.filterwarnings("ignore", message=".*configure_optimizers. returned .None.*")


class _Rounds(IterableDataset):
    """An endless stream of round numbers: the games are played inside ``training_step``."""

    def __iter__(self) -> Iterator[int]:
        return itertools.count()


class SelfPlayModule(pl.LightningModule):
    """Self-play or a league (:class:`~rl4py.trainers.SelfPlayConfig`) under a Lightning ``Trainer``:
    ``rl4py fit --config recipes/league_kuhn.yaml``.

    One process trains every learner of the league (the league's matchmaking is sequential); the
    learners' weights, optimizers, the pool, the payoff table, the games and every RNG are in the
    checkpoint, so ``fit(ckpt_path=...)`` continues exactly. The Trainer's ``max_steps`` counts rounds
    (``training_step`` calls). Logs ``charts/episodic_return`` (the main
    agent's recent game returns), ``charts/env_steps`` (learner moves), ``league/snapshots`` and, every
    ``eval_every`` rounds, ``eval/exploitability_main``, ``eval/exploitability_average`` and
    ``eval/exploitability_league_average``.

    Args:
        config: the hyperparameters (a config or a mapping of its fields); leave ``seed`` at its
            default: the run is seeded by ``seed_everything`` (the CLI's ``--seed_everything``).
    """

    config_class = SelfPlayConfig

    def __init__(self, config: SelfPlayConfig | dict | None = None) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.config = lightning_config(config, SelfPlayConfig, "SelfPlayModule")
        self.save_hyperparameters()
        self.hparams["config"] = dataclasses.asdict(self.config)
        self.env_name = self.config.game
        self.parts: SelfPlayParts | None = None
        self.learner_losses = nn.ModuleList()
        self.evaluation: dict[str, float] = {}
        self.solved = False

    # ----------------------------------------------------------------- build
    def configure_model(self) -> None:
        """Builds the learners, their games and the league (once), seeded by ``torch.initial_seed()``."""
        if self.parts is not None:
            return
        seed = torch.initial_seed() % 2**31
        self.parts = build_self_play(self.config.replace(seed=int(seed)), device=self.device)
        self.learner_losses.extend(learner.parts.loss for learner in self.parts.learners)
        torch.manual_seed(seed)  # the sampling

    @property
    def actor(self) -> nn.Module:
        """The main agent's actor."""
        self.configure_model()
        return self.parts.main.parts.actor

    def configure_optimizers(self) -> None:
        """None: every learner has its own optimizer, which the league replaces when it resets a learner."""
        return None

    def train_dataloader(self) -> DataLoader:
        # its own generator: creating the iterator must not draw from the global RNG (exact resume)
        return DataLoader(_Rounds(), batch_size=None, generator=torch.Generator())

    # -------------------------------------------------------------- training
    def on_train_start(self) -> None:
        if self.trainer.world_size > 1:
            raise ValueError(
                "SelfPlayModule trains the whole league in one process (its matchmaking is sequential); run it "
                f"with one device, not {self.trainer.world_size}"
            )

    def training_step(self, batch: Any, batch_idx: int) -> None:
        start = time.perf_counter()
        frames_before = self.parts.frames
        stats = self_play_update(self.parts)
        config = self.config
        metrics = {f"losses/{name}": float(value) for name, value in stats.items()}
        metrics["charts/env_steps"] = float(self.parts.frames)
        metrics["charts/SPS"] = (self.parts.frames - frames_before) / (time.perf_counter() - start)
        tracker = self.parts.main.tracker
        if tracker.recent:
            metrics["charts/episodic_return"] = tracker.mean_return
        if self.parts.league is not None:
            metrics["league/snapshots"] = float(len(self.parts.league.pool))
        if config.eval_every and self.parts.rounds % config.eval_every == 0:
            self.evaluation = self_play_exploitability(self.parts)
            metrics.update({f"eval/exploitability_{name}": value for name, value in self.evaluation.items()})
            target = config.target_exploitability
            self.solved = target is not None and min(self.evaluation.values()) <= target
        for logger in self.loggers:
            logger.log_metrics(metrics, step=self.parts.frames)
        self.trainer.callback_metrics.update({k: torch.tensor(v) for k, v in metrics.items()})
        self.trainer.progress_bar_metrics.update(
            {k: metrics[k] for k in ("charts/episodic_return", "eval/exploitability_average") if k in metrics}
        )
        # the learners' optimizers are not Lightning's: count the round as the Trainer's step, so that
        # global_step, max_steps and the checkpoints' step bookkeeping count rounds
        progress = self.trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress
        progress.increment_ready()
        progress.increment_completed()
        if self.parts.frames >= config.total_frames or self.solved:
            self.trainer.should_stop = True

    # ---------------------------------------------- what rl4py's callbacks read
    @property
    def global_env_frames(self) -> int:
        """Learner moves so far (all learners)."""
        return self.parts.frames if self.parts is not None else 0

    @property
    def mean_recent_return(self) -> float:
        """The main agent's mean return over its recent games."""
        return self.parts.main.tracker.mean_return if self.parts is not None else float("nan")

    def progress(self) -> Progress:
        """Learner moves done and the budget, for the progress bar."""
        return Progress(self.global_env_frames, self.config.total_frames, "moves")

    # ------------------------------------------------------------ checkpoint
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        cls = type(self)
        checkpoint["rl4py"] = {"module": f"{cls.__module__}.{cls.__qualname__}", "self_play": self.parts.state_dict()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = checkpoint.get("rl4py")
        if saved is None or "self_play" not in saved:
            raise KeyError(
                "SelfPlayModule: the checkpoint holds no self-play state; it was not written by SelfPlayModule"
            )
        self.configure_model()
        self.parts.load_state_dict(saved["self_play"])
