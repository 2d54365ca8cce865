"""A quiet single-process CPU Trainer for the LightningModule tests (no logger, bar, checkpoints)."""

from __future__ import annotations

import lightning.pytorch as pl


def quiet_trainer(max_steps: int, callbacks=None, **kwargs) -> pl.Trainer:
    """``pl.Trainer`` on one CPU process that runs ``max_steps`` optimizer steps and writes nothing."""
    return pl.Trainer(
        max_steps=max_steps,
        max_epochs=-1,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
        **kwargs,
    )
