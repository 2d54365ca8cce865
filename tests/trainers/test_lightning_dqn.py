"""DQN through Lightning: exact resume (replay buffer and epsilon included) and learning."""

from __future__ import annotations

import warnings

import lightning.pytorch as pl
import torch
from lightning_helpers import quiet_trainer

from rl4py.trainers import DQNConfig
from rl4py.trainers.lightning_dqn import DQNModule

warnings.filterwarnings("ignore", ".*does not have many workers.*")

SMALL = DQNConfig(num_envs=4, buffer_size=500, batch_size=16, learning_starts=40, train_frequency=4, gradient_steps=2)


def _fit(model, max_steps, seed=0, ckpt_path=None, **kwargs):
    pl.seed_everything(seed, verbose=False)
    trainer = quiet_trainer(max_steps, **kwargs)
    trainer.fit(model, ckpt_path=ckpt_path)
    return trainer


def test_resume_continues_bitwise(tmp_path):
    # max_steps counts optimizer steps: warm-up rollouts (40 frames = 3 rollouts) make none
    straight = DQNModule(config=SMALL)
    _fit(straight, 20)

    first = DQNModule(config=SMALL)
    trainer = _fit(first, 8)
    path = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(path)
    resumed = DQNModule(config=SMALL)
    _fit(resumed, 20, seed=99, ckpt_path=path)

    assert resumed.updates == straight.updates == 20
    assert resumed.env_frames == straight.env_frames
    assert resumed.parts.exploration.steps == straight.parts.exploration.steps
    assert torch.equal(
        resumed.parts.exploration.generator.get_state(), straight.parts.exploration.generator.get_state()
    )
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), f"{name} differs after resume"
        else:  # extra state (the epsilon schedule)
            assert repr(a) == repr(b), f"{name} differs after resume"
    assert len(resumed.buffer) == len(straight.buffer)
    torch.testing.assert_close(
        resumed.buffer.sample(8).get("observation"), straight.buffer.sample(8).get("observation")
    )


def test_masked_env_stores_masks_and_never_picks_a_forbidden_action():
    from rl4py.envs.gridworld import CORRIDOR_LAYOUT

    model = DQNModule(
        env="GridWorld",
        env_kwargs={"layout": list(CORRIDOR_LAYOUT), "max_episode_steps": 40, "validate": True},
        config=SMALL,
    )
    _fit(model, 10)  # a forbidden action would raise inside the validating env
    assert model.loss.next_action_mask_key == ("next", "action_mask")
    sample = model.buffer.sample(4)
    assert sample.get(("next", "action_mask")).dtype == torch.bool


def test_bad_settings_fail_at_construction_naming_the_module():
    import pytest

    with pytest.raises(ValueError, match="DQNConfig: gradient_steps must be >= 1, got 0"):
        DQNModule(config={"gradient_steps": 0})
    with pytest.raises(ValueError, match="DQNConfig: one rollout of num_envs \\* train_frequency = 64"):
        DQNModule(config=DQNConfig(num_envs=16, train_frequency=4, buffer_size=32))


def test_weights_export_and_checkpoint_load_into_a_fresh_module(tmp_path):
    from rl4py.trainers.weights import load_weights, save_weights

    model = DQNModule(config=SMALL)
    trainer = _fit(model, 4)
    path = tmp_path / "dqn.ckpt"
    trainer.save_checkpoint(path)
    fresh, other = DQNModule(config=SMALL), DQNModule(config=SMALL)
    torch.manual_seed(3)
    fresh.configure_model()
    torch.manual_seed(4)
    other.configure_model()
    fresh = load_weights(fresh, path)  # the Lightning checkpoint, weights_only=True
    exported = load_weights(other, save_weights(model, tmp_path / "dqn"))
    for other in (fresh, exported):
        for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
            assert torch.equal(a, b), name
