"""The rl4py command: recipes train, components swap from the command line, bad configs fail early."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pytest

from rl4py.cli import main
from rl4py.values import GAE, VTrace

warnings.filterwarnings("ignore", ".*does not have many workers.*")
RECIPES = Path(__file__).parents[1] / "recipes"
RECIPE = str(RECIPES / "ppo_cartpole.yaml")
QUIET = [
    "--trainer.logger",
    "false",
    "--trainer.enable_progress_bar",
    "false",
    "--trainer.enable_checkpointing",
    "false",
    "--trainer.default_root_dir",  # where the CLI saves the resolved config.yaml
    tempfile.mkdtemp(prefix="rl4py-cli-"),
]


def _fit(*extra: str, recipe: str = RECIPE):
    from lightning.pytorch.cli import LightningCLI

    captured = {}
    original = LightningCLI.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        captured["cli"] = self

    LightningCLI.__init__ = spy
    try:
        main(["fit", "--config", recipe, *QUIET, *extra])
    finally:
        LightningCLI.__init__ = original
    return captured["cli"]


@pytest.mark.slow
def test_recipe_solves_cartpole_with_trainer_defaults():
    cli = _fit()
    assert cli.model.mean_recent_return >= 475.0
    assert cli.trainer.global_step < cli.trainer.max_steps  # stopped by the target, not the budget


def test_impala_recipe_solves_cartpole_and_swaps_upgo_on():
    from rl4py.trainers.impala_loop import UPGO_ADVANTAGE
    from rl4py.trainers.lightning_impala import ImpalaModule

    impala = str(RECIPES / "impala_cartpole.yaml")
    cli = _fit(recipe=impala)
    assert isinstance(cli.model, ImpalaModule) and isinstance(cli.model.value_estimator, VTrace)
    assert cli.model.mean_recent_return >= 475.0
    assert cli.trainer.global_step < cli.trainer.max_steps
    upgo = _fit("--trainer.max_steps", "4", "--model.init_args.upgo", "true", recipe=impala)
    assert upgo.model.upgo is not None and UPGO_ADVANTAGE in upgo.model.loss.advantage_keys


@pytest.mark.slow
def test_one_override_swaps_gae_for_vtrace_and_still_trains():
    gae = _fit("--trainer.max_steps", "60")
    vtrace = _fit("--trainer.max_steps", "60", "--model.value_estimator.class_path", "rl4py.values.VTrace")
    assert type(gae.model.value_estimator) is GAE
    assert isinstance(vtrace.model.value_estimator, VTrace)
    assert vtrace.model.value_estimator.actor is vtrace.model.actor
    assert vtrace.trainer.global_step == 60
    assert vtrace.model.mean_recent_return > 30.0  # learning: a random policy averages ~22


def test_loss_override_reaches_the_loss():
    cli = _fit("--trainer.max_steps", "6", "--model.loss.init_args.dual_clip", "3.0")
    assert cli.model.loss.dual_clip == 3.0


def test_unknown_key_fails_fast(capsys):
    with pytest.raises(SystemExit) as info:
        main(["fit", "--config", RECIPE, "--model.init_args.learning_rate_typo", "0.1"])
    assert info.value.code != 0
    assert "learning_rate_typo" in capsys.readouterr().err


def test_wrong_type_fails_fast(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--config", RECIPE, "--model.init_args.num_envs", "many"])
    assert "num_envs" in capsys.readouterr().err


def test_missing_env_id_fails_fast():
    # raised while the CLI instantiates the model, before any training
    with pytest.raises(ValueError, match=r"unknown env 'NoSuchEnv-v0'.*gymnasium id"):
        main(["fit", "--config", RECIPE, *QUIET, "--model.init_args.env", "NoSuchEnv-v0"])


def test_checkpoints_load_without_unpickling_by_default(tmp_path):
    from rl4py.cli import _safe_checkpoint_loading

    assert _safe_checkpoint_loading(["fit", "--config", "x.yaml"]) == [
        "fit",
        "--weights_only=true",
        "--config",
        "x.yaml",
    ]
    assert _safe_checkpoint_loading(["fit", "--weights_only", "false"]) == ["fit", "--weights_only", "false"]
    assert _safe_checkpoint_loading(["--help"]) == ["--help"]
    first = _fit("--trainer.max_steps", "6", "--trainer.default_root_dir", str(tmp_path))
    path = tmp_path / "mid.ckpt"
    first.trainer.save_checkpoint(path)
    resumed = _fit("--trainer.max_steps", "12", "--ckpt_path", str(path))
    assert resumed.trainer.global_step == 12 and resumed.model.env_frames == 2 * 32 * 32


def test_dqn_recipe_solves_cartpole():
    from rl4py.trainers.lightning_dqn import DQNModule

    cli = _fit(recipe=str(RECIPES / "dqn_cartpole.yaml"))
    assert isinstance(cli.model, DQNModule) and cli.model.loss.double_dqn
    assert cli.model.mean_recent_return >= 475.0
    assert cli.trainer.global_step < cli.trainer.max_steps
