"""The V-trace actor-critic through Lightning: lagging behaviour policy, exact resume, learning."""

from __future__ import annotations

import warnings

import lightning.pytorch as pl
import pytest
import torch
from lightning_helpers import quiet_trainer

from rl4py.losses import PPOLoss
from rl4py.testing import shift_seed
from rl4py.trainers import ImpalaConfig
from rl4py.trainers.impala import UPGO_ADVANTAGE
from rl4py.trainers.lightning_impala import ImpalaModule
from rl4py.values import GAE

warnings.filterwarnings("ignore", ".*does not have many workers.*")

SMALL = ImpalaConfig(num_envs=8, rollout_length=16, num_minibatches=2, policy_lag=2)


def _fit(model, max_steps, seed=0, ckpt_path=None, **kwargs):
    pl.seed_everything(seed, verbose=False)
    trainer = quiet_trainer(max_steps, **kwargs)
    trainer.fit(model, ckpt_path=ckpt_path)
    return trainer


class _RecordActor(pl.Callback):
    """The learner's weights after each training step."""

    def __init__(self) -> None:
        self.weights: list[list[torch.Tensor]] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.weights.append([p.detach().clone() for p in module.actor.parameters()])


@pytest.mark.parametrize("lag", [0, 2])
def test_behaviour_actor_is_the_learner_from_policy_lag_updates_ago(lag):
    record = _RecordActor()
    model = ImpalaModule(config=SMALL.replace(policy_lag=lag))
    _fit(model, 5 * 2, callbacks=[record])  # 5 rollouts x 2 minibatches
    assert model.training_steps == 5 and len(record.weights) == 5
    expected = record.weights[-1 - lag]
    for b, e in zip(model.behaviour.parameters(), expected):
        assert torch.equal(b, e)
    assert not any(p.requires_grad for p in model.behaviour.parameters())
    if lag:
        assert not all(torch.equal(a, b) for a, b in zip(model.actor.parameters(), model.behaviour.parameters()))


def test_resume_continues_bitwise(tmp_path):
    config = SMALL.replace(upgo=True)
    straight = ImpalaModule(config=config)
    _fit(straight, 12)

    first = ImpalaModule(config=config)
    trainer = _fit(first, 6)
    path = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(path)
    state = torch.load(path, weights_only=True)["rl4py"]["ranks"][0]
    assert len(state["actor_snapshots"]) == 3 and state["training_steps"] == 3

    resumed = ImpalaModule(config=config)
    _fit(resumed, 12, seed=77, ckpt_path=path)  # everything must come from the checkpoint
    assert resumed.training_steps == straight.training_steps == 6
    assert resumed.env_frames == straight.env_frames == 6 * 8 * 16
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resume"


def test_resume_with_a_shorter_policy_lag_raises(tmp_path):
    trainer = _fit(ImpalaModule(config=SMALL), 6)
    path = tmp_path / "lag2.ckpt"
    trainer.save_checkpoint(path)
    with pytest.raises(ValueError, match="policy_lag"):
        _fit(ImpalaModule(config=SMALL.replace(policy_lag=0)), 8, ckpt_path=path)


@pytest.mark.slow
def test_impala_module_solves_cartpole_from_stale_rollouts():
    config = ImpalaConfig(policy_lag=2, target_return=475.0, total_frames=600_000)
    for seed in (shift_seed(0), shift_seed(1)):  # one of two seeds within the budget
        model = ImpalaModule(config=config)
        _fit(model, 100_000, seed=seed)
        if model.mean_recent_return >= 475.0:
            break
    assert model.mean_recent_return >= 475.0, f"{model.mean_recent_return:.1f} after {model.env_frames} frames"
    assert model.env_frames < config.total_frames


def test_components_are_wired_to_the_modules_networks():
    model = ImpalaModule(config=SMALL.replace(upgo=True))
    model.configure_model()
    assert model.value_estimator.value_network is model.critic
    assert model.value_estimator.actor is model.actor  # V-trace's target policy is the learner
    assert model.loss.advantage_keys == ["advantage", UPGO_ADVANTAGE]
    assert model.upgo is not None and model.upgo.actor is model.actor
    gae = ImpalaModule(config=SMALL, value_estimator=GAE(0.9, 0.9))
    gae.configure_model()
    assert gae.value_estimator.value_network is gae.critic


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="ImpalaConfig: policy_lag must be >= 0"):
        ImpalaConfig(policy_lag=-1)
    with pytest.raises(ValueError, match="num_minibatches=3"):
        _fit(ImpalaModule(config=SMALL.replace(num_minibatches=3)), 2)
    with pytest.raises(TypeError, match="advantage_keys"):
        ImpalaModule(config=SMALL.replace(upgo=True), loss=PPOLoss).configure_model()


def test_normalize_observations_wraps_the_rank_env():
    from rl4py.envs.wrappers import ObservationNorm, find_wrapper

    model = ImpalaModule(config=SMALL, normalize_observations=True)
    _fit(model, 2)
    norm = find_wrapper(model.collector.env, ObservationNorm)
    # one rollout: the reset batch, 16 steps of 8 envs, and the first observation of each new episode
    assert norm is not None and float(norm.count) == 8 + 8 * 16 + model.last_returns.numel()
    assert find_wrapper(ImpalaModule(config=SMALL).make_rank_env(), ObservationNorm) is None
