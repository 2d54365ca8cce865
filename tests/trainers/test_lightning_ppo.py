"""PPO through Lightning: training, exact resume, checkpoint contents."""

from __future__ import annotations

import warnings
from functools import partial

import lightning.pytorch as pl
import pytest
import torch
from lightning_helpers import quiet_trainer

from rl4py.losses import PPOLoss
from rl4py.trainers.lightning_ppo import PPOModule
from rl4py.values import VTrace

warnings.filterwarnings("ignore", ".*does not have many workers.*")

SMALL = dict(num_envs=8, rollout_length=16, epochs=2, num_minibatches=2, lr=1e-3)


def test_resume_continues_bitwise(tmp_path):
    # uninterrupted: 3 rollouts x 4 optimizer steps
    straight = PPOModule(**SMALL)
    quiet_trainer(12).fit(straight)

    first = PPOModule(**SMALL)
    trainer = quiet_trainer(4)
    trainer.fit(first)
    path = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(path)

    resumed = PPOModule(**SMALL, seed=123)  # a different init: everything must come from the checkpoint
    quiet_trainer(12).fit(resumed, ckpt_path=path)
    assert resumed.env_frames == straight.env_frames == 3 * 8 * 16
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resume"


def test_checkpoint_holds_env_rng_and_counters(tmp_path):
    model = PPOModule(**SMALL)
    trainer = quiet_trainer(4)
    trainer.fit(model)
    path = tmp_path / "c.ckpt"
    trainer.save_checkpoint(path)
    state = torch.load(path, weights_only=False)["rl4py"]["ranks"][0]
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
    trainer = quiet_trainer(3000)
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


def test_resume_with_lr_schedule_and_observation_norm_continues_bitwise(tmp_path):
    settings = dict(SMALL, anneal_lr=True, normalize_observations=True)
    straight = PPOModule(**settings)
    quiet_trainer(12).fit(straight)

    class Interrupt(pl.Callback):  # the run is cut after 4 of its 12 steps (the schedule spans 12)
        def on_train_batch_end(self, trainer, *args):
            trainer.should_stop = trainer.global_step >= 4

    first = PPOModule(**settings)
    trainer = quiet_trainer(12, callbacks=[Interrupt()])
    trainer.fit(first)
    assert trainer.global_step == 4
    # one rollout is 2 epochs x 2 minibatches = 4 optimizer steps: the schedule stepped once
    path = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=False)
    assert checkpoint["lr_schedulers"][0]["last_epoch"] == 1
    assert "mean" in checkpoint["rl4py"]["ranks"][0]["collector"]["env"]["env"]  # EpisodeStats(ObservationNorm)

    resumed = PPOModule(**settings, seed=5)
    resumed_trainer = quiet_trainer(12)
    resumed_trainer.fit(resumed, ckpt_path=path)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resume"
    norm_a, norm_b = straight.collector.env.env, resumed.collector.env.env  # EpisodeStats(ObservationNorm)
    assert torch.equal(norm_a.mean, norm_b.mean) and torch.equal(norm_a.var, norm_b.var)


def test_anneal_lr_decays_linearly_over_max_steps():
    model = PPOModule(**SMALL, anneal_lr=True)
    lrs = []

    class RecordLR(pl.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            lrs.append(module.optimizers().param_groups[0]["lr"])

    quiet_trainer(16, callbacks=[RecordLR()]).fit(model)  # 4 rollouts of 4 optimizer steps
    assert lrs == pytest.approx([1e-3, 0.75e-3, 0.5e-3, 0.25e-3])  # CleanRL: lr * (1 - (i - 1) / 4)
    with pytest.raises(ValueError, match="anneal_lr=True .* max_steps >= 1"):
        pl.Trainer(max_steps=-1, max_time="00:00:00:05", logger=False, enable_progress_bar=False).fit(
            PPOModule(**SMALL, anneal_lr=True)
        )


def test_checkpoints_load_for_evaluation_without_a_trainer_and_from_the_earlier_format(tmp_path):
    model = PPOModule(**SMALL)
    trainer = quiet_trainer(4)
    trainer.fit(model)
    path = tmp_path / "c.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=False)
    # as a 2-process run writes it: load_from_checkpoint (no trainer) takes the networks and rank 0's state
    two_ranks = {**checkpoint, "rl4py": {"ranks": checkpoint["rl4py"]["ranks"] * 2}}
    torch.save(two_ranks, tmp_path / "ddp.ckpt")
    loaded = PPOModule.load_from_checkpoint(tmp_path / "ddp.ckpt", weights_only=False)
    assert torch.equal(loaded.actor.module[0].weight, model.actor.module[0].weight)
    assert loaded.env_frames == 8 * 16 and loaded.collector is None  # no env built for a mere load
    # resuming that checkpoint in one process is refused
    with pytest.raises(ValueError, match="state of 2 ranks but this run has 1"):
        quiet_trainer(8).fit(PPOModule(**SMALL), ckpt_path=tmp_path / "ddp.ckpt", weights_only=False)
    # the single-process format written before per-rank states still resumes
    old = {**checkpoint, "rl4py": checkpoint["rl4py"]["ranks"][0]}
    torch.save(old, tmp_path / "old.ckpt")
    resumed = PPOModule(**SMALL)
    quiet_trainer(8).fit(resumed, ckpt_path=tmp_path / "old.ckpt", weights_only=False)
    assert resumed.env_frames == 2 * 8 * 16
