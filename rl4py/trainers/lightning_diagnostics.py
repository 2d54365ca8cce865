"""A Lightning callback running :class:`~rl4py.diagnostics.TrainingHealth` on a module's logged
update metrics: warnings on the console and in TensorBoard."""

from __future__ import annotations

import lightning.pytorch as pl
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_warn

from rl4py.diagnostics import WARNINGS_KEY, HealthThresholds, TrainingHealth

__all__ = ["TrainingHealthCallback"]


class TrainingHealthCallback(pl.Callback):
    """Checks the training health of an rl4py LightningModule (``PPOModule``, ``ImpalaModule``, ...).

    On every training step that logs (``Trainer(log_every_n_steps=...)``; the modules log their
    ``losses/*`` only then), the step's ``losses/*`` metrics go through a
    :class:`~rl4py.diagnostics.TrainingHealth` at the module's env steps. So patience and recovery
    count logged steps: ``log_every_n_steps=1`` checks every update. New warnings are printed on
    rank 0 (``rank_zero_warn``) and written to each ``TensorBoardLogger`` as text under
    ``diagnostics/warnings``; the number of active problems is logged as the scalar
    ``diagnostics/warnings`` on every checked step.

    ``rl4py fit --trainer.callbacks+=rl4py.trainers.lightning_diagnostics.TrainingHealthCallback`` adds it from the CLI.

    Args:
        thresholds: the healthy ranges (:class:`~rl4py.diagnostics.HealthThresholds` defaults if ``None``).
        early_fraction_of_budget: pass the module's ``config.total_frames`` to the checks as the
            run's length (the entropy check then only looks at the early part of training).
    """

    def __init__(self, thresholds: HealthThresholds | None = None, early_fraction_of_budget: bool = True) -> None:
        self.thresholds = thresholds
        self.early_fraction_of_budget = early_fraction_of_budget
        self.health = TrainingHealth(thresholds, echo=self._echo)
        self._new: list[str] = []

    def _echo(self, message: str) -> None:
        self._new.append(message)
        rank_zero_warn(f"training health: {message}")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        config = getattr(pl_module, "config", None)
        total = getattr(config, "total_frames", None)
        if self.early_fraction_of_budget and isinstance(total, int) and total > 0:
            self.health.total_steps = total

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        should_log = getattr(pl_module, "should_log", None)
        if should_log is None or not should_log():
            return  # the module logged nothing new this step
        metrics = {
            key: value
            for key, value in trainer.callback_metrics.items()
            if key.startswith("losses/") and value.numel() == 1
        }
        if not metrics:
            return
        step = int(getattr(pl_module, "global_env_frames", trainer.global_step))
        self._new = []
        self.health.update(metrics, step)
        pl_module.log(WARNINGS_KEY, float(len(self.health.active)), on_step=True, on_epoch=False, batch_size=1)
        if self._new and trainer.is_global_zero:
            text = "\n\n".join(self._new)
            for logger in trainer.loggers:
                if isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_text(WARNINGS_KEY, text, step)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero and self.health.updates:
            print(self.health.report())

    def state_dict(self) -> dict:
        return self.health.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        self.health.load_state_dict(state_dict)
