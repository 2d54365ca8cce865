"""Tests of rl4py.plotting: reading TensorBoard and JSON Lines logs, averaging runs, the plot command."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from rl4py import cli
from rl4py.loggers import JSONLinesLogger
from rl4py.plotting import aggregate, group_runs, load_scalars, main, plot_runs, smooth

METRIC = "charts/episodic_return"


def write_jsonl(path: Path, points: list[tuple[int, float]], start: float = 1000.0, key: str = METRIC) -> None:
    clock = iter(start + i for i in range(10 * len(points) + 10))
    with JSONLinesLogger(path, clock=lambda: next(clock)) as logger:
        logger.log_text("config", "lr=0.01", 0)
        for step, value in points:
            logger.log_scalar(key, value, step)
            logger.log_scalar("losses/approx_kl", 0.01, step)


def write_tfevents(folder: Path, points: list[tuple[int, float]], key: str = METRIC) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(folder))
    for step, value in points:
        writer.add_scalar(key, value, step)
    writer.close()


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


# ------------------------------------------------------------------------------------ reading
def test_load_scalars_jsonl(tmp_path):
    write_jsonl(tmp_path / "run" / "log.jsonl", [(100, 1.0), (200, 3.0), (300, float("nan"))])
    xs, values = load_scalars(tmp_path / "run", METRIC)
    np.testing.assert_array_equal(xs, [100, 200, 300])
    np.testing.assert_array_equal(values[:2], [1.0, 3.0])
    assert np.isnan(values[2])
    # wall time: seconds since the file's first line (the text line at t=1000; scalars at 1001, 1003, 1005)
    xs, _ = load_scalars(tmp_path / "run" / "log.jsonl", METRIC, x="wall_time")
    np.testing.assert_array_equal(xs, [1.0, 3.0, 5.0])


def test_load_scalars_tfevents(tmp_path):
    points = [(0, 0.5), (64, 1.5), (128, -2.0)]
    write_tfevents(tmp_path / "tb", points)
    xs, values = load_scalars(tmp_path / "tb", METRIC)
    np.testing.assert_array_equal(xs, [0, 64, 128])
    np.testing.assert_allclose(values, [0.5, 1.5, -2.0])  # float32 in the event file
    xs, _ = load_scalars(tmp_path / "tb", METRIC, x="wall_time")
    assert xs[0] >= 0 and np.all(np.diff(xs) >= 0)


def test_load_scalars_merges_files_of_a_resumed_run(tmp_path):
    write_jsonl(tmp_path / "run" / "a.jsonl", [(100, 1.0), (200, 2.0)], start=0.0)
    write_jsonl(tmp_path / "run" / "b.jsonl", [(200, 5.0), (300, 6.0)], start=100.0)  # resumed, rewrote 200
    xs, values = load_scalars(tmp_path / "run", METRIC)
    np.testing.assert_array_equal(xs, [100, 200, 300])
    np.testing.assert_array_equal(values, [1.0, 5.0, 6.0])


def test_load_scalars_maps_lightning_steps_to_env_steps(tmp_path):
    # a LightningModule logs at trainer steps 10, 20, 30 and the env frames as charts/env_steps
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tmp_path))
    for step in (10, 20, 30):
        writer.add_scalar("charts/env_steps", step * 1024, step)
        writer.add_scalar(METRIC, step / 10, step)
    writer.close()
    xs, values = load_scalars(tmp_path, METRIC)
    np.testing.assert_array_equal(xs, [10240, 20480, 30720])
    np.testing.assert_allclose(values, [1.0, 2.0, 3.0])


def test_load_scalars_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_scalars(tmp_path / "missing", METRIC)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no log file"):
        load_scalars(tmp_path / "empty", METRIC)
    write_jsonl(tmp_path / "run.jsonl", [(1, 1.0)])
    with pytest.raises(KeyError, match="losses/approx_kl"):  # the message lists what is there
        load_scalars(tmp_path / "run.jsonl", "charts/nope")
    with pytest.raises(ValueError, match="x must be one of"):
        load_scalars(tmp_path / "run.jsonl", METRIC, x="frames")


# ---------------------------------------------------------------------------------- averaging
def test_aggregate_against_hand_computation():
    run_a = (np.array([0.0, 10.0, 20.0]), np.array([0.0, 1.0, 2.0]))
    run_b = (np.array([0.0, 5.0, 20.0, 30.0]), np.array([2.0, 2.0, 5.0, 9.0]))
    stats = aggregate([run_a, run_b], num_points=3)
    # common range [0, 20] (run b's point at 30 is beyond run a): grid 0, 10, 20
    np.testing.assert_array_equal(stats.x, [0.0, 10.0, 20.0])
    # run b at 10: between (5, 2) and (20, 5): 2 + 3 * 5 / 15 = 3
    np.testing.assert_allclose(stats.runs, [[0.0, 1.0, 2.0], [2.0, 3.0, 5.0]])
    np.testing.assert_allclose(stats.mean, [1.0, 2.0, 3.5])
    np.testing.assert_allclose(stats.low, [0.0, 1.0, 2.0])
    np.testing.assert_allclose(stats.high, [2.0, 3.0, 5.0])
    std = aggregate([run_a, run_b], num_points=3, band="std")
    # population std of two values = half their distance: 1, 1, 1.5
    np.testing.assert_allclose(std.low, [0.0, 1.0, 2.0])
    np.testing.assert_allclose(std.high, [2.0, 3.0, 5.0])
    three = aggregate([run_a, run_b, (np.array([0.0, 20.0]), np.array([4.0, 4.0]))], num_points=3, band="std")
    values = np.array([[0.0, 1.0, 2.0], [2.0, 3.0, 5.0], [4.0, 4.0, 4.0]])
    expected_std = np.sqrt(((values - values.mean(0)) ** 2).mean(0))
    np.testing.assert_allclose(three.mean, values.mean(0))
    np.testing.assert_allclose(three.high - three.mean, expected_std)


def test_aggregate_drops_nan_and_rejects_bad_input():
    stats = aggregate([(np.array([0.0, 1.0, 2.0]), np.array([0.0, np.nan, 2.0]))], num_points=3)
    np.testing.assert_allclose(stats.mean, [0.0, 1.0, 2.0])  # NaN skipped, interpolated across
    with pytest.raises(ValueError, match="do not overlap"):
        aggregate([(np.array([0.0, 1.0]), np.ones(2)), (np.array([5.0, 6.0]), np.ones(2))])
    with pytest.raises(ValueError, match="no finite value"):
        aggregate([(np.array([0.0]), np.array([np.nan]))])
    with pytest.raises(ValueError, match="band"):
        aggregate([(np.array([0.0, 1.0]), np.ones(2))], band="iqr")
    with pytest.raises(ValueError, match="no runs"):
        aggregate([])


def test_smooth():
    np.testing.assert_allclose(smooth(np.array([3.0, 1.0, 2.0, 6.0]), 3), [3.0, 2.0, 2.0, 3.0])
    np.testing.assert_array_equal(smooth(np.array([1.0, 5.0]), 1), [1.0, 5.0])
    with pytest.raises(ValueError, match="window"):
        smooth(np.ones(3), 0)


def test_group_runs(tmp_path):
    paths = [tmp_path / "ppo" / "s0", tmp_path / "ppo" / "s1", tmp_path / "a2c" / "s0"]
    assert group_runs(paths) == {"ppo": paths[:2], "a2c": paths[2:]}
    assert group_runs(paths, group_by="run") == {str(p): [p] for p in paths}
    assert group_runs(paths, labels=["x", "y", "x"]) == {"x": [paths[0], paths[2]], "y": [paths[1]]}
    with pytest.raises(ValueError, match="one label per run"):
        group_runs(paths, labels=["x"])


# ------------------------------------------------------------------------------------ drawing
def make_runs(tmp_path: Path) -> list[Path]:
    """Two seeds of "ppo" (a JSONL and a TensorBoard run) and one of "dqn"."""
    write_jsonl(tmp_path / "ppo" / "seed0" / "log.jsonl", [(0, 0.0), (1000, 10.0), (2000, 20.0)])
    write_tfevents(tmp_path / "ppo" / "seed1", [(0, 2.0), (1000, 14.0), (2000, 30.0)])
    write_jsonl(tmp_path / "dqn" / "seed0" / "log.jsonl", [(0, 5.0), (2000, 5.0)])
    return [tmp_path / "ppo" / "seed0", tmp_path / "ppo" / "seed1", tmp_path / "dqn" / "seed0"]


def test_plot_runs_returns_the_drawn_numbers(tmp_path):
    runs = make_runs(tmp_path)
    stats = plot_runs(runs, METRIC, tmp_path / "out.svg", num_points=3)
    assert list(stats) == ["ppo", "dqn"]
    np.testing.assert_allclose(stats["ppo"].x, [0.0, 1000.0, 2000.0])
    np.testing.assert_allclose(stats["ppo"].mean, [1.0, 12.0, 25.0])
    np.testing.assert_allclose(stats["ppo"].low, [0.0, 10.0, 20.0])
    np.testing.assert_allclose(stats["ppo"].high, [2.0, 14.0, 30.0])
    np.testing.assert_allclose(stats["dqn"].mean, [5.0, 5.0, 5.0])
    svg = (tmp_path / "out.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "ppo (2 runs)" in svg and "dqn (1 run)" in svg
    smoothed = plot_runs(runs[:2], METRIC, None, smooth_window=2, num_points=3)
    # seed0 smoothed: 0, 5, 15; seed1: 2, 8, 22
    np.testing.assert_allclose(smoothed["ppo"].mean, [1.0, 6.5, 18.5])
    with pytest.raises(ValueError, match=r"\.png, \.svg or \.pdf"):
        plot_runs(runs, METRIC, tmp_path / "out.gif")


def test_plot_command_writes_a_png(tmp_path, capsys):
    runs = make_runs(tmp_path)
    out = tmp_path / "figs" / "curves.png"
    cli.main(["plot", *map(str, runs), "--metric", METRIC, "--out", str(out), "--band", "std", "--dpi", "80"])
    width, height = png_size(out)
    assert (width, height) == (7 * 80, round(4.2 * 80))
    assert 5_000 < out.stat().st_size < 200_000
    printed = capsys.readouterr().out
    assert "ppo: 2 run(s)" in printed and f"wrote {out}" in printed


def test_plot_command_labels_and_errors(tmp_path, capsys):
    runs = make_runs(tmp_path)
    stats = main([*map(str, runs), "--out", str(tmp_path / "a.png"), "--label", "A", "--label", "B", "--label", "A"])
    assert sorted(stats) == ["A", "B"] and len(stats["A"].labels) == 2
    with pytest.raises(SystemExit) as error:
        main([str(runs[0]), "--out", str(tmp_path / "b.png"), "--metric", "charts/nope"])
    assert error.value.code == 1
    assert "no scalar 'charts/nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(runs[0]), "--out", str(tmp_path / "c.png"), "--label", "A", "--label", "B"])
    assert "2 --label for 1 runs" in capsys.readouterr().err


def test_plot_command_without_matplotlib_names_the_extra(tmp_path, capsys, monkeypatch):
    runs = make_runs(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    with pytest.raises(SystemExit) as error:
        cli.main(["plot", str(runs[0]), "--out", str(tmp_path / "x.png")])
    assert error.value.code == 1
    assert "pip install 'rl4py[plot]'" in capsys.readouterr().err
    with pytest.raises(ImportError, match=r"rl4py\[plot\]"):
        plot_runs(runs, METRIC, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
    # reading and averaging work without matplotlib
    assert load_scalars(runs[0], METRIC)[1].tolist() == [0.0, 10.0, 20.0]


# ------------------------------------------------------------------------ bench/plot_figures.py
BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_bench_figures_from_results_lines(tmp_path, monkeypatch):
    import json
    import subprocess

    lines = [
        {"note": "a test file"},
        {
            "bench": "ppo_cartpole",
            "library": "rl4py",
            "seed": 0,
            "solved": True,
            "seconds_to_solve": 1.0,
            "env_steps_to_solve": 100,
        },
        {
            "bench": "ppo_cartpole",
            "library": "rl4py",
            "seed": 1,
            "solved": True,
            "seconds_to_solve": 3.0,
            "env_steps_to_solve": 300,
        },
        {
            "bench": "ppo_cartpole",
            "library": "rl4py",
            "seed": 2,
            "solved": False,
            "seconds_to_solve": None,
            "env_steps_to_solve": None,
        },
        {
            "bench": "ppo_cartpole",
            "library": "sb3",
            "summary": True,
            "runs": 5,
            "solved_runs": 5,
            "median_seconds_to_solve": 8.0,
            "min_seconds_to_solve": 7.0,
            "max_seconds_to_solve": 9.0,
            "median_env_steps_to_solve": 500,
        },
        {
            "bench": "dqn_cartpole",
            "library": "sb3",
            "summary": True,
            "runs": 5,
            "solved_runs": 1,
            "median_seconds_to_solve": None,
            "sb3_cap_seconds": 120.0,
        },
        {"bench": "lightning_overhead", "variant": "plain", "seed": 0, "seconds": 2.0},
        {"bench": "lightning_overhead", "variant": "lightning", "seed": 0, "seconds": 2.2},
    ]
    results = tmp_path / "demo.jsonl"
    results.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    monkeypatch.syspath_prepend(str(BENCH))
    import plot_figures

    records = plot_figures.read_results(results)
    assert len(records) == 7  # the note is skipped
    stats = plot_figures.solve_stats([r for r in records if r["bench"] == "ppo_cartpole"])
    # the unsolved seed counts as infinitely slow: the median of (1, 3, inf) is 3
    assert stats["rl4py"] == {
        "median": 3.0,
        "low": 1.0,
        "high": 3.0,
        "seeds": [1.0, 3.0],
        "solved": 2,
        "runs": 3,
        "env_steps": 300,
        "cap": None,
    }
    assert stats["sb3"]["median"] == 8.0 and stats["sb3"]["low"] == 7.0
    out = subprocess.run(
        [sys.executable, str(BENCH / "plot_figures.py"), str(results), "--out-dir", str(tmp_path / "img")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    svg = (tmp_path / "img" / "bench_demo.svg").read_text()
    for text in ("ppo_cartpole", "2/3 solved", "3 s", "&gt; 120 s", "1/5 solved", "2.20 s (+10%)"):
        assert text in svg, text
    assert (tmp_path / "img" / "bench_demo.svg").stat().st_size < 100_000
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"note": "nothing"}\n')
    out = subprocess.run([sys.executable, str(BENCH / "plot_figures.py"), str(empty)], capture_output=True, text=True)
    assert out.returncode != 0 and "no bench records" in out.stderr
