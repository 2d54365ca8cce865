"""The plain loops' progress: the readable console line, the canonical metric names, and the same
names from the plain PPO loop and from PPOModule."""

from __future__ import annotations

import csv
import math
import warnings

import lightning.pytorch as pl
import pytest
import torch
from lightning.fabric.loggers import CSVLogger
from lightning.pytorch.loggers import Logger as LightningLogger
from tensordict import TensorDict

from rl4py import CartPole
from rl4py.loggers import Logger
from rl4py.loggers.names import STAT_NAMES, progress_metrics, stat_key
from rl4py.trainers import EpisodeTracker, PPOConfig, ProgressReporter, train_ppo
from rl4py.trainers.lightning_ppo import PPOModule
from rl4py.trainers.tracking import ProgressLine


class RecordingLogger(Logger):
    """Keeps every scalar and counts flushes."""

    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int]] = []
        self.flushes = 0

    def log_scalar(self, key, value, step) -> None:
        self.scalars.append((key, value, step))

    def log_text(self, key, text, step) -> None:
        raise AssertionError("no text expected")

    def log_histogram(self, key, values, step) -> None:
        raise AssertionError("no histogram expected")

    def flush(self) -> None:
        self.flushes += 1


def _rollout_with_episodes(returns: list[float], lengths: list[int]) -> TensorDict:
    """A one-step rollout ``[E, 1]`` in which sub-env ``i`` ends an episode of ``returns[i]`` and ``lengths[i]``."""
    n = len(returns)
    return TensorDict(
        {
            "next": {
                "done": torch.ones(n, 1, 1, dtype=torch.bool),
                "episode_return": torch.tensor(returns).reshape(n, 1, 1),
                "episode_length": torch.tensor(lengths).reshape(n, 1, 1),
            }
        },
        batch_size=[n, 1],
    )


FAKE = {
    "frames": 32768,
    "seconds": 6.4,
    "steps_per_second": 5120.318,
    "learning_rate": 0.00025,
    "mean_return": 187.53125,
    "max_return": 500.0,
    "mean_length": 187.53125,
    "loss_objective": -0.012345678901234567,
    "clip_fraction": 0.15234375,
    "approx_kl": 0.004213421,
    "grad_norm": 12345.678,
}
FIELDS = frozenset({"loss_objective", "clip_fraction", "approx_kl", "grad_norm"})


def test_the_console_line_has_fixed_columns_and_four_significant_digits(capsys):
    line = ProgressLine(FAKE, FIELDS)
    expected = (
        "env steps     32768  steps/s    5120  mean return    187.5  lr    0.00025  policy_loss   -0.01235"
        "  clipfrac     0.1523  approx_kl   0.004213  grad_norm  1.235e+04"
    )
    assert str(line) == expected
    print(line)  # progress=print
    assert capsys.readouterr().out == expected + "\n"
    # a later line with other values keeps every column where it was
    later = ProgressLine({**FAKE, "frames": 1_048_576, "steps_per_second": 812.0, "mean_return": -3.0}, FIELDS)
    labels = ("steps/s", "mean return", "lr", "policy_loss", "clipfrac", "approx_kl", "grad_norm")
    assert [str(later).index(label) for label in labels] == [expected.index(label) for label in labels]
    assert len(str(later)) == len(expected)
    assert line == FAKE  # still the dict of measurements


def test_mean_return_is_a_dash_before_the_first_episode_then_a_number():
    lines: list[ProgressLine] = []
    reporter = ProgressReporter(lines.append, every=1, start=0.0)
    tracker = EpisodeTracker(window=4)
    reporter.maybe_report(1, 128, tracker)
    assert "mean return        -" in str(lines[0]) and "nan" not in str(lines[0])
    assert math.isnan(lines[0]["mean_return"]) and math.isnan(lines[0]["mean_length"])
    tracker.update(_rollout_with_episodes([10.0, 30.0], [10, 30]))
    reporter.maybe_report(2, 256, tracker)
    assert "mean return       20" in str(lines[1])
    assert (lines[1]["mean_return"], lines[1]["max_return"], lines[1]["mean_length"]) == (20.0, 30.0, 20.0)


def test_episode_tracker_keeps_the_last_window_of_returns_and_lengths():
    tracker = EpisodeTracker(window=2, target_return=25.0)
    tracker.update(_rollout_with_episodes([10.0, 20.0, 40.0], [5, 6, 7]))
    assert tracker.episodes == 3 and tracker.mean_return == 30.0 and tracker.max_return == 40.0
    assert tracker.mean_length == 6.5 and tracker.solved


