from __future__ import annotations

import io

import pytest
import torch

from rl4py.loggers import PrintLogger


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_one_line_per_completed_step_with_every_key():
    stream = io.StringIO()
    logger = PrintLogger(every_seconds=0, stream=stream)
    logger.log_scalars({"charts/SPS": 5120.0, "losses/approx_kl": torch.tensor(0.0042134)}, step=100)
    logger.log_scalar("charts/episodic_return", 187.5, step=100)
    assert _lines(stream) == []  # step 100 may still get values
    logger.log_scalar("charts/SPS", 5000.0, step=200)  # step 100 is complete
    assert _lines(stream) == ["[step 100] charts/SPS=5120 losses/approx_kl=0.004213 charts/episodic_return=187.5"]
    logger.flush()
    assert _lines(stream)[-1] == "[step 200] charts/SPS=5000"


def test_throttle_keeps_latest_values_until_the_interval_passed():
    stream, clock = io.StringIO(), FakeClock()
    logger = PrintLogger(every_seconds=10, stream=stream, clock=clock)
    logger.log_scalar("loss", 1.0, step=1)
    clock.now = 1.0
    logger.log_scalar("loss", 2.0, step=2)  # the first completed step is written at once
    assert _lines(stream) == ["[step 1] loss=1"]
    clock.now = 5.0
    logger.log_scalar("loss", 3.0, step=3)  # 4 s since the last line: held back
    logger.log_scalar("kl", 0.5, step=3)
    clock.now = 10.9
    logger.log_scalar("loss", 4.0, step=4)  # 9.9 s: still held back
    assert len(_lines(stream)) == 1
    clock.now = 11.0
    logger.log_scalar("loss", 5.0, step=5)  # 10 s: the pending line is due
    assert _lines(stream)[1] == "[step 4] loss=4 kl=0.5"  # latest value of each key, latest step
    clock.now = 12.0
    logger.log_scalar("loss", 6.0, step=6)
    assert len(_lines(stream)) == 2
    logger.flush()  # forced, whatever the clock
    assert _lines(stream)[2] == "[step 6] loss=6"
    logger.flush()  # nothing pending: nothing written
    assert len(_lines(stream)) == 3


def test_close_writes_the_pending_line():
    stream = io.StringIO()
    with PrintLogger(every_seconds=3600, stream=stream) as logger:
        logger.log_scalar("charts/episodic_return", 500.0, step=1_000_000)
    assert _lines(stream) == ["[step 1000000] charts/episodic_return=500"]


def test_text_is_written_at_once_and_histograms_are_summarised():
    stream = io.StringIO()
    logger = PrintLogger(every_seconds=3600, stream=stream)
    logger.log_text("config", "lr=0.00025 clip=0.2", step=0)
    assert _lines(stream) == ["[step 0] config: lr=0.00025 clip=0.2"]
    logger.log_histogram("weights", torch.tensor([-1.0, 0.0, 4.0]), step=3)
    logger.log_scalar("nan_loss", float("nan"), step=3)
    logger.flush()
    assert _lines(stream)[1] == "[step 3] weights=[-1, 1, 4] nan_loss=nan"


def test_default_stream_is_stdout(capsys):
    logger = PrintLogger(every_seconds=0)
    logger.log_scalar("charts/SPS", 10.0, step=1)
    logger.flush()
    assert capsys.readouterr().out == "[step 1] charts/SPS=10\n"


def test_rejects_negative_interval():
    with pytest.raises(ValueError, match="every_seconds must be a number >= 0"):
        PrintLogger(every_seconds=-1)
