from __future__ import annotations

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensordict import TensorDict

from rl4py.loggers import CompositeLogger, JSONLinesLogger, TensorBoardWriter, log_stats, read_json_lines


def _load(log_dir) -> EventAccumulator:
    # size_guidance 0 keeps every event (the default samples scalars down to 10,000)
    accumulator = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def test_scalars_are_written_and_read_back(tmp_path):
    with TensorBoardWriter(tmp_path / "ppo") as logger:
        for step in (128, 256, 384):
            logger.log_scalar("charts/episodic_return", step / 128.0, step)
        logger.log_scalars({"charts/SPS": 5120, "losses/approx_kl": torch.tensor(0.25)}, 384)
    accumulator = _load(tmp_path / "ppo")
    assert set(accumulator.Tags()["scalars"]) == {"charts/episodic_return", "charts/SPS", "losses/approx_kl"}
    events = accumulator.Scalars("charts/episodic_return")
    assert [e.step for e in events] == [128, 256, 384]
    assert [e.value for e in events] == pytest.approx([1.0, 2.0, 3.0])
    assert [(e.step, e.value) for e in accumulator.Scalars("charts/SPS")] == [(384, 5120.0)]
    assert accumulator.Scalars("losses/approx_kl")[0].value == pytest.approx(0.25)
    # log_scalars writes plain scalars: no sub-run folders as SummaryWriter.add_scalars makes
    assert [p.name for p in (tmp_path / "ppo").iterdir() if p.is_dir()] == []


def test_histogram_and_text_reach_tensorboard(tmp_path):
    values = torch.arange(100, dtype=torch.float32)
    with TensorBoardWriter(tmp_path / "run") as logger:
        logger.log_histogram("params/weight", values, step=5)
        logger.log_text("config", "lr: 0.00025", step=0)
    accumulator = _load(tmp_path / "run")
    (histogram,) = accumulator.Histograms("params/weight")
    assert histogram.step == 5
    assert histogram.histogram_value.num == 100
    assert histogram.histogram_value.min == 0.0 and histogram.histogram_value.max == 99.0
    assert histogram.histogram_value.sum == pytest.approx(float(values.sum()))
    # add_text stores a string tensor under "<key>/text_summary"
    (text,) = accumulator.Tensors("config/text_summary")
    assert text.step == 0
    assert text.tensor_proto.string_val[0].decode() == "lr: 0.00025"


def test_flush_makes_events_readable_before_close(tmp_path):
    logger = TensorBoardWriter(tmp_path / "run", flush_secs=3600)
    logger.log_scalar("loss", 1.5, 1)
    logger.flush()
    assert [e.value for e in _load(tmp_path / "run").Scalars("loss")] == [1.5]
    logger.close()
    with pytest.raises(RuntimeError, match="after close"):
        logger.log_scalar("loss", 1.0, 2)


def test_log_stats_through_a_composite_reaches_both_backends(tmp_path):
    stats = TensorDict({"loss_objective": torch.tensor(0.5), "entropy": torch.tensor(0.625)}, batch_size=[])
    with CompositeLogger([TensorBoardWriter(tmp_path / "tb"), JSONLinesLogger(tmp_path / "log.jsonl")]) as logger:
        log_stats(logger, "losses", stats, step=64)
    accumulator = _load(tmp_path / "tb")
    assert {tag: accumulator.Scalars(tag)[0].value for tag in accumulator.Tags()["scalars"]} == {
        "losses/loss_objective": 0.5,
        "losses/entropy": 0.625,
    }
    assert {r["key"]: r["value"] for r in read_json_lines(tmp_path / "log.jsonl")} == {
        "losses/loss_objective": 0.5,
        "losses/entropy": 0.625,
    }


def test_lightnings_logger_writes_the_events_in_log_dir_itself(tmp_path):
    from lightning.fabric.loggers import TensorBoardLogger

    with TensorBoardWriter(tmp_path / "run") as logger:
        assert isinstance(logger.tensorboard, TensorBoardLogger)
        logger.log_scalar("loss", 0.5, 1)
        logger.tensorboard.log_hyperparams({"lr": 0.00025, "clip": 0.2})  # Lightning's call, through the adapter
    accumulator = _load(tmp_path / "run")  # no lightning_logs/version_0 folders
    assert [p.name for p in (tmp_path / "run").iterdir() if p.is_dir()] == []
    assert set(accumulator.Tags()["scalars"]) == {"loss", "hp_metric"}
