"""The logger interface, the loggers that need no backend, and :func:`log_stats`.

A logger receives scalars, text and histograms keyed by a ``/``-separated name (TensorBoard groups
``"losses/approx_kl"`` under ``losses``) at an integer ``step``, usually the number of env frames
seen so far.
"""

from __future__ import annotations

import math
import numbers
import operator
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Union

import numpy as np
import torch
from tensordict import TensorDictBase

__all__ = ["CompositeLogger", "Logger", "NoopLogger", "Scalar", "log_stats"]

#: a value :meth:`Logger.log_scalar` accepts: a Python or numpy number, or a one-element tensor
Scalar = Union[float, int, bool, np.number, torch.Tensor]
#: values :meth:`Logger.log_histogram` accepts: a tensor, an array or a sequence of numbers
HistogramValues = Union[torch.Tensor, np.ndarray, Sequence[float]]


def check_key(owner: str, key: object) -> str:
    """Returns ``key`` if it is a non-empty string, else raises ``TypeError``/``ValueError`` naming ``owner``."""
    if not isinstance(key, str):
        raise TypeError(f"{owner}: key must be a str, got {type(key).__name__} {key!r}")
    if not key:
        raise ValueError(f"{owner}: key must be a non-empty str")
    return key


def check_step(owner: str, step: object) -> int:
    """Returns ``step`` as an int if it is a non-negative integer (Python, numpy or one-element tensor)."""
    if isinstance(step, torch.Tensor):
        if step.numel() != 1 or step.is_floating_point() or step.dtype == torch.bool:
            raise TypeError(f"{owner}: step must be an integer, got a {step.dtype} tensor of shape {tuple(step.shape)}")
        step = int(step.item())
    if isinstance(step, bool):
        raise TypeError(f"{owner}: step must be an integer, got bool {step!r}")
    try:
        value = operator.index(step)  # int, numpy integers; rejects floats
    except TypeError:
        raise TypeError(f"{owner}: step must be an integer, got {type(step).__name__} {step!r}") from None
    if value < 0:
        raise ValueError(f"{owner}: step must be >= 0, got {value}")
    return value


def to_float(owner: str, key: str, value: object) -> float:
    """Converts a scalar (number or one-element tensor/array) to a float; NaN and inf pass through.

    Raises:
        ValueError: ``value`` is a tensor or array with more than one element.
        TypeError: ``value`` is not a number.
    """
    if isinstance(value, (torch.Tensor, np.ndarray)):
        size = value.numel() if isinstance(value, torch.Tensor) else value.size
        if size != 1:
            raise ValueError(
                f"{owner}: {key!r} must be a scalar, got shape {tuple(value.shape)}; reduce it first (mean, sum, ...) "
                "or log it with log_histogram"
            )
        return float(value.item())
    if isinstance(value, numbers.Real):  # int, float, bool, numpy scalars
        return float(value)
    raise TypeError(f"{owner}: {key!r} must be a number or a one-element tensor, got {type(value).__name__}")


def to_values(owner: str, key: str, values: object) -> torch.Tensor:
    """Flattens histogram input into a finite, non-empty float64 CPU tensor."""
    if isinstance(values, torch.Tensor):
        flat = values.detach().reshape(-1).to("cpu", torch.float64)
    else:
        try:
            flat = torch.as_tensor(np.asarray(values, dtype=np.float64)).reshape(-1)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{owner}: histogram {key!r} needs a tensor, array or sequence of numbers, got {type(values).__name__}"
            ) from error
    if flat.numel() == 0:
        raise ValueError(f"{owner}: histogram {key!r} got no values")
    if not bool(torch.isfinite(flat).all()):
        bad = int((~torch.isfinite(flat)).sum())
        raise ValueError(f"{owner}: histogram {key!r} holds {bad} non-finite value(s) (NaN or inf); expected finite")
    return flat


def check_text(owner: str, key: str, text: object) -> str:
    """Returns ``text`` if it is a str, else raises ``TypeError``."""
    if not isinstance(text, str):
        raise TypeError(f"{owner}: text {key!r} must be a str, got {type(text).__name__}")
    return text


