"""A plain-loop logger writing TensorBoard event files through ``torch.utils.tensorboard.SummaryWriter``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rl4py.loggers.base import (
    HistogramValues,
    Logger,
    Scalar,
    check_key,
    check_step,
    check_text,
    to_float,
    to_values,
)

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

__all__ = ["TensorBoardWriter"]


class TensorBoardWriter(Logger):
    """Writes scalars, text and histograms to TensorBoard event files in ``log_dir`` from a plain loop.

    Not Lightning's ``lightning.pytorch.loggers.TensorBoardLogger``: that one is what a
    ``LightningModule`` run configures (the recipes' YAML files); this one is for your own loop.

    View them with ``tensorboard --logdir runs/``; every run in its own folder under ``runs/``
    overlays in one dashboard. :meth:`log_scalars` writes each value as an ordinary scalar
    (``add_scalar``), not with ``SummaryWriter.add_scalars``, which would make one sub-run folder per
    key. The underlying writer is :attr:`writer`, for anything else TensorBoard shows (images,
    graphs, hyper-parameters).

    Args:
        log_dir: the run folder (created if missing).
        flush_secs: how often the writer flushes to disk in the background.
        max_queue: events buffered before a write.
        **writer_kwargs: further ``SummaryWriter`` arguments (``filename_suffix``, ...).
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str],
        flush_secs: int = 120,
        max_queue: int = 10,
        **writer_kwargs: Any,
    ) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:  # tensorboard is a core dependency; a broken install lands here
            raise ImportError("TensorBoardWriter needs the tensorboard package: pip install tensorboard") from error
        self.log_dir = Path(log_dir)
        self.writer: SummaryWriter = SummaryWriter(
            log_dir=str(self.log_dir), flush_secs=flush_secs, max_queue=max_queue, **writer_kwargs
        )
        self._closed = False

    def log_scalar(self, key: str, value: Scalar, step: int) -> None:
        """Writes a scalar (``add_scalar``)."""
        key = self._check(key)
        self.writer.add_scalar(key, to_float("TensorBoardWriter", key, value), check_step("TensorBoardWriter", step))

    def log_scalars(self, values: Mapping[str, Scalar], step: int) -> None:
        """Writes each value as its own scalar."""
        if not isinstance(values, Mapping):
            raise TypeError(f"TensorBoardWriter.log_scalars: values must be a mapping, got {type(values).__name__}")
        step = check_step("TensorBoardWriter", step)
        for key, value in values.items():
            key = self._check(key)
            self.writer.add_scalar(key, to_float("TensorBoardWriter", key, value), step)

    def log_text(self, key: str, text: str, step: int) -> None:
        """Writes text (``add_text``; TensorBoard renders it as markdown)."""
        key = self._check(key)
        self.writer.add_text(key, check_text("TensorBoardWriter", key, text), check_step("TensorBoardWriter", step))

    def log_histogram(self, key: str, values: HistogramValues, step: int) -> None:
        """Writes a histogram of ``values`` (``add_histogram``)."""
        key = self._check(key)
        flat = to_values("TensorBoardWriter", key, values)
        self.writer.add_histogram(key, flat.numpy(), check_step("TensorBoardWriter", step))

    def flush(self) -> None:
        """Writes pending events to disk."""
        if not self._closed:
            self.writer.flush()

    def close(self) -> None:
        """Flushes and closes the event file."""
        if not self._closed:
            self.writer.close()
            self._closed = True

    def _check(self, key: str) -> str:
        key = check_key("TensorBoardWriter", key)
        if self._closed:
            raise RuntimeError(f"TensorBoardWriter: logging {key!r} after close()")
        return key

    def __repr__(self) -> str:
        return f"TensorBoardWriter({str(self.log_dir)!r})"
