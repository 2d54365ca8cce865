"""Learning curves from a run's logs: read TensorBoard event files and rl4py's JSON Lines logs,
average several runs (seeds) on a common x grid, and draw each group's mean and band.

    rl4py plot runs/ppo/seed0 runs/ppo/seed1 runs/a2c/seed0 --metric charts/episodic_return --out curves.png

The reading and the averaging need only numpy and tensorboard (core dependencies); drawing needs
matplotlib, the ``plot`` extra (``pip install 'rl4py[plot]'``).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rl4py.loggers.names import ENV_STEPS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "ENV_STEPS_KEY",
    "CurveStats",
    "aggregate",
    "find_log_files",
    "group_runs",
    "load_scalars",
    "main",
    "plot_runs",
    "smooth",
]

#: the scalar a LightningModule logs with the env steps of each training step (its x-axis is the
#: trainer's step); :func:`load_scalars` maps steps onto it when a run has it
ENV_STEPS_KEY = ENV_STEPS
X_AXES = ("env_steps", "wall_time")
BANDS = ("minmax", "std", "none")
_EVENT_PREFIX = "events.out.tfevents."


def _require_matplotlib(owner: str):
    """The ``matplotlib.figure`` module, or an ``ImportError`` naming the ``plot`` extra."""
    try:
        from matplotlib import figure
    except ImportError as error:
        raise ImportError(
            f"{owner} needs matplotlib, which is not installed: pip install 'rl4py[plot]' (or pip install matplotlib)"
        ) from error
    return figure


# ------------------------------------------------------------------------------------------ reading
def find_log_files(path: str | os.PathLike[str]) -> list[Path]:
    """The log files of a run: ``path`` itself if it is a file, else every TensorBoard event file
    (``events.out.tfevents.*``) and JSON Lines file (``*.jsonl``) under the folder, recursively, sorted.

    Raises:
        FileNotFoundError: ``path`` does not exist, or the folder holds no log file.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"load_scalars: {path} does not exist (expected a run folder or a log file)")
    files = sorted(p for p in path.rglob("*") if p.is_file() and (_is_event_file(p) or p.suffix == ".jsonl"))
    if not files:
        raise FileNotFoundError(
            f"load_scalars: no log file under {path} (expected TensorBoard event files 'events.out.tfevents.*' "
            "or rl4py JSON Lines files '*.jsonl')"
        )
    return files


def _is_event_file(path: Path) -> bool:
    return path.name.startswith(_EVENT_PREFIX)


@dataclass
class _Series:
    steps: np.ndarray  # int64 [N]
    values: np.ndarray  # float64 [N]
    wall_times: np.ndarray  # float64 [N], seconds since the epoch


