"""PPO's clip-range schedule (anneal_clip) and the gSDE noise reset, in the plain loop and through Lightning."""

from __future__ import annotations

import warnings

import lightning.pytorch as pl
import pytest
import torch
from lightning_helpers import quiet_trainer

from rl4py.envs.pendulum import Pendulum
from rl4py.losses import PPOLoss
from rl4py.modules import GSDEActor
from rl4py.trainers import PPOConfig, train_ppo
from rl4py.trainers.lightning_ppo import PPOModule
from rl4py.trainers.ppo import ppo_clip_epsilon

warnings.filterwarnings("ignore", ".*does not have many workers.*")


def test_clip_epsilon_schedule() -> None:
    config = PPOConfig(clip_epsilon=0.2, anneal_clip=True, total_frames=1000)
    assert ppo_clip_epsilon(config, 0) == pytest.approx(0.2)
    assert ppo_clip_epsilon(config, 250) == pytest.approx(0.15)
    assert ppo_clip_epsilon(config, 1000) == pytest.approx(1e-8)  # floored: the loss needs > 0
    assert ppo_clip_epsilon(config.replace(anneal_clip=False), 900) == 0.2


def test_plain_loop_anneals_the_loss_clip_range(monkeypatch) -> None:
    seen = []
    forward = PPOLoss.forward

    def spy(self, td):
        seen.append(self.clip_epsilon)
        return forward(self, td)

    monkeypatch.setattr(PPOLoss, "forward", spy)
    config = PPOConfig(num_envs=4, rollout_length=8, epochs=1, num_minibatches=1, anneal_clip=True, total_frames=128)
    train_ppo(Pendulum(num_envs=4), config)
    # 4 rollouts of 32 frames: the clip range for the rollout after f frames is 0.2 (1 - f / 128)
    assert seen == pytest.approx([0.2, 0.15, 0.1, 0.05])


def test_lightning_module_anneals_clip_and_resets_gsde_noise(monkeypatch) -> None:
    resets = []
    monkeypatch.setattr(GSDEActor, "reset_noise", lambda self: resets.append(1))
    config = PPOConfig(
        num_envs=4, rollout_length=8, epochs=1, num_minibatches=1, gsde=True, anneal_clip=True, total_frames=128
    )
    model = PPOModule("Pendulum", config)
    pl.seed_everything(0, verbose=False)
    quiet_trainer(3).fit(model)
    assert isinstance(model.actor, GSDEActor)
    assert len(resets) == 3  # one after each update
    assert model.loss.clip_epsilon == pytest.approx(0.2 * (1 - 64 / 128))  # set for the third rollout
    assert torch.isfinite(model.actor.module.log_std).all()