def test_progress_metrics_use_the_canonical_names():
    metrics = progress_metrics(FAKE, FIELDS)
    assert metrics == pytest.approx(
        {
            "charts/env_steps": 32768,
            "charts/SPS": 5120.318,
            "charts/learning_rate": 0.00025,
            "charts/episodic_return": 187.53125,
            "charts/max_episodic_return": 500.0,
            "charts/episodic_length": 187.53125,
            "losses/policy_loss": -0.012345678901234567,
            "losses/clipfrac": 0.15234375,
            "losses/approx_kl": 0.004213421,
            "losses/grad_norm": 12345.678,
        }
    )
    no_episode = {**FAKE, "mean_return": math.nan, "max_return": math.nan, "mean_length": math.nan}
    assert not {"charts/episodic_return", "charts/max_episodic_return", "charts/episodic_length"} & set(
        progress_metrics(no_episode, FIELDS)
    )


def test_stat_names_are_cleanrls():
    cleanrl = {
        "loss_objective": "losses/policy_loss",
        "loss_critic": "losses/value_loss",
        "entropy": "losses/entropy",
        "old_approx_kl": "losses/old_approx_kl",
        "approx_kl": "losses/approx_kl",
        "clip_fraction": "losses/clipfrac",
        "explained_variance": "losses/explained_variance",
        "loss_qvalue": "losses/td_loss",
        "q_value": "losses/q_values",
    }
    assert {field: stat_key(field) for field in cleanrl} == cleanrl
    assert stat_key("grad_norm") == "losses/grad_norm"  # fields CleanRL lacks keep their own name
    with pytest.raises(TypeError):
        STAT_NAMES["entropy"] = "x"  # read-only: one table for every trainer


def test_a_logger_gets_the_metrics_at_the_env_step_and_is_flushed_at_the_end():
    logger = RecordingLogger()
    reporter = ProgressReporter(logger, every=2, start=0.0)
    stats = TensorDict({"clip_fraction": torch.tensor(0.25)}, batch_size=[])
    for iteration in range(1, 4):
        reporter.maybe_report(iteration, 100 * iteration, 7.0, stats, learning_rate=0.001)
    reporter.finish()
    expected = ("charts/env_steps", "charts/SPS", "charts/learning_rate", "charts/episodic_return", "losses/clipfrac")
    assert {(key, step) for key, _, step in logger.scalars} == {(key, 200) for key in expected}
    assert dict((k, v) for k, v, _ in logger.scalars)["losses/clipfrac"] == 0.25
    assert logger.flushes == 1 and len(reporter.history) == 1


def test_a_lightning_csv_logger_takes_the_plain_loop_progress(tmp_path):
    logger = CSVLogger(tmp_path, name="ppo", version=0)
    config = PPOConfig(num_envs=4, rollout_length=16, epochs=1, num_minibatches=1, total_frames=4 * 16 * 3)
    train_ppo(CartPole(num_envs=4), config, progress=logger, progress_every=1)  # finish() saves the file
    with open(tmp_path / "ppo" / "version_0" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(row["step"]) for row in rows] == [64, 128, 192]
    assert {"charts/SPS", "charts/learning_rate", "losses/policy_loss", "losses/clipfrac"} <= set(rows[0])


def test_progress_of_the_wrong_type_is_refused():
    with pytest.raises(TypeError, match="progress must be a callable, an rl4py Logger or a Lightning logger, got str"):
        ProgressReporter("stdout", every=1, start=0.0)


class _KeysLogger(LightningLogger):
    """A Lightning logger that keeps the metric names it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: set[str] = set()

    @property
    def name(self) -> str:
        return "keys"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass

    def log_metrics(self, metrics, step=None) -> None:
        self.keys |= set(metrics)


def test_plain_ppo_loop_and_ppo_module_log_the_same_names():
    config = PPOConfig(num_envs=8, rollout_length=16, epochs=1, num_minibatches=2, lr=1e-3, total_frames=8 * 16 * 4)
    plain = RecordingLogger()
    train_ppo(CartPole(num_envs=8), config, progress=plain, progress_every=1)
    plain_keys = {key for key, _, _ in plain.scalars}

    recorded = _KeysLogger()
    pl.seed_everything(0, verbose=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        pl.Trainer(
            max_steps=8,  # 4 rollouts x 2 minibatches
            max_epochs=-1,
            accelerator="cpu",
            devices=1,
            logger=recorded,
            log_every_n_steps=1,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        ).fit(PPOModule("CartPole", config))
    module_keys = {key for key in recorded.keys if key.startswith(("charts/", "losses/"))}

    assert plain_keys == module_keys
    cleanrl = {
        "charts/episodic_return",
        "charts/episodic_length",
        "charts/learning_rate",
        "charts/SPS",
        "losses/value_loss",
        "losses/policy_loss",
        "losses/entropy",
        "losses/approx_kl",
        "losses/clipfrac",
        "losses/explained_variance",
    }
    assert cleanrl <= plain_keys
