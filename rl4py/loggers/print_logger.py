"""A logger that writes compact, throttled lines to a text stream (the console by default)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import TextIO

from rl4py.loggers.base import (
    HistogramValues,
    Logger,
    Scalar,
    check_key,
    check_step,
    check_text,
    format_number,
    to_float,
    to_values,
)

__all__ = ["PrintLogger"]


class PrintLogger(Logger):
    """Writes one line per logged step, at most once every ``every_seconds``.

    Values are collected per step. When a call arrives for a new step, the previous step is
    complete; its line is written if ``every_seconds`` have passed since the last line, otherwise
    its values stay pending and later values of the same keys replace them (the next line shows the
    latest value of every key logged since the last line, under the latest step)::

        [step 32768] charts/SPS=5120 charts/episodic_return=187.5 losses/approx_kl=0.004213

    :meth:`flush` (and :meth:`close`) write the pending line at once, whatever the clock says:
    call one of them after training, or the last step's values stay unwritten. Histograms appear
    as ``key=[min, mean, max]``. Text is written on its own line as soon as it is logged.

    Args:
        every_seconds: the least time between two lines; ``0`` writes every completed step.
        stream: where lines go; ``None`` means ``sys.stdout`` at the time of each write.
        clock: seconds as a float (``time.monotonic``); tests pass a fake one.
    """

    def __init__(
        self,
        every_seconds: float = 5.0,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(every_seconds, (int, float)) or every_seconds < 0:
            raise ValueError(f"PrintLogger: every_seconds must be a number >= 0, got {every_seconds!r}")
        self.every_seconds = float(every_seconds)
        self.stream = stream
        self.clock = clock
        self._pending: dict[str, str] = {}
        self._pending_step: int | None = None
        self._last_line: float | None = None

    # ---------------------------------------------------------------- logging
    def log_scalar(self, key: str, value: Scalar, step: int) -> None:
        """Records a scalar for the line of ``step``."""
        key = check_key("PrintLogger", key)
        self._add(key, format_number(to_float("PrintLogger", key, value)), step)

    def log_scalars(self, values: Mapping[str, Scalar], step: int) -> None:
        """Records several scalars for the line of ``step``."""
        if not isinstance(values, Mapping):
            raise TypeError(f"PrintLogger.log_scalars: values must be a mapping, got {type(values).__name__}")
        for key, value in values.items():
            self.log_scalar(key, value, step)

    def log_text(self, key: str, text: str, step: int) -> None:
        """Writes ``[step N] key: text`` at once (not throttled)."""
        key = check_key("PrintLogger", key)
        step = check_step("PrintLogger", step)
        self._write(f"[step {step}] {key}: {check_text('PrintLogger', key, text)}")

    def log_histogram(self, key: str, values: HistogramValues, step: int) -> None:
        """Records ``key=[min, mean, max]`` of ``values`` for the line of ``step``."""
        key = check_key("PrintLogger", key)
        flat = to_values("PrintLogger", key, values)
        summary = ", ".join(format_number(float(v)) for v in (flat.min(), flat.mean(), flat.max()))
        self._add(key, f"[{summary}]", step)

    def flush(self) -> None:
        """Writes the pending line now, whatever the throttle."""
        self._emit()
        stream = self._stream()
        if hasattr(stream, "flush"):
            stream.flush()

    # ---------------------------------------------------------------- helpers
    def _stream(self) -> TextIO:
        return sys.stdout if self.stream is None else self.stream

    def _write(self, line: str) -> None:
        self._stream().write(line + "\n")

    def _add(self, key: str, rendered: str, step: int) -> None:
        step = check_step("PrintLogger", step)
        if self._pending and step != self._pending_step:
            now = self.clock()
            if self._last_line is None or now - self._last_line >= self.every_seconds:
                self._emit(now)
        self._pending[key] = rendered
        self._pending_step = step

    def _emit(self, now: float | None = None) -> None:
        if not self._pending:
            return
        fields = " ".join(f"{key}={value}" for key, value in self._pending.items())
        self._write(f"[step {self._pending_step}] {fields}")
        self._pending.clear()
        self._last_line = self.clock() if now is None else now

    def __repr__(self) -> str:
        return f"PrintLogger(every_seconds={self.every_seconds})"