class Logger(ABC):
    """Interface of every rl4py logger.

    Subclasses implement :meth:`log_scalar`, :meth:`log_text` and :meth:`log_histogram`;
    :meth:`log_scalars` logs a mapping through :meth:`log_scalar`, :meth:`flush` does nothing and
    :meth:`close` flushes unless overridden. A logger is a context manager that closes on exit.

    Keys are ``/``-separated names (``"charts/episodic_return"``, ``"losses/approx_kl"``); ``step``
    is a non-negative int, usually the number of env frames seen.
    """

    @abstractmethod
    def log_scalar(self, key: str, value: Scalar, step: int) -> None:
        """Logs one scalar.

        Args:
            key: the metric name.
            value: a number or a one-element tensor (read with one ``.item()``).
            step: the x-axis value.
        """

    def log_scalars(self, values: Mapping[str, Scalar], step: int) -> None:
        """Logs several scalars at one step (each under its own key, as :meth:`log_scalar`).

        Args:
            values: metric name to value.
            step: the x-axis value shared by all of them.
        """
        if not isinstance(values, Mapping):
            raise TypeError(f"{type(self).__name__}.log_scalars: values must be a mapping, got {type(values).__name__}")
        for key, value in values.items():
            self.log_scalar(key, value, step)

    @abstractmethod
    def log_text(self, key: str, text: str, step: int) -> None:
        """Logs a piece of text (a config, a note).

        Args:
            key: the name.
            text: the text.
            step: the x-axis value.
        """

    @abstractmethod
    def log_histogram(self, key: str, values: HistogramValues, step: int) -> None:
        """Logs the distribution of ``values`` (flattened).

        Args:
            key: the name.
            values: a tensor, array or sequence of finite numbers.
            step: the x-axis value.
        """

    def flush(self) -> None:  # noqa: B027 - optional hook, a no-op for unbuffered loggers
        """Writes out anything buffered."""

    def close(self) -> None:
        """Flushes and releases the logger's resources (files, writers)."""
        self.flush()

    def __enter__(self) -> Logger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class NoopLogger(Logger):
    """Discards everything: the default when a caller does not log."""

    def log_scalar(self, key: str, value: Scalar, step: int) -> None:
        """Discards the scalar."""

    def log_scalars(self, values: Mapping[str, Scalar], step: int) -> None:
        """Discards the scalars."""

    def log_text(self, key: str, text: str, step: int) -> None:
        """Discards the text."""

    def log_histogram(self, key: str, values: HistogramValues, step: int) -> None:
        """Discards the values."""


class CompositeLogger(Logger):
    """Sends every call to several loggers (for example a :class:`PrintLogger` and a :class:`TensorBoardWriter`).

    Tensor values are read once (one ``.item()`` or device copy) and the Python values fanned out.

    Args:
        loggers: the loggers, called in order.
    """

    def __init__(self, loggers: Sequence[Logger]) -> None:
        if isinstance(loggers, Logger) or not isinstance(loggers, Sequence):
            raise TypeError(f"CompositeLogger: loggers must be a sequence of Logger, got {type(loggers).__name__}")
        for i, logger in enumerate(loggers):
            if not isinstance(logger, Logger):
                raise TypeError(
                    f"CompositeLogger: loggers[{i}] is a {type(logger).__name__}, expected an rl4py.loggers.Logger"
                )
        self.loggers: list[Logger] = list(loggers)

    def log_scalar(self, key: str, value: Scalar, step: int) -> None:
        """Logs the scalar to every logger."""
        value = to_float("CompositeLogger", check_key("CompositeLogger", key), value)
        for logger in self.loggers:
            logger.log_scalar(key, value, step)

    def log_scalars(self, values: Mapping[str, Scalar], step: int) -> None:
        """Logs the scalars to every logger."""
        if not isinstance(values, Mapping):
            raise TypeError(f"CompositeLogger.log_scalars: values must be a mapping, got {type(values).__name__}")
        floats = {check_key("CompositeLogger", k): to_float("CompositeLogger", k, v) for k, v in values.items()}
        for logger in self.loggers:
            logger.log_scalars(floats, step)

    def log_text(self, key: str, text: str, step: int) -> None:
        """Logs the text to every logger."""
        for logger in self.loggers:
            logger.log_text(key, text, step)

    def log_histogram(self, key: str, values: HistogramValues, step: int) -> None:
        """Logs the histogram to every logger (the values copied to the CPU once)."""
        flat = to_values("CompositeLogger", check_key("CompositeLogger", key), values)
        for logger in self.loggers:
            logger.log_histogram(key, flat, step)

    def flush(self) -> None:
        """Flushes every logger."""
        for logger in self.loggers:
            logger.flush()

    def close(self) -> None:
        """Closes every logger (all of them, even if one raises; the first error is re-raised)."""
        error: BaseException | None = None
        for logger in self.loggers:
            try:
                logger.close()
            except Exception as e:  # noqa: BLE001 - close the others, then re-raise
                error = error or e
        if error is not None:
            raise error


