"""A logger writing one JSON object per line (JSON Lines), readable by any tool."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import torch

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

__all__ = ["JSONLinesLogger", "read_json_lines"]


def _json_number(value: float) -> float | str:
    """Strict JSON has no NaN/inf: they are written as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


class JSONLinesLogger(Logger):
    """Writes every logged item as one JSON object on its own line.

    Each line has ``type`` (``"scalar"``, ``"text"`` or ``"histogram"``), ``key``, ``value``,
    ``step`` and ``wall_time`` (seconds since the epoch)::

        {"type": "scalar", "key": "losses/approx_kl", "value": 0.0042, "step": 32768, "wall_time": 1767225600.25}

    A scalar's ``value`` is a number; NaN and infinities, which strict JSON lacks, are the strings
    ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (``float(value)`` reads them back). A text's
    ``value`` is the string. A histogram's ``value`` is a summary: ``count``, ``min``, ``max``,
    ``mean``, ``std`` and ``bins`` equal-width bucket ``edges`` (``bins + 1``) and ``counts``.

    Lines go through the file's buffer; :meth:`flush` writes them out, :meth:`close` closes the
    file (a stream passed in is flushed, not closed).

    Args:
        path: the file to write (parent folders are created), or an open text stream
            (``sys.stdout`` to pipe into another tool).
        append: add to an existing file instead of replacing it (resuming a run).
        bins: buckets of a histogram summary.
        clock: seconds since the epoch for ``wall_time`` (``time.time``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | TextIO,
        append: bool = False,
        bins: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(bins, int) or bins < 1:
            raise ValueError(f"JSONLinesLogger: bins must be a positive int, got {bins!r}")
        self.bins = bins
        self.clock = clock
        self.path: Path | None
        if isinstance(path, (str, os.PathLike)):
            self.path = Path(path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: TextIO = open(self.path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115
            self._owns_file = True
        elif hasattr(path, "write"):
            self.path = None
            self._file = path
            self._owns_file = False
        else:
            raise TypeError(f"JSONLinesLogger: path must be a path or a text stream, got {type(path).__name__}")
        self._closed = False

    def log_scalar(self, key: str, value: Scalar, step: int) -> None:
        """Writes a ``"scalar"`` line."""
        key = check_key("JSONLinesLogger", key)
        self._line("scalar", key, _json_number(to_float("JSONLinesLogger", key, value)), step)

    def log_text(self, key: str, text: str, step: int) -> None:
        """Writes a ``"text"`` line."""
        key = check_key("JSONLinesLogger", key)
        self._line("text", key, check_text("JSONLinesLogger", key, text), step)

    def log_histogram(self, key: str, values: HistogramValues, step: int) -> None:
        """Writes a ``"histogram"`` line with a summary of ``values``."""
        key = check_key("JSONLinesLogger", key)
        flat = to_values("JSONLinesLogger", key, values)
        low, high = float(flat.min()), float(flat.max())
        # computed on values scaled into [-1, 1]: sums and ranges of huge finite values stay finite
        scale = max(abs(low), abs(high)) or 1.0
        scaled = flat.double() / scale
        if high > low:
            counts = [int(c) for c in torch.histc(scaled, bins=self.bins, min=low / scale, max=high / scale).tolist()]
        else:  # every value equal: all in the first bucket
            counts = [flat.numel()] + [0] * (self.bins - 1)
        summary = {
            "count": flat.numel(),
            "min": low,
            "max": high,
            "mean": float(scaled.mean()) * scale,
            "std": float(scaled.std(unbiased=False)) * scale,
            "edges": torch.linspace(low, high, self.bins + 1, dtype=torch.float64).tolist(),
            "counts": counts,
        }
        self._line("histogram", key, summary, step)

    def flush(self) -> None:
        """Writes buffered lines out to the file."""
        if not self._closed:
            self._file.flush()

    def close(self) -> None:
        """Flushes and closes the file (a stream passed in is left open)."""
        if self._closed:
            return
        self._file.flush()
        if self._owns_file:
            self._file.close()
        self._closed = True

    def _line(self, kind: str, key: str, value: Any, step: int) -> None:
        if self._closed:
            raise RuntimeError(f"JSONLinesLogger: logging {key!r} after close()")
        record = {"type": kind, "key": key, "value": value, "step": check_step("JSONLinesLogger", step)}
        record["wall_time"] = self.clock()
        self._file.write(json.dumps(record, allow_nan=False) + "\n")

    def __repr__(self) -> str:
        return f"JSONLinesLogger({str(self.path) if self.path is not None else self._file!r})"


def read_json_lines(path: str | os.PathLike[str], type: str | None = None, key: str | None = None) -> list[dict]:
    """Reads a :class:`JSONLinesLogger` file back, optionally only the lines of one type and key.

    Args:
        path: the file.
        type: keep only lines of this ``type`` (``"scalar"``, ``"text"``, ``"histogram"``).
        key: keep only lines with this ``key``.

    Returns:
        One dict per kept line, in file order; scalar values are floats (``"NaN"`` etc. converted).
    """
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"read_json_lines: {path}:{number} is not valid JSON: {error}") from error
            if (type is None or record.get("type") == type) and (key is None or record.get("key") == key):
                if record.get("type") == "scalar":
                    record["value"] = float(record["value"])
                records.append(record)
    return records
