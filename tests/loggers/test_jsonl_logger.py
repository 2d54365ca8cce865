from __future__ import annotations

import io
import json
import math
import time

import pytest
import torch

from rl4py.loggers import JSONLinesLogger, read_json_lines


def _records(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_every_call_is_one_json_object_per_line(tmp_path):
    path = tmp_path / "run" / "train_log.jsonl"  # parent folder created
    before = time.time()
    with JSONLinesLogger(path) as logger:
        logger.log_scalar("losses/approx_kl", torch.tensor(0.0042), step=1000)
        logger.log_scalars({"charts/SPS": 5120, "charts/episodic_return": 187.5}, step=2000)
        logger.log_text("config", 'lr: 3e-4\nname: "ppo"', step=0)
    after = time.time()
    records = _records(path)
    assert [(r["type"], r["key"], r["value"], r["step"]) for r in records] == [
        ("scalar", "losses/approx_kl", pytest.approx(0.0042), 1000),
        ("scalar", "charts/SPS", 5120.0, 2000),
        ("scalar", "charts/episodic_return", 187.5, 2000),
        ("text", "config", 'lr: 3e-4\nname: "ppo"', 0),
    ]
    for record in records:
        assert set(record) == {"type", "key", "value", "step", "wall_time"}
        assert before <= record["wall_time"] <= after
    times = [r["wall_time"] for r in records]
    assert times == sorted(times)


def test_wall_time_increases_with_the_clock(tmp_path):
    ticks = iter([10.0, 10.5, 12.25])
    with JSONLinesLogger(tmp_path / "log.jsonl", clock=lambda: next(ticks)) as logger:
        for step in range(3):
            logger.log_scalar("loss", float(step), step)
    assert [r["wall_time"] for r in _records(tmp_path / "log.jsonl")] == [10.0, 10.5, 12.25]


def test_non_finite_scalars_stay_strict_json(tmp_path):
    path = tmp_path / "log.jsonl"
    with JSONLinesLogger(path) as logger:
        logger.log_scalar("a", float("nan"), 0)
        logger.log_scalar("b", float("inf"), 0)
        logger.log_scalar("c", -float("inf"), 0)
    text = path.read_text()
    assert "NaN," not in text and "Infinity," not in text  # no bare non-JSON tokens
    assert [r["value"] for r in _records(path)] == ["NaN", "Infinity", "-Infinity"]
    values = [r["value"] for r in read_json_lines(path)]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf]


def test_histogram_summary(tmp_path):
    path = tmp_path / "log.jsonl"
    values = torch.arange(10, dtype=torch.float32)
    with JSONLinesLogger(path, bins=5) as logger:
        logger.log_histogram("weights", values, step=7)
        logger.log_histogram("constant", [2.0, 2.0, 2.0], step=7)
    weights, constant = _records(path)
    assert weights["type"] == "histogram" and weights["step"] == 7
    summary = weights["value"]
    assert summary["count"] == 10 and summary["min"] == 0.0 and summary["max"] == 9.0
    assert summary["mean"] == pytest.approx(4.5) and summary["std"] == pytest.approx(values.std(unbiased=False).item())
    assert summary["edges"] == pytest.approx([0.0, 1.8, 3.6, 5.4, 7.2, 9.0])
    assert summary["counts"] == [2, 2, 2, 2, 2]
    assert constant["value"]["counts"] == [3, 0, 0, 0, 0]


def test_append_resumes_and_read_filters(tmp_path):
    path = tmp_path / "log.jsonl"
    with JSONLinesLogger(path) as logger:
        logger.log_scalar("loss", 1.0, 1)
        logger.log_text("note", "first run", 1)
    with JSONLinesLogger(path, append=True) as logger:
        logger.log_scalar("loss", 0.5, 2)
    assert [r["value"] for r in read_json_lines(path, type="scalar", key="loss")] == [1.0, 0.5]
    assert [r["value"] for r in read_json_lines(path, type="text")] == ["first run"]
    with JSONLinesLogger(path) as logger:  # without append the file is replaced
        logger.log_scalar("loss", 0.25, 3)
    assert len(read_json_lines(path)) == 1


def test_stream_sink_is_flushed_not_closed():
    stream = io.StringIO()
    logger = JSONLinesLogger(stream)
    logger.log_scalar("loss", 1.0, 1)
    logger.close()
    assert not stream.closed
    assert json.loads(stream.getvalue())["key"] == "loss"


def test_logging_after_close_raises(tmp_path):
    logger = JSONLinesLogger(tmp_path / "log.jsonl")
    logger.close()
    logger.close()  # idempotent
    with pytest.raises(RuntimeError, match="'loss' after close"):
        logger.log_scalar("loss", 1.0, 0)


def test_read_names_a_broken_line(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"type": "scalar", "key": "a", "value": 1.0, "step": 0, "wall_time": 0.0}\n{"type": \n')
    with pytest.raises(ValueError, match=r"log.jsonl:2 is not valid JSON"):
        read_json_lines(path)


def test_histogram_of_huge_finite_values_stays_valid_json(tmp_path):
    path = tmp_path / "log.jsonl"
    values = torch.tensor([1e200, -1e200, 3e200], dtype=torch.float64)
    with JSONLinesLogger(path, bins=2) as logger:
        logger.log_histogram("huge", values, step=0)  # the plain sum of squares overflows
    (record,) = _records(path)
    summary = record["value"]
    assert summary["mean"] == pytest.approx(1e200)
    assert summary["std"] == pytest.approx(math.sqrt(8 / 3) * 1e200)  # the population std of (1, -1, 3) * 1e200
    assert summary["counts"] == [1, 2]
