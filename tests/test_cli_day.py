"""The user's whole day through ``rl4py``: fit -> evaluate -> record -> export -> run the export ->
validate / test, and one step unit (env steps) in the bar, the logs and the checkpoint names."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from rl4py.cli import main

warnings.filterwarnings("ignore", ".*does not have many workers.*")
RECIPE = str(Path(__file__).parents[1] / "recipes" / "ppo_cartpole.yaml")
FRAMES_PER_ROLLOUT = 32 * 32  # the recipe's num_envs x rollout_length
STEPS_PER_ROLLOUT = 6  # epochs x num_minibatches: Lightning's global_step per rollout


def _cli(*args: str):
    """Runs ``main`` and returns the LightningCLI it made."""
    from lightning.pytorch.cli import LightningCLI

    captured = {}
    original = LightningCLI.__init__

    def spy(self, *a, **k):
        captured["cli"] = self
        original(self, *a, **k)

    LightningCLI.__init__ = spy
    try:
        main(list(args))
    finally:
        LightningCLI.__init__ = original
    return captured["cli"]


def _loggers(root: Path) -> str:
    return json.dumps(
        [
            {"class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": {"save_dir": str(root)}},
            {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(root)}},
        ]
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One short fit of the CartPole recipe with the CLI's defaults (bar, checkpoint, logging)."""
    root = tmp_path_factory.mktemp("day")
    rollouts = 3
    cli = _cli(
        "fit",
        "--config",
        RECIPE,
        "--trainer.max_steps",
        str(rollouts * STEPS_PER_ROLLOUT),
        "--trainer.default_root_dir",
        str(root),
        "--trainer.logger",
        _loggers(root),
    )
    return cli, root, rollouts * FRAMES_PER_ROLLOUT