def _read_event_file(path: Path) -> tuple[dict[str, _Series], float]:
    """Every scalar series of one event file and the file's first timestamp."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    accumulator = EventAccumulator(str(path), size_guidance={SCALARS: 0})  # 0: keep every point
    accumulator.Reload()
    series = {}
    for tag in accumulator.Tags()[SCALARS]:
        events = accumulator.Scalars(tag)
        series[tag] = _Series(
            np.array([e.step for e in events], dtype=np.int64),
            np.array([e.value for e in events], dtype=np.float64),
            np.array([e.wall_time for e in events], dtype=np.float64),
        )
    try:
        first = float(accumulator.FirstEventTimestamp())
    except ValueError:  # no event at all
        first = math.inf
    return series, first


def _read_jsonl_file(path: Path) -> tuple[dict[str, _Series], float]:
    """Every scalar series of one :class:`~rl4py.loggers.JSONLinesLogger` file and its first wall time."""
    from rl4py.loggers.jsonl import read_json_lines

    columns: dict[str, tuple[list[int], list[float], list[float]]] = {}
    first = math.inf
    for record in read_json_lines(path):
        if "wall_time" in record:
            first = min(first, float(record["wall_time"]))
        if record.get("type") != "scalar" or "key" not in record:
            continue
        steps, values, times = columns.setdefault(record["key"], ([], [], []))
        steps.append(int(record["step"]))
        values.append(float(record["value"]))
        times.append(float(record.get("wall_time", math.nan)))
    series = {
        key: _Series(np.array(s, dtype=np.int64), np.array(v, dtype=np.float64), np.array(t, dtype=np.float64))
        for key, (s, v, t) in columns.items()
    }
    return series, first


def _merge(parts: list[_Series]) -> _Series:
    """One series from several files' (a resumed run): sorted by step; at a repeated step the value
    written last (latest wall time) wins."""
    steps = np.concatenate([p.steps for p in parts])
    values = np.concatenate([p.values for p in parts])
    times = np.concatenate([p.wall_times for p in parts])
    order = np.lexsort((times, steps))  # by step, then by wall time
    steps, values, times = steps[order], values[order], times[order]
    last = np.append(steps[1:] != steps[:-1], True)  # the last entry of each step
    return _Series(steps[last], values[last], times[last])


def load_scalars(path: str | os.PathLike[str], metric: str, x: str = "env_steps") -> tuple[np.ndarray, np.ndarray]:
    """One run's scalar ``metric`` as ``(xs, values)``, sorted by x.

    ``path`` is a log file or a run folder; every event file and ``*.jsonl`` file under a folder
    belongs to the run (a resumed run's files are merged; at a step logged twice the later value wins).

    Args:
        path: an event file, a JSON Lines file (:class:`~rl4py.loggers.JSONLinesLogger`'s format), or a folder.
        metric: the scalar's key, e.g. ``"charts/episodic_return"``.
        x: ``"env_steps"``: the logged step. rl4py's plain loops log env frames as the step; a
            LightningModule logs the trainer's step and the env frames as ``"charts/env_steps"``,
            so when the run holds that scalar the steps are mapped onto it (linear interpolation
            between logged points). ``"wall_time"``: seconds since the run's first logged event.

    Returns:
        ``xs`` float64 ``[N]`` and ``values`` float64 ``[N]`` (NaN values are kept).

    Raises:
        FileNotFoundError: no log file at ``path``.
        KeyError: no file holds ``metric`` (the message lists the scalars found).
        ValueError: ``x`` is not one of ``"env_steps"``, ``"wall_time"``.

    Examples:
        >>> import tempfile
        >>> from rl4py.loggers import JSONLinesLogger
        >>> folder = tempfile.mkdtemp()
        >>> with JSONLinesLogger(f"{folder}/log.jsonl") as logger:
        ...     for step, ret in [(1000, 20.0), (2000, 35.0)]:
        ...         logger.log_scalar("charts/episodic_return", ret, step)
        >>> load_scalars(folder, "charts/episodic_return")
        (array([1000., 2000.]), array([20., 35.]))
    """
    if x not in X_AXES:
        raise ValueError(f"load_scalars: x must be one of {X_AXES}, got {x!r}")
    found: dict[str, list[_Series]] = {}
    first = math.inf
    for file in find_log_files(path):
        series, start = _read_event_file(file) if _is_event_file(file) else _read_jsonl_file(file)
        first = min(first, start)
        for key, s in series.items():
            found.setdefault(key, []).append(s)
    if metric not in found:
        names = ", ".join(sorted(found)) or "none"
        raise KeyError(f"load_scalars: no scalar {metric!r} in {path}; the scalars found are: {names}")
    series = _merge(found[metric])
    if x == "wall_time":
        if not math.isfinite(first):
            first = float(np.nanmin(series.wall_times))
        xs = series.wall_times - first
        order = np.argsort(xs, kind="stable")
        return xs[order], series.values[order]
    xs = series.steps.astype(np.float64)
    if metric != ENV_STEPS_KEY and ENV_STEPS_KEY in found:  # a Lightning run: trainer steps -> env steps
        frames = _merge(found[ENV_STEPS_KEY])
        xs = np.interp(xs, frames.steps.astype(np.float64), frames.values)
    return xs, series.values


# --------------------------------------------------------------------------------------- averaging
def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average: point ``i`` is the mean of points ``max(0, i - window + 1) .. i``
    (fewer at the start). ``window=1`` returns the values unchanged.

    Args:
        values: ``[N]``.
        window: points in the average (>= 1).

    Examples:
        >>> smooth(np.array([0.0, 2.0, 4.0, 6.0]), 2)
        array([0., 1., 3., 5.])
    """
    if not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"smooth: window must be an int >= 1, got {window!r}")
    values = np.asarray(values, dtype=np.float64)
    if window == 1 or values.size == 0:
        return values.copy()
    sums = np.cumsum(np.insert(values, 0, 0.0))
    index = np.arange(1, values.size + 1)
    lower = np.maximum(index - window, 0)
    return (sums[index] - sums[lower]) / (index - lower)


@dataclass
class CurveStats:
    """Several runs of one group on a common x grid.

    Attributes:
        x: the grid ``[P]``: ``P`` evenly spaced points over the x range every run covers.
        mean: the mean over runs at each grid point ``[P]``.
        low, high: the band ``[P]``: min and max over runs (``band="minmax"``), mean -/+ the
            standard deviation over runs (``"std"``, population std), or the mean (``"none"``).
        runs: each run interpolated onto the grid ``[R, P]``.
        labels: the runs' paths or names, in row order.
    """

    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    runs: np.ndarray
    labels: list[str]


def aggregate(
    curves: Sequence[tuple[np.ndarray, np.ndarray]],
    num_points: int = 200,
    band: str = "minmax",
    labels: Sequence[str] | None = None,
) -> CurveStats:
    """Interpolates runs onto a common grid and takes their mean and band.

    The grid spans the x range all runs cover (the latest start to the earliest end), so no run is
    extrapolated; each run is linearly interpolated (``np.interp``) onto it. NaN values are
    dropped from a run before interpolating.

    Args:
        curves: ``(xs, values)`` per run, each ``[N_r]`` with ``xs`` non-decreasing.
        num_points: grid points ``P`` (>= 2; one when the runs share a single x).
        band: ``"minmax"``, ``"std"`` or ``"none"``.
        labels: names of the runs (default ``"run 0"``, ...).

    Raises:
        ValueError: no runs, a run without finite values, runs whose x ranges do not overlap, or a
            bad ``num_points`` / ``band``.
    """
    if band not in BANDS:
        raise ValueError(f"aggregate: band must be one of {BANDS}, got {band!r}")
    if not isinstance(num_points, (int, np.integer)) or num_points < 2:
        raise ValueError(f"aggregate: num_points must be an int >= 2, got {num_points!r}")
    if not curves:
        raise ValueError("aggregate: no runs given")
    labels = list(labels) if labels is not None else [f"run {i}" for i in range(len(curves))]
    if len(labels) != len(curves):
        raise ValueError(f"aggregate: {len(labels)} labels for {len(curves)} runs")
    cleaned = []
    for (xs, values), label in zip(curves, labels):
        xs, values = np.asarray(xs, dtype=np.float64), np.asarray(values, dtype=np.float64)
        if xs.shape != values.shape or xs.ndim != 1:
            raise ValueError(f"aggregate: {label}: xs {xs.shape} and values {values.shape} must be equal 1-d shapes")
        keep = np.isfinite(values) & np.isfinite(xs)
        if not keep.any():
            raise ValueError(f"aggregate: {label} has no finite value to plot")
        xs, values = xs[keep], values[keep]
        if np.any(np.diff(xs) < 0):
            raise ValueError(f"aggregate: {label}: xs must be sorted (non-decreasing)")
        cleaned.append((xs, values))
    start = max(xs[0] for xs, _ in cleaned)
    end = min(xs[-1] for xs, _ in cleaned)
    if start > end:
        spans = ", ".join(f"{label}: [{xs[0]:g}, {xs[-1]:g}]" for (xs, _), label in zip(cleaned, labels))
        raise ValueError(f"aggregate: the runs' x ranges do not overlap ({spans}); nothing common to average")
    grid = np.linspace(start, end, num_points) if end > start else np.array([start])
    runs = np.stack([np.interp(grid, xs, values) for xs, values in cleaned])
    mean = runs.mean(axis=0)
    if band == "minmax":
        low, high = runs.min(axis=0), runs.max(axis=0)
    elif band == "std":
        std = runs.std(axis=0)
        low, high = mean - std, mean + std
    else:
        low, high = mean.copy(), mean.copy()
    return CurveStats(grid, mean, low, high, runs, labels)


def group_runs(
    paths: Sequence[str | os.PathLike[str]],
    labels: Sequence[str] | None = None,
    group_by: str = "parent",
) -> dict[str, list[Path]]:
    """Groups runs for the legend, in first-seen order.

    Args:
        paths: the runs.
        labels: one label per run; runs with the same label form one group (overrides ``group_by``).
        group_by: ``"parent"``: runs in the same folder (``runs/ppo/seed0``, ``runs/ppo/seed1`` ->
            ``ppo``); ``"run"``: each run on its own, named by its path as given.

    Raises:
        ValueError: the number of labels differs from the number of runs, or a bad ``group_by``.
    """
    if group_by not in ("parent", "run"):
        raise ValueError(f"group_runs: group_by must be 'parent' or 'run', got {group_by!r}")
    paths = [Path(p) for p in paths]
    if labels is not None and len(labels) != len(paths):
        raise ValueError(f"group_runs: {len(labels)} labels for {len(paths)} runs; give one label per run")
    groups: dict[str, list[Path]] = {}
    for i, path in enumerate(paths):
        if labels is not None:
            name = labels[i]
        elif group_by == "parent":
            parent = path.resolve().parent
            name = parent.name or str(parent)
        else:
            name = str(path)
        groups.setdefault(name, []).append(path)
    return groups


# ----------------------------------------------------------------------------------------- drawing
def plot_runs(
    runs: Sequence[str | os.PathLike[str]],
    metric: str,
    out: str | os.PathLike[str] | None = None,
    *,
    x: str = "env_steps",
    smooth_window: int = 1,
    labels: Sequence[str] | None = None,
    group_by: str = "parent",
    band: str = "minmax",
    num_points: int = 200,
    title: str | None = None,
    ax: Axes | None = None,
    dpi: int = 100,
) -> dict[str, CurveStats]:
    """Draws one curve per group of runs: the mean over its runs and a shaded band.

    Each run is read with :func:`load_scalars`, smoothed (:func:`smooth`), and the runs of a group
    are averaged on a common grid (:func:`aggregate`). A group of one run draws that run.

    Args:
        runs: run folders or log files.
        metric: the scalar to draw.
        out: the image file (``.png``, ``.svg`` or ``.pdf``); ``None`` draws only (into ``ax``).
        x: ``"env_steps"`` or ``"wall_time"`` (see :func:`load_scalars`).
        smooth_window: points in each run's trailing moving average (1: raw).
        labels, group_by: the groups (see :func:`group_runs`).
        band: ``"minmax"``, ``"std"`` (mean +- std) or ``"none"``.
        num_points: grid points of each group's curve.
        title: the figure title (default: the metric).
        ax: draw into these axes instead of a new figure.
        dpi: resolution of a PNG.

    Returns:
        The :class:`CurveStats` of each group, by group name.

    Raises:
        ImportError: matplotlib is not installed (the ``plot`` extra).
        ValueError: ``out`` has another suffix; see also :func:`load_scalars` and :func:`aggregate`.
    """
    figure_module = _require_matplotlib("plot_runs")
    if out is not None and Path(out).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ValueError(f"plot_runs: out must end in .png, .svg or .pdf, got {str(out)!r}")
    if not runs:
        raise ValueError("plot_runs: no runs given")
    stats: dict[str, CurveStats] = {}
    for name, paths in group_runs(runs, labels, group_by).items():
        curves = []
        for path in paths:
            xs, values = load_scalars(path, metric, x=x)
            curves.append((xs, smooth(values, smooth_window)))
        stats[name] = aggregate(curves, num_points=num_points, band=band, labels=[str(p) for p in paths])

    figure = None
    if ax is None:
        figure = figure_module.Figure(figsize=(7, 4.2), layout="constrained")
        ax = figure.add_subplot()
    for name, curve in stats.items():
        count = len(curve.labels)
        (line,) = ax.plot(curve.x, curve.mean, label=f"{name} ({count} run{'s' if count > 1 else ''})", lw=1.6)
        if band != "none" and count > 1:
            ax.fill_between(curve.x, curve.low, curve.high, color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel("env steps" if x == "env_steps" else "wall time (s)")
    ax.set_ylabel(metric)
    band_note = {"minmax": "band: min-max over runs", "std": "band: mean +- std over runs", "none": ""}[band]
    smooth_note = f"moving average of {smooth_window}" if smooth_window > 1 else ""
    note = "; ".join(n for n in (band_note, smooth_note) if n)
    ax.set_title(title if title is not None else metric + (f"\n({note})" if note else ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if out is not None and figure is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out, dpi=dpi, metadata=_metadata(out))
    elif out is not None:
        ax.figure.savefig(out, dpi=dpi, metadata=_metadata(out))
    return stats


def _metadata(out: str | os.PathLike[str]) -> dict:
    """No creation date in an SVG: the same logs give the same file."""
    return {"Date": None} if Path(out).suffix.lower() == ".svg" else {}


# -------------------------------------------------------------------------------------------- CLI
def main(args: Sequence[str] | None = None) -> dict[str, CurveStats]:
    """``rl4py plot RUN [RUN ...] --metric KEY --out FILE``: learning curves of runs as an image."""
    parser = argparse.ArgumentParser(
        prog="rl4py plot",
        description="Draws a scalar of one or more runs (TensorBoard event files or rl4py JSON Lines logs) "
        "as learning curves: one curve per group of runs, their mean and a band.",
    )
    parser.add_argument("runs", nargs="+", help="run folders or log files")
    parser.add_argument(
        "--metric", default="charts/episodic_return", help="the scalar (default charts/episodic_return)"
    )
    parser.add_argument("--out", required=True, help="the image: .png, .svg or .pdf")
    parser.add_argument("--x", choices=X_AXES, default="env_steps", help="x-axis (default env_steps)")
    parser.add_argument("--smooth", type=int, default=1, help="trailing moving average over K points (default 1: off)")
    parser.add_argument(
        "--group-by",
        choices=("parent", "run"),
        default="parent",
        help="runs sharing a parent folder form one curve (default), or one curve per run",
    )
    parser.add_argument(
        "--label", action="append", help="a legend label per run, in order (repeat; equal labels form one group)"
    )
    parser.add_argument("--band", choices=BANDS, default="minmax", help="min-max (default), mean +- std, or none")
    parser.add_argument("--points", type=int, default=200, help="points of the common x grid (default 200)")
    parser.add_argument("--title", default=None, help="figure title (default: the metric)")
    parser.add_argument("--dpi", type=int, default=100, help="PNG resolution (default 100)")
    options = parser.parse_args(list(args) if args is not None else None)
    if options.smooth < 1:
        parser.error(f"--smooth must be >= 1, got {options.smooth}")
    if options.points < 2:
        parser.error(f"--points must be >= 2, got {options.points}")
    if options.label is not None and len(options.label) != len(options.runs):
        parser.error(f"got {len(options.label)} --label for {len(options.runs)} runs; give one per run or none")
    try:
        _require_matplotlib("rl4py plot")
    except ImportError as error:
        parser.exit(1, f"rl4py plot: error: {error}\n")
    try:
        stats = plot_runs(
            options.runs,
            options.metric,
            options.out,
            x=options.x,
            smooth_window=options.smooth,
            labels=options.label,
            group_by=options.group_by,
            band=options.band,
            num_points=options.points,
            title=options.title,
            dpi=options.dpi,
        )
    except (FileNotFoundError, KeyError, ValueError) as error:
        message = error.args[0] if isinstance(error, KeyError) else str(error)
        parser.exit(1, f"rl4py plot: error: {message}\n")
    for name, curve in stats.items():
        print(
            f"{name}: {len(curve.labels)} run(s), x {curve.x[0]:g} - {curve.x[-1]:g}, final mean {curve.mean[-1]:.4g}"
        )
    print(f"wrote {options.out}")
    return stats
