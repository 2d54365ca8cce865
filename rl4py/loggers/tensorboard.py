"""A plain-loop adapter over Lightning's ``lightning.fabric.loggers.TensorBoardLogger``."""

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
    from lightning.fabric.loggers import TensorBoardLogger
    from torch.utils.tensorboard import SummaryWriter

__all__ = ["TensorBoardWriter"]


class TensorBoardWriter(Logger):
    """Writes scalars, text and histograms to TensorBoard event files in ``log_dir`` from a plain loop.

    An rl4py :class:`Logger` over Lightning's ``lightning.fabric.loggers.TensorBoardLogger``
    (:attr:`tensorboard`): scalars go through its ``log_metrics`` (one ``add_scalar`` each, so no
    sub-run folders), text and histograms through its ``SummaryWriter`` (:attr:`writer`), which
    Lightning's logger does not wrap. The events land in ``log_dir`` itself (no
    ``lightning_logs/version_N`` folders); like every Lightning logger it writes on rank 0 only.
    View them with ``tensorboard --logdir runs/``.

    Args:
        log_dir: the run folder (created on the first write).
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
        from lightning.fabric.loggers import TensorBoardLogger  # lazily: importing Lightning takes seconds

        self.log_dir = Path(log_dir)
        # name="" and version="": log_dir is the run folder, as the caller gave it
        self.tensorboard: TensorBoardLogger = TensorBoardLogger(
            self.log_dir, name="", version="", flush_secs=flush_secs, max_queue=max_queue, **writer_kwargs
        )
        self._closed = False

    @property
    def writer(self) -> SummaryWriter:
        """The underlying ``SummaryWriter``, for anything else TensorBoard shows (images, graphs)."""
        return self.tensorboard.experiment

    def log_scalar(self, key: str, value: Scalar, step: int) -> None:
        """Writes a scalar."""
        self.log_scalars({key: value}, step)

    def log_scalars(self, values: Mapping[str, Scalar], step: int) -> None:
        """Writes each value as its own scalar."""
        if not isinstance(values, Mapping):
            raise TypeError(f"TensorBoardWriter.log_scalars: values must be a mapping, got {type(values).__name__}")
        floats = {self._check(key): to_float("TensorBoardWriter", key, value) for key, value in values.items()}
        self.tensorboard.log_metrics(floats, step=check_step("TensorBoardWriter", step))

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
            self.tensorboard.save()

    def close(self) -> None:
        """Flushes and closes the event file."""
        if not self._closed:
            self.tensorboard.finalize("success")
            self._closed = True

    def _check(self, key: str) -> str:
        key = check_key("TensorBoardWriter", key)
        if self._closed:
            raise RuntimeError(f"TensorBoardWriter: logging {key!r} after close()")
        return key

    def __repr__(self) -> str:
        return f"TensorBoardWriter({str(self.log_dir)!r})"
