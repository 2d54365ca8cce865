from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping

import numpy as np
import pytest
import torch
from tensordict import TensorDict

from rl4py import GAE, CartPole, PPOLoss, SyncCollector, make_discrete_actor_critic
from rl4py.loggers import CompositeLogger, Logger, NoopLogger, log_stats
from rl4py.trainers import minibatch_update


class RecordingLogger(Logger):
    """Keeps every call, for assertions."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.closed = False

    def log_scalar(self, key, value, step) -> None:
        self.calls.append(("scalar", key, value, step))

    def log_text(self, key, text, step) -> None:
        self.calls.append(("text", key, text, step))

    def log_histogram(self, key, values, step) -> None:
        self.calls.append(("histogram", key, torch.as_tensor(values).tolist(), step))

    def flush(self) -> None:
        self.calls.append(("flush",))

    def close(self) -> None:
        self.closed = True

    def scalars(self) -> dict[str, float]:
        return {c[1]: c[2] for c in self.calls if c[0] == "scalar"}


def test_composite_fans_out_every_call_in_order():
    a, b = RecordingLogger(), RecordingLogger()
    logger = CompositeLogger([a, b])
    logger.log_scalar("charts/SPS", torch.tensor(1234.0), 10)
    logger.log_scalars({"losses/approx_kl": 0.01, "losses/entropy": np.float32(0.5)}, 20)
    logger.log_text("config", "lr: 3e-4", 0)
    logger.log_histogram("weights", torch.tensor([[1.0, 2.0], [3.0, 4.0]]), 30)
    logger.flush()
    expected = [
        ("scalar", "charts/SPS", 1234.0, 10),
        ("scalar", "losses/approx_kl", 0.01, 20),
        ("scalar", "losses/entropy", 0.5, 20),
        ("text", "config", "lr: 3e-4", 0),
        ("histogram", "weights", [1.0, 2.0, 3.0, 4.0], 30),
        ("flush",),
    ]
    assert a.calls == expected and b.calls == expected
    # tensor values reach the children as plain floats, read once
    assert type(a.calls[0][2]) is float
    logger.close()
    assert a.closed and b.closed


def test_composite_closes_all_even_if_one_fails():
    class Failing(RecordingLogger):
        def close(self) -> None:
            raise OSError("disk gone")

    last = RecordingLogger()
    with pytest.raises(OSError, match="disk gone"):
        CompositeLogger([Failing(), last]).close()
    assert last.closed


def test_composite_rejects_non_loggers():
    with pytest.raises(TypeError, match=r"loggers\[1\] is a str"):
        CompositeLogger([NoopLogger(), "tensorboard"])
    with pytest.raises(TypeError, match="sequence of Logger"):
        CompositeLogger(NoopLogger())


def test_noop_accepts_everything_and_is_a_context_manager():
    with NoopLogger() as logger:
        logger.log_scalar("a", 1.0, 0)
        logger.log_scalars({"b": 2.0}, 1)
        logger.log_text("c", "text", 2)
        logger.log_histogram("d", [1.0, 2.0], 3)
        logger.flush()


def test_context_manager_closes():
    with RecordingLogger() as logger:
        pass
    assert logger.closed


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda lg: lg.log_scalar("a", torch.ones(3), 0), ValueError, r"'a' must be a scalar, got shape \(3,\)"),
        (lambda lg: lg.log_scalar("a", "1.0", 0), TypeError, "'a' must be a number"),
        (lambda lg: lg.log_scalar(("a",), 1.0, 0), TypeError, "key must be a str"),
        (lambda lg: lg.log_scalar("", 1.0, 0), ValueError, "non-empty"),
        (lambda lg: lg.log_histogram("h", [1.0, float("nan")], 0), ValueError, "'h' holds 1 non-finite"),
        (lambda lg: lg.log_histogram("h", [], 0), ValueError, "'h' got no values"),
        (lambda lg: lg.log_scalars([("a", 1.0)], 0), TypeError, "mapping"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call(CompositeLogger([RecordingLogger()]))


def test_log_stats_logs_every_field_of_a_tensordict():
    stats = TensorDict(
        {
            "loss_objective": torch.tensor(0.25),
            "approx_kl": torch.tensor(0.0125),
            "clip_fraction": torch.tensor(0.5),
            "nested": {"value": torch.tensor([2.0])},
        },
        batch_size=[],
    )
    logger = RecordingLogger()
    logged = log_stats(logger, "losses", stats, step=100, names={"clip_fraction": "clipfrac"})
    expected = {
        "losses/loss_objective": 0.25,
        "losses/approx_kl": 0.0125,
        "losses/clipfrac": 0.5,
        "losses/nested/value": 2.0,
    }
    assert logged == pytest.approx(expected)  # float32 tensors read as floats
    assert logger.scalars() == logged
    assert {c[3] for c in logger.calls} == {100}


def test_log_stats_accepts_a_mapping_and_no_prefix():
    logger = RecordingLogger()
    log_stats(logger, "", {"epsilon": 0.1, "mean_q": torch.tensor(3.0), "updates": 7}, step=5)
    assert logger.scalars() == {"epsilon": 0.1, "mean_q": 3.0, "updates": 7.0}


def test_log_stats_rejects_non_scalar_fields():
    stats = TensorDict({"ok": torch.tensor(1.0), "per_env": torch.zeros(4)}, batch_size=[])
    with pytest.raises(ValueError, match=r"field 'per_env' has shape \(4,\)"):
        log_stats(RecordingLogger(), "losses", stats, step=0)
    with pytest.raises(TypeError, match="TensorDict or a mapping"):
        log_stats(RecordingLogger(), "losses", [1.0], step=0)


def test_log_stats_of_a_real_ppo_update_logs_all_its_fields():
    torch.manual_seed(0)
    actor, critic = make_discrete_actor_critic(4, 2)
    loss = PPOLoss(actor, critic)
    rollout = SyncCollector(CartPole(num_envs=4), actor, rollout_length=8, seed=0).rollout()
    GAE(value_network=critic)(rollout)
    stats = minibatch_update(loss, torch.optim.Adam(loss.parameters(), lr=1e-3), rollout, epochs=1, num_minibatches=2)
    logger = RecordingLogger()
    logged = log_stats(logger, "losses", stats, step=32)
    fields = list(stats.keys())  # a TensorDict is not iterable over its keys
    assert set(logged) == {f"losses/{k}" for k in fields}
    assert "losses/approx_kl" in logged and "losses/explained_variance" in logged
    for key in fields:
        assert logged[f"losses/{key}"] == pytest.approx(stats[key].item())


def test_log_stats_goes_through_log_scalars_once():
    class CountingLogger(RecordingLogger):
        batches = 0

        def log_scalars(self, values: Mapping, step: int) -> None:
            self.batches += 1
            super().log_scalars(values, step)

    logger = CountingLogger()
    log_stats(logger, "losses", {"a": 1.0, "b": 2.0}, step=0)
    assert logger.batches == 1 and len(logger.calls) == 2


def test_steps_must_be_non_negative_integers():
    from rl4py.loggers import PrintLogger

    logger = PrintLogger(every_seconds=0)
    with pytest.raises(TypeError, match="step must be an integer"):
        logger.log_scalar("a", 1.0, 1.5)
    with pytest.raises(ValueError, match="step must be >= 0"):
        logger.log_scalar("a", 1.0, -1)
    logger.log_scalar("a", 1.0, np.int64(3))
    logger.log_scalar("a", 1.0, torch.tensor(4))


def test_loggers_import_without_lightning():
    code = "import sys, rl4py.loggers; assert 'lightning' not in sys.modules, 'lightning imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