def _field_name(key: str | tuple[str, ...]) -> str:
    return key if isinstance(key, str) else "/".join(key)


def log_stats(
    logger: Logger,
    prefix: str,
    stats: TensorDictBase | Mapping[str, Scalar],
    step: int,
    names: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """Logs every field of a stats object (a loss or update output) in one call.

    ``stats`` is typically the ``TensorDict`` of scalar tensors a :class:`~rl4py.losses.LossModule`
    or :func:`~rl4py.trainers.minibatch_update` returns (``loss_objective``, ``approx_kl``, ...).
    Every field is logged as ``f"{prefix}/{name}"``; nested TensorDict keys join with ``/``.
    The tensors are read with a single device-to-host copy, not one ``.item()`` per field.

    Args:
        logger: where to log.
        prefix: the group, for example ``"losses"`` (CleanRL's name for PPO's diagnostics);
            ``""`` logs the bare field names.
        stats: a ``TensorDict`` or a mapping of field name to scalar (number or one-element tensor).
        step: the x-axis value.
        names: optional renames of fields before the prefix is added, for example
            ``{"clip_fraction": "clipfrac"}``; fields not named keep their name.

    Returns:
        The logged values by full key.

    Raises:
        ValueError: a field holds more than one element (its key and shape are named).
        TypeError: ``stats`` is neither a TensorDict nor a mapping, or a field is not a number.
    """
    if not isinstance(prefix, str):
        raise TypeError(f"log_stats: prefix must be a str, got {type(prefix).__name__}")
    if isinstance(stats, TensorDictBase):
        items = [(_field_name(k), v) for k, v in stats.items(include_nested=True, leaves_only=True)]
    elif isinstance(stats, Mapping):
        items = list(stats.items())
    else:
        raise TypeError(f"log_stats: stats must be a TensorDict or a mapping, got {type(stats).__name__}")
    names = names or {}
    full_keys: list[str] = []
    tensors: list[torch.Tensor] = []
    values: list[float | None] = []
    for name, value in items:
        name = check_key("log_stats", name)
        key = f"{prefix}/{names.get(name, name)}" if prefix else names.get(name, name)
        full_keys.append(key)
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(
                    f"log_stats: field {name!r} has shape {tuple(value.shape)}; every field must be a scalar "
                    "(reduce it first or log it with log_histogram)"
                )
            tensors.append(value.detach().reshape(1).to(torch.float64))
            values.append(None)
        else:
            values.append(to_float("log_stats", name, value))
    if tensors:  # one copy to the host for all tensor fields
        host = iter(torch.cat([t.to(tensors[0].device) for t in tensors]).tolist())
        values = [next(host) if v is None else v for v in values]
    logged = {key: float(v) for key, v in zip(full_keys, values)}  # type: ignore[arg-type]
    if len(logged) != len(full_keys):
        raise ValueError(f"log_stats: two fields map to the same key; keys were {full_keys}")
    logger.log_scalars(logged, step)
    return logged


def format_number(value: float) -> str:
    """Formats a scalar compactly: integers without a point, others with 4 significant digits."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"
