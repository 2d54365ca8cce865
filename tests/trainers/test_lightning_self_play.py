"""SelfPlayModule: the league under a Lightning Trainer, its exact resume, and the recipes through rl4py fit."""

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from rl4py.cli import main
from rl4py.trainers import SelfPlayConfig, SelfPlayModule, build_self_play, self_play_update

SMALL = {"num_envs": 32, "rollout_length": 8, "matches_per_rollout": 4, "snapshot_every": 2}
RECIPES = Path(__file__).parents[2] / "recipes"


def _trainer(tmp_path, max_steps, **kwargs):
    return pl.Trainer(
        max_steps=max_steps,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **kwargs,
    )


def _weights(module):
    return torch.cat([p.detach().flatten() for p in module.learner_losses.parameters()])


def test_a_training_step_is_the_plain_loops_round(tmp_path):
    pl.seed_everything(5)
    module = SelfPlayModule(SelfPlayConfig(**SMALL))
    _trainer(tmp_path, 3, enable_checkpointing=False).fit(module)
    plain = build_self_play(SelfPlayConfig(seed=5, **SMALL))
    torch.manual_seed(5)
    for _ in range(3):
        self_play_update(plain)
    assert module.parts.rounds == 3 and module.global_env_frames == 3 * 3 * 32 * 8
    assert torch.equal(
        _weights(module),
        torch.cat([p.detach().flatten() for learner in plain.learners for p in learner.parts.loss.parameters()]),
    )
    assert sorted(module.parts.league.pool.names) == sorted(plain.league.pool.names)


def test_resume_from_a_checkpoint_continues_exactly(tmp_path):
    pl.seed_everything(1)
    straight = SelfPlayModule(SelfPlayConfig(**SMALL))
    _trainer(tmp_path / "a", 5, enable_checkpointing=False).fit(straight)
    pl.seed_everything(1)
    first = SelfPlayModule(SelfPlayConfig(**SMALL))
    trainer = _trainer(tmp_path / "b", 3, enable_checkpointing=False)
    trainer.fit(first)
    trainer.save_checkpoint(tmp_path / "three.ckpt")
    resumed = SelfPlayModule(SelfPlayConfig(**SMALL))
    _trainer(tmp_path / "c", 5, enable_checkpointing=False).fit(
        resumed, ckpt_path=tmp_path / "three.ckpt", weights_only=True
    )
    assert resumed.parts.rounds == 5
    assert torch.equal(_weights(resumed), _weights(straight))
    assert resumed.parts.league.pool.names == straight.parts.league.pool.names


def test_exploitability_is_logged_and_the_target_stops_the_run(tmp_path):
    pl.seed_everything(0)
    module = SelfPlayModule(SelfPlayConfig(eval_every=1, target_exploitability=0.455, **SMALL))
    trainer = _trainer(tmp_path, 200, enable_checkpointing=False)
    trainer.fit(module)
    assert module.solved and module.parts.rounds < 200
    assert trainer.callback_metrics["eval/exploitability_main"] >= 0
    assert min(module.evaluation.values()) <= 0.455


def test_seed_in_config_and_several_devices_are_refused(tmp_path):
    with pytest.raises(ValueError, match="seed_everything"):
        SelfPlayModule(SelfPlayConfig(seed=3))


@pytest.mark.parametrize("recipe", ["league_kuhn.yaml", "psro_kuhn.yaml", "self_play_tictactoe.yaml"])
def test_recipes_run_through_rl4py_fit(recipe, tmp_path):
    main(
        [
            "fit",
            "--config",
            str(RECIPES / recipe),
            "--trainer.logger",
            "false",
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.default_root_dir",
            str(tmp_path),
            "--trainer.max_steps",
            "3",
        ]
    )
    (checkpoint,) = (tmp_path / "checkpoints").glob("*.ckpt")
    saved = torch.load(checkpoint, weights_only=True)["rl4py"]
    assert saved["module"] == "rl4py.trainers.lightning_self_play.SelfPlayModule"
    assert saved["self_play"]["rounds"] == 3
