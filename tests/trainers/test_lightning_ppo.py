"""PPO through Lightning: training, exact resume, checkpoint contents."""

from __future__ import annotations

import warnings
from functools import partial

import lightning.pytorch as pl
import pytest
import torch

from rl4py.losses import PPOLoss
from rl4py.trainers.lightning_ppo import PPOModule
from rl4py.values import VTrace

warnings.filterwarnings("ignore", ".*does not have many workers.*")

SMALL = dict(num_envs=8, rollout_length=16, epochs=2, num_minibatches=2, lr=1e-3)


def _trainer(max_steps: int, tmp_path=None, **kwargs) -> pl.Trainer:
    return pl.Trainer(
        max_steps=max_steps,
        max_epochs=-1,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **kwargs,
    )


def test_resume_continues_bitwise(tmp_path):
    # uninterrupted: 3 rollouts x 4 optimizer steps
    straight = PPOModule(**SMALL)
    _trainer(12).fit(straight)

    first = PPOModule(**SMALL)
    trainer = _trainer(4)
    trainer.fit(first)
    path = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(path)

    resumed = PPOModule(**SMALL, seed=123)  # a different init: everything must come from the checkpoint
    _trainer(12).fit(resumed, ckpt_path=path)
    assert resumed.env_frames == straight.env_frames == 3 * 8 * 16
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resume"


def test_checkpoint_holds_env_rng_and_counters(tmp_path):
    model = PPOModule(**SMALL)
    trainer = _trainer(4)
    trainer.fit(model)
    path = tmp_path / "c.ckpt"
    trainer.save_checkpoint(path)
    state = torch.load(path, weights_only=False)["rl4py"]
    assert state["env_frames"] == 8 * 16
    assert {"collector", "torch_rng", "shuffle_rng", "recent_returns"} <= set(state)
    assert "env" in state["collector"] and state["collector"]["frames"] == 8 * 16


def test_ppo_module_solves_cartpole():
    model = PPOModule(
        num_envs=32,
        rollout_length=32,
        lr=1e-2,
        epochs=6,
        num_minibatches=1,
        target_return=475.0,
        loss=partial(PPOLoss, entropy_coeff=0.0, clip_value=False),
    )
    trainer = _trainer(3000)
    trainer.fit(model)
    assert model.mean_recent_return >= 475.0, f"{model.mean_recent_return:.1f} after {model.env_frames} frames"
    assert trainer.global_step < 3000


def test_value_estimator_gets_the_modules_networks():
    model = PPOModule(**SMALL, value_estimator=VTrace(gamma=0.9))
    assert model.value_estimator.value_network is model.critic
    assert model.value_estimator.actor is model.actor


def test_bad_minibatch_split_raises():
    with pytest.raises(ValueError, match="num_minibatches=3"):
        PPOModule(num_envs=8, rollout_length=16, num_minibatches=3)