def test_the_bar_the_logs_and_the_checkpoint_names_count_env_steps(run):
    from rl4py.trainers.lightning_callbacks import EnvStepCheckpoint, EnvStepProgressBar

    cli, root, frames = run
    assert cli.model.global_env_frames == frames
    (bar,) = [c for c in cli.trainer.callbacks if isinstance(c, EnvStepProgressBar)]
    assert bar.train_progress_bar.total == frames and bar.train_progress_bar.n == frames  # max_steps -> 3 rollouts
    (checkpoint,) = [c for c in cli.trainer.callbacks if isinstance(c, EnvStepCheckpoint)]
    assert Path(checkpoint.best_model_path).name == f"env_steps={frames}.ckpt"

    # every rollout logged (log_every_n_steps=1), at x = env steps, in TensorBoard and in the CSV
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    expected = [FRAMES_PER_ROLLOUT * (i + 1) for i in range(frames // FRAMES_PER_ROLLOUT)]
    (events,) = [p.parent for p in root.rglob("events.out.tfevents.*")]
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    assert [e.step for e in accumulator.Scalars("losses/policy_loss")] == expected
    assert [e.value for e in accumulator.Scalars("charts/env_steps")] == expected
    (metrics,) = list(root.rglob("metrics.csv"))
    rows = list(csv.DictReader(metrics.open()))
    assert [int(row["step"]) for row in rows if row.get("losses/policy_loss")] == expected
    assert cli.trainer.callback_metrics["charts/env_steps"].item() == frames


def test_a_python_trainer_takes_the_same_callbacks(tmp_path):
    import lightning.pytorch as pl

    from rl4py.trainers import PPOConfig
    from rl4py.trainers.lightning_callbacks import EnvStepCheckpoint, EnvStepProgressBar
    from rl4py.trainers.lightning_ppo import PPOModule

    pl.seed_everything(0, verbose=False)
    config = PPOConfig(num_envs=8, rollout_length=16, epochs=2, num_minibatches=1, total_frames=8 * 16 * 10)
    model = PPOModule("CartPole", config)
    bar, every = EnvStepProgressBar(refresh_interval=0), EnvStepCheckpoint(every_n_env_steps=300, save_top_k=-1)
    trainer = pl.Trainer(
        max_steps=7,  # 2 optimizer steps a rollout: 4 rollouts, before total_frames' 10
        max_epochs=-1,
        default_root_dir=tmp_path,
        logger=False,
        enable_model_summary=False,
        callbacks=[bar, every],
    )
    trainer.fit(model)
    assert model.global_env_frames == 4 * 128 and bar.train_progress_bar.total == 4 * 128
    names = sorted(p.name for p in Path(every.dirpath).glob("*.ckpt"))
    # 128-step rollouts cross 300 at 384 (once); the end of training saves at 512
    assert names == ["env_steps=384.ckpt", "env_steps=512.ckpt"]
    with pytest.raises(ValueError, match="every_n_env_steps must be >= 1"):
        EnvStepCheckpoint(every_n_env_steps=0)


def test_evaluate_record_export_and_the_exports_act_as_the_checkpoint(run, tmp_path, capsys):
    import onnxruntime
    from PIL import Image

    from rl4py.trainers import load_checkpoint

    cli, _, frames = run
    ckpt = cli.trainer.checkpoint_callback.best_model_path
    capsys.readouterr()
    main(["evaluate", ckpt, "--episodes", "4", "--max-steps", "600"])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [line["mode"] for line in lines] == ["greedy", "sampled"] and lines[0]["episodes"] == 4

    gif = tmp_path / "run.gif"
    main(["record", ckpt, "--out", str(gif), "--episodes", "2", "--max-steps", "25", "--fps", "20"])
    line = json.loads(capsys.readouterr().out)
    assert line["frames"] == sum(line["episode_lengths"]) and len(line["episode_lengths"]) == 2
    with Image.open(gif) as image:
        assert image.size == (600, 400) and image.n_frames >= 2
    mp4 = tmp_path / "gym.mp4"  # a gymnasium id: made with render_mode="rgb_array"
    main(["record", ckpt, "--out", str(mp4), "--env", "CartPole-v1", "--max-steps", "10"])
    line = json.loads(capsys.readouterr().out)
    assert mp4.stat().st_size > 0 and (line["width"], line["height"]) == (600, 400) and line["frames"] <= 10

    module = load_checkpoint(ckpt)
    obs = torch.randn(7, 4) * torch.tensor([1.0, 1.0, 0.1, 1.0])
    expected = module.predict(obs)
    onnx_path, program_path = tmp_path / "policy.onnx", tmp_path / "policy.pt2"
    main(["export", ckpt, "--format", "onnx", "--out", str(onnx_path)])
    main(["export", ckpt, "--format", "torch-export", "--out", str(program_path)])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert lines[0]["outputs"] == ["action", "logits"] and lines[0]["normalized_observations"] is False
    session = onnxruntime.InferenceSession(str(onnx_path))
    (action, _) = session.run(None, {"observation": obs.numpy()})
    assert np.array_equal(action, expected.numpy())
    program = torch.export.load(str(program_path)).module()
    assert torch.equal(program(obs)[0], expected)


def test_the_subcommands_refuse_bad_input_with_a_message(run, tmp_path, capsys):
    cli, _, _ = run
    ckpt = cli.trainer.checkpoint_callback.best_model_path
    for args, message in [
        (["record", ckpt, "--out", str(tmp_path / "x.avi")], "--out must end in .gif or .mp4"),
        (["record", str(tmp_path / "missing.ckpt"), "--out", str(tmp_path / "x.gif")], "no checkpoint file at"),
        (["record", ckpt, "--out", str(tmp_path / "x.gif"), "--env", "NoSuchEnv-v0"], "unknown env 'NoSuchEnv-v0'"),
        (["export", ckpt, "--format", "tflite", "--out", str(tmp_path / "x")], "invalid choice: 'tflite'"),
        (["evaluate", ckpt, "--episodes", "0"], "--episodes must be >= 1"),
    ]:
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 2
        assert message in capsys.readouterr().err


def test_validate_and_test_play_evaluation_episodes(run, capsys):
    import lightning.pytorch as pl

    from rl4py.trainers import load_checkpoint

    cli, root, _ = run
    ckpt = cli.trainer.checkpoint_callback.best_model_path
    # default_root_dir: where the CLI saves the resolved config.yaml (not the working directory)
    quiet = [
        "--trainer.logger",
        "false",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.default_root_dir",
        str(root),
    ]
    validated = _cli("validate", "--config", RECIPE, *quiet, "--ckpt_path", ckpt)
    tested = _cli("test", "--config", RECIPE, *quiet, "--ckpt_path", ckpt)
    reference = load_checkpoint(ckpt)
    runs = ((validated, "eval", reference.validation_seed), (tested, "test", reference.test_seed))
    for cli_run, prefix, seed in runs:
        metrics = cli_run.trainer.callback_metrics
        returns = reference.evaluate(seed=seed)  # the same 16 greedy episodes
        assert metrics[f"{prefix}/mean_return"].item() == pytest.approx(float(returns.mean()))
        assert metrics[f"{prefix}/min_return"].item() == float(returns.min())
        assert metrics[f"{prefix}/episodes"].item() == 16
    # from Python: a fitted module validates without a checkpoint
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    (result,) = trainer.validate(cli.model)
    assert result["eval/mean_return"] == pytest.approx(float(reference.evaluate().mean()))


def test_a_normalize_observations_run_evaluates_and_exports_with_its_statistics(tmp_path, capsys):
    import onnxruntime

    from rl4py.trainers import load_checkpoint

    cli = _cli(
        "fit",
        "--config",
        RECIPE,
        "--trainer.max_steps",
        str(2 * STEPS_PER_ROLLOUT),
        "--trainer.default_root_dir",
        str(tmp_path),
        "--trainer.logger",
        "false",
        "--trainer.enable_progress_bar",
        "false",
        "--model.init_args.normalize_observations",
        "true",
    )
    ckpt = cli.trainer.checkpoint_callback.best_model_path
    module = load_checkpoint(ckpt)
    stats = module.observation_statistics()
    assert stats is not None and stats["count"].item() > 2 * FRAMES_PER_ROLLOUT  # the run's, not the defaults
    trained = cli.model.observation_statistics()
    assert torch.equal(stats["mean"], trained["mean"]) and torch.equal(stats["var"], trained["var"])
    main(["evaluate", ckpt, "--episodes", "2", "--max-steps", "600"])  # no longer refused
    onnx_path = tmp_path / "norm.onnx"
    main(["export", ckpt, "--format", "onnx", "--out", str(onnx_path)])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["normalized_observations"] is True
    raw = torch.randn(9, 4) * torch.tensor([1.0, 1.0, 0.1, 1.0])
    transform = module.observation_transform()
    normalized = ((raw.double() - stats["mean"]) / torch.sqrt(stats["var"] + 1e-8)).clamp(-10, 10).float()
    assert torch.equal(transform(raw), normalized)  # ObservationNorm's arithmetic
    (action, logits) = onnxruntime.InferenceSession(str(onnx_path)).run(None, {"observation": raw.numpy()})
    assert np.array_equal(action, module.predict(normalized).numpy())
