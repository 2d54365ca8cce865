"""Tests of rl4py.diagnostics.TrainingHealth, its plain-loop hook and its Lightning callback."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from tensordict import TensorDict

from rl4py.diagnostics import WARNINGS_KEY, HealthThresholds, TrainingHealth
from rl4py.loggers import JSONLinesLogger, read_json_lines
from rl4py.testing import shift_seed

warnings.filterwarnings("ignore", ".*does not have many workers.*")

HEALTHY = {
    "approx_kl": 0.01,
    "clip_fraction": 0.1,
    "entropy": 0.6,
    "explained_variance": 0.5,
    "loss_critic": 2.0,
    "grad_norm": 1.0,
}


def quiet(**kwargs) -> TrainingHealth:
    return TrainingHealth(echo=lambda message: None, **kwargs)


def feed(health: TrainingHealth, updates: list[dict], start: int = 0) -> list[list[str]]:
    return [health.update({**HEALTHY, **changes}, step=(start + i + 1) * 100) for i, changes in enumerate(updates)]


def test_healthy_figures_never_warn():
    health = quiet()
    assert not any(feed(health, [{}] * 50))
    assert health.active == [] and health.report() == "training health: no warnings over 50 updates"


def test_patience_warns_once_per_episode_and_rearms_after_recovery():
    health = quiet(thresholds=HealthThresholds(patience=3, recovery=2))
    bad, good = {"approx_kl": 0.2}, {}
    new = feed(health, [bad, bad, bad, bad, bad, good, bad, bad, good, good, bad, bad, bad])
    fired = [i for i, messages in enumerate(new) if messages]
    # warns on the 3rd bad update; a single good update does not re-arm (recovery=2), two do
    assert fired == [2, 12]
    assert new[2] == [
        "step 300: approx_kl = 0.2 > 0.05: the policy is moving too fast; lower the learning rate or the clip "
        "range, use fewer epochs, or stop epochs early at a target KL"
    ]
    assert [w.check for w in health.history] == ["approx_kl", "approx_kl"]
    assert health.active == ["approx_kl"]


def test_severe_kl_and_nonfinite_warn_at_once():
    health = quiet()
    assert "approx_kl = 0.6" in feed(health, [{"approx_kl": 0.6}])[0][0]  # > 10 x 0.05
    health = quiet()
    (messages,) = feed(health, [{"loss_critic": float("nan"), "grad_norm": float("inf")}])
    assert {m.split(":")[1].strip().split(" ")[0] for m in messages} == {"loss_critic", "grad_norm"}
    assert "non-finite" in messages[0]
    assert feed(health, [{"skipped_steps": 2.0}])[0][0].startswith("step 100: 2 optimizer step(s) skipped")


def test_clip_fraction_and_explained_variance():
    health = quiet()
    new = feed(health, [{"clip_fraction": 0.5}] * 3)
    assert new[2] and "clip_fraction = 0.5 > 0.3" in new[2][0]
    health = quiet()
    new = feed(health, [{"explained_variance": -0.5}] * 10)
    assert not any(new[:9]) and "critic is not learning" in new[9][0]  # patience 10 for this one
    health = quiet()
    assert not any(feed(health, [{"explained_variance": -0.05}] * 30))  # within the margin
    assert not any(feed(quiet(), [{"explained_variance": float("nan")}] * 30))  # NaN EV: skipped


def test_entropy_collapse_only_counts_early():
    health = quiet(total_steps=10_000)  # early: steps <= 2500
    new = feed(health, [{"entropy": 0.69}, {"entropy": 0.5}] + [{"entropy": 0.05}] * 3)
    assert "entropy = 0.05 fell below 0.1 x its highest value 0.69" in new[4][0]
    late = quiet(total_steps=1000)  # early: steps <= 250
    assert not any(feed(late, [{"entropy": 0.69}] * 2 + [{"entropy": 0.01}] * 10))
    gaussian = quiet()  # a differential entropy that starts below 0 is not checked
    assert not any(feed(gaussian, [{"entropy": -1.0}] + [{"entropy": -5.0}] * 5))


def test_grad_norm_against_its_early_median():
    health = quiet()
    norms = [1.0, 2.0, 3.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]  # baseline median 2
    new = feed(health, [{"grad_norm": g} for g in norms] + [{"grad_norm": 19.0}] * 3 + [{"grad_norm": 21.0}] * 3)
    assert not any(new[:13])
    assert "grad_norm = 21 is over 10 x its early median 2" in new[15][0]
    severe = quiet()
    new = feed(severe, [{"grad_norm": 2.0}] * 10 + [{"grad_norm": 201.0}])
    assert new[10]  # > 10 x 10 x the median: at once


def test_value_loss_growth():
    health = quiet()
    losses = [50.0, 10.0, 1.0] + [2.0] * 8 + [99.0] * 3 + [101.0] * 3
    new = feed(health, [{"loss_critic": v} for v in losses])
    assert not any(new[:16])
    assert "value loss = 101 is over 100 x its lowest 1" in new[16][0]
    # under the logged name (rl4py.loggers.names): losses/value_loss is loss_critic
    other = quiet()
    new = [other.update({"losses/value_loss": v}, step) for step, v in enumerate([1.0] * 11 + [500.0] * 3)]
    assert not any(new[:13]) and "value loss = 500" in new[13][0]


def test_reads_tensordicts_prefixed_names_and_skips_missing_figures():
    health = quiet()
    stats = TensorDict({"approx_kl": torch.tensor(0.9), "entropy": torch.tensor(0.5)}, batch_size=[])
    assert health.update(stats, 10)  # severe KL
    health = quiet()
    assert health.update({"losses/approx_kl": torch.tensor(0.9, dtype=torch.float64)}, 10)
    health = quiet()
    assert not any(health.update({"losses/clipfrac": 0.9}, step) for step in range(2))
    assert "clip_fraction = 0.9" in health.update({"losses/clipfrac": 0.9}, 2)[0]  # clipfrac is clip_fraction
    dqn = quiet()  # no PPO figures: nothing to check, nothing raised
    for step in range(20):
        assert dqn.update({"loss_qvalue": 1.0, "td_error": 0.5}, step) == []


def test_bad_input():
    health = quiet()
    with pytest.raises(ValueError, match="must be a scalar"):
        health.update({"approx_kl": torch.ones(3)}, 0)
    with pytest.raises(TypeError, match="must be a number"):
        health.update({"approx_kl": "high"}, 0)
    with pytest.raises(TypeError, match="mapping or a TensorDict"):
        health.update([0.1], 0)
    with pytest.raises(ValueError, match="patience must be an int >= 1"):
        HealthThresholds(patience=0)
    with pytest.raises(ValueError, match="entropy_collapse_fraction"):
        HealthThresholds(entropy_collapse_fraction=1.5)
    with pytest.raises(ValueError, match="total_steps"):
        TrainingHealth(total_steps=0)


def test_logger_gets_the_count_and_the_text(tmp_path):
    with JSONLinesLogger(tmp_path / "log.jsonl") as logger:
        health = TrainingHealth(logger=logger, echo=lambda m: None)
        feed(health, [{}, {"approx_kl": 0.9}, {"approx_kl": 0.9}, {}, {}, {}])
    counts = [(r["step"], r["value"]) for r in read_json_lines(tmp_path / "log.jsonl", "scalar", WARNINGS_KEY)]
    assert counts == [(100, 0.0), (200, 1.0), (300, 1.0), (400, 1.0), (500, 1.0), (600, 0.0)]
    texts = read_json_lines(tmp_path / "log.jsonl", "text", WARNINGS_KEY)
    assert [r["step"] for r in texts] == [200] and "approx_kl = 0.9" in texts[0]["value"]


def test_echo_defaults_to_the_python_logger(caplog):
    health = TrainingHealth()
    with caplog.at_level("WARNING", logger="rl4py.diagnostics"):
        health.update({"approx_kl": 1.0}, 5)
    assert "step 5: approx_kl = 1" in caplog.text


def test_state_dict_round_trip():
    health = quiet()
    feed(health, [{"approx_kl": 0.2}] * 2)
    restored = quiet()
    restored.load_state_dict(health.state_dict())
    assert feed(restored, [{"approx_kl": 0.2}], start=2)[0]  # the third bad update in a row
    assert restored.updates == 3


def test_plain_loop_hook_sees_every_update():
    from rl4py import CartPole
    from rl4py.trainers import PPOConfig, train_ppo

    seen = []
    health = quiet()

    def on_update(stats, frames):
        seen.append((frames, float(stats["approx_kl"])))
        health.update(stats, frames)

    config = PPOConfig(num_envs=4, rollout_length=16, total_frames=256, epochs=1, num_minibatches=2)
    train_ppo(CartPole(num_envs=4), config, on_update=on_update)
    assert [frames for frames, _ in seen] == [64 * i for i in range(1, 5)]
    assert health.updates == 4


@pytest.mark.parametrize("trainer", ["impala", "recurrent_ppo"])
def test_every_on_policy_plain_loop_takes_the_hook(trainer):
    from rl4py import CartPole
    from rl4py.trainers import ImpalaConfig, RecurrentPPOConfig, train_impala, train_recurrent_ppo

    seen = []
    if trainer == "impala":
        config = ImpalaConfig(num_envs=4, rollout_length=16, total_frames=192)
        train_impala(CartPole(num_envs=4), config, on_update=lambda stats, frames: seen.append((frames, stats)))
    else:
        config = RecurrentPPOConfig(num_envs=4, rollout_length=16, chunk_length=8, total_frames=192, num_minibatches=2)
        train_recurrent_ppo(CartPole(num_envs=4), config, on_update=lambda stats, frames: seen.append((frames, stats)))
    assert [frames for frames, _ in seen] == [64, 128, 192]
    assert all(torch.isfinite(stats["grad_norm"]).all() for _, stats in seen)


def test_lightning_callback_warns_on_a_broken_run(tmp_path):
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from rl4py.trainers import PPOConfig, PPOModule
    from rl4py.trainers.lightning_diagnostics import TrainingHealthCallback

    config = PPOConfig(num_envs=8, rollout_length=16, epochs=2, num_minibatches=2, lr=1.0, anneal_lr=False)
    pl.seed_everything(shift_seed(0), verbose=False)
    callback = TrainingHealthCallback()
    trainer = pl.Trainer(
        max_steps=8,
        accelerator="cpu",
        devices=1,
        logger=TensorBoardLogger(str(tmp_path), name="run"),
        log_every_n_steps=1,
        callbacks=[callback],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with pytest.warns(UserWarning, match="training health: step 128: approx_kl"):
        trainer.fit(PPOModule(config=config))
    assert callback.health.updates == 2  # 8 optimizer steps = 2 updates of 2 x 2 minibatches
    assert callback.health.history[0].check == "approx_kl"
    assert trainer.callback_metrics[WARNINGS_KEY].item() >= 1
    events = EventAccumulator(str(next(Path(tmp_path).rglob("events.out.tfevents.*"))))
    events.Reload()
    assert f"{WARNINGS_KEY}/text_summary" in events.Tags()["tensors"]
