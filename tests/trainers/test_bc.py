"""Behaviour cloning and distillation as a trainer: plain loop, LightningModule, recipe."""

from __future__ import annotations

import warnings

import lightning.pytorch as pl
import pytest
import torch
from lightning_helpers import quiet_trainer

from rl4py import CartPole
from rl4py.testing import shift_seed
from rl4py.trainers import BCConfig, PPOConfig, collect_demonstrations, evaluate_policy, train_bc, train_ppo

warnings.filterwarnings("ignore", ".*does not have many workers.*")

FAST_PPO = PPOConfig(
    num_envs=32,
    rollout_length=32,
    lr=1e-2,
    anneal_lr=False,
    num_minibatches=1,
    epochs=6,
    entropy_coeff=0.0,
    clip_value=False,
    total_frames=300_000,
)


@pytest.fixture(scope="module")
def teacher():
    """A PPO agent trained until its greedy return, on unseen starts, is at least 400."""
    for seed in range(3):
        result = train_ppo(CartPole(num_envs=32), FAST_PPO.replace(seed=shift_seed(seed), target_return=480.0))
        actor = result.actor
        if evaluate_policy(CartPole(num_envs=16), actor, seed=10_000).float().mean() >= 400:
            return actor
    pytest.fail("no teacher reached a greedy return of 400 in 3 seeds")


def _greedy_return(policy) -> float:
    return float(evaluate_policy(CartPole(num_envs=16), policy, seed=20_000 + shift_seed(0)).float().mean())


@pytest.mark.slow
def test_cloning_a_dataset_reaches_ninety_percent_of_the_teacher(teacher):
    data = collect_demonstrations(CartPole(num_envs=16), teacher, 16 * 500, seed=shift_seed(1))
    assert data.batch_size == torch.Size([16 * 500])
    teacher_return = _greedy_return(teacher)
    config = BCConfig(epochs=20, seed=shift_seed(0))
    result = train_bc(CartPole(num_envs=16), config, dataset=data, eval_episodes=16)
    assert result.updates == 20 * (16 * 500 // 256)
    assert result.mean_return >= 0.9 * teacher_return, (result.mean_return, teacher_return)


@pytest.mark.slow
def test_distillation_from_a_teacher_reaches_ninety_percent_and_dagger_states_work(teacher):
    teacher_return = _greedy_return(teacher)
    for collect_with in ("teacher", "student"):
        config = BCConfig(
            total_frames=16_384, rollout_length=64, epochs=4, collect_with=collect_with, seed=shift_seed(0)
        )
        result = train_bc(CartPole(num_envs=8), config, teacher=teacher, eval_episodes=16)
        assert result.frames == 16_384
        assert result.mean_return >= 0.9 * teacher_return, (collect_with, result.mean_return, teacher_return)
        assert not any(p.requires_grad for p in teacher.parameters())


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="exactly one of dataset= .* and teacher="):
        train_bc(CartPole(num_envs=2), BCConfig())
    with pytest.raises(ValueError, match="collect_with must be one of"):
        BCConfig(collect_with="nobody")
    from rl4py.trainers.lightning_bc import BCModule, load_demonstrations

    with pytest.raises(ValueError, match="exactly one of dataset"):
        BCModule()
    with pytest.raises(FileNotFoundError, match="not a TensorDict saved with td.memmap"):
        load_demonstrations("/nonexistent/demos")


def test_bc_module_clones_a_saved_dataset_and_distills_a_checkpoint(tmp_path):
    from rl4py.trainers import PPOModule
    from rl4py.trainers.lightning_bc import BCModule

    # a (briefly trained) teacher checkpoint through Lightning
    pl.seed_everything(0, verbose=False)
    ppo = PPOModule(config=PPOConfig(num_envs=8, rollout_length=16, total_frames=8 * 16 * 4))
    trainer = quiet_trainer(1000)
    trainer.fit(ppo)
    ckpt = tmp_path / "teacher.ckpt"
    trainer.save_checkpoint(ckpt)

    demos = collect_demonstrations(CartPole(num_envs=8), ppo.actor, 2000)
    demos.memmap(tmp_path / "demos")
    clone = BCModule(config=BCConfig(epochs=10, batch_size=64, lr=3e-3), dataset=str(tmp_path / "demos"))
    pl.seed_everything(0, verbose=False)
    quiet_trainer(1000).fit(clone)
    assert clone.training_steps == 10
    with torch.no_grad():
        agreement = (clone.actor(demos.clone())["action"] == demos["action"]).float().mean()
    assert agreement > 0.8  # fitted to the labels (a random policy agrees half the time)

    distill = BCModule(config=BCConfig(total_frames=8 * 64 * 2, num_envs=8, epochs=2), teacher=str(ckpt))
    pl.seed_everything(0, verbose=False)
    quiet_trainer(1000).fit(distill)
    assert distill.env_frames == 8 * 64 * 2
    assert torch.equal(distill.parts.teacher.module[0].weight, ppo.actor.module[0].weight)
