"""The V-trace actor-critic through Lightning: lagging behaviour policy, exact resume, learning."""

from __future__ import annotations

import warnings

import lightning.pytorch as pl
import pytest
import torch
from lightning_helpers import quiet_trainer

from rl4py.losses import PPOLoss
from rl4py.trainers.impala_loop import UPGO_ADVANTAGE
from rl4py.trainers.lightning_impala import ImpalaModule
from rl4py.values import GAE

warnings.filterwarnings("ignore", ".*does not have many workers.*")

SMALL = dict(num_envs=8, rollout_length=16, num_minibatches=2, policy_lag=2)


class _RecordActor(pl.Callback):
    """The learner's weights after each training step."""

    def __init__(self) -> None:
        self.weights: list[list[torch.Tensor]] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.weights.append([p.detach().clone() for p in module.actor.parameters()])


@pytest.mark.parametrize("lag", [0, 2])
def test_behaviour_actor_is_the_learner_from_policy_lag_updates_ago(lag):
    record = _RecordActor()
    model = ImpalaModule(**{**SMALL, "policy_lag": lag})
    quiet_trainer(5 * 2, callbacks=[record]).fit(model)  # 5 rollouts x 2 minibatches
    assert model.updates == 5 and len(record.weights) == 5
    expected = record.weights[-1 - lag]
    for b, e in zip(model.behaviour.parameters(), expected):
        assert torch.equal(b, e)
    assert not any(p.requires_grad for p in model.behaviour.parameters())
    if lag:
        assert not all(torch.equal(a, b) for a, b in zip(model.actor.parameters(), model.behaviour.parameters()))


def test_resume_continues_bitwise(tmp_path):
    straight = ImpalaModule(**SMALL, upgo=True)
    quiet_trainer(12).fit(straight)

    first = ImpalaModule(**SMALL, upgo=True)
    trainer = quiet_trainer(6)
    trainer.fit(first)
    path = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(path)
    state = torch.load(path, weights_only=False)["rl4py"]["ranks"][0]
    assert len(state["actor_snapshots"]) == 3 and state["updates"] == 3

    resumed = ImpalaModule(**SMALL, upgo=True, seed=77)  # everything must come from the checkpoint
    quiet_trainer(12).fit(resumed, ckpt_path=path)
    assert resumed.updates == straight.updates == 6
    assert resumed.env_frames == straight.env_frames == 6 * 8 * 16
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resume"


def test_resume_with_a_shorter_policy_lag_raises(tmp_path):
    trainer = quiet_trainer(6)
    trainer.fit(ImpalaModule(**SMALL))
    path = tmp_path / "lag2.ckpt"
    trainer.save_checkpoint(path)
    with pytest.raises(ValueError, match="policy_lag"):
        quiet_trainer(8).fit(ImpalaModule(**{**SMALL, "policy_lag": 0}), ckpt_path=path)


def test_impala_module_solves_cartpole_from_stale_rollouts():
    model = ImpalaModule(policy_lag=2, target_return=475.0, seed=0)
    trainer = quiet_trainer(4000)
    trainer.fit(model)
    assert model.mean_recent_return >= 475.0, f"{model.mean_recent_return:.1f} after {model.env_frames} frames"
    assert trainer.global_step < 4000


def test_components_are_wired_to_the_modules_networks():
    model = ImpalaModule(**SMALL, upgo=True)
    assert model.value_estimator.value_network is model.critic
    assert model.value_estimator.actor is model.actor  # V-trace's target policy is the learner
    assert model.loss.advantage_keys == ["advantage", UPGO_ADVANTAGE]
    gae = ImpalaModule(**SMALL, value_estimator=GAE(0.9, 0.9))
    assert gae.value_estimator.value_network is gae.critic


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="policy_lag"):
        ImpalaModule(policy_lag=-1)
    with pytest.raises(ValueError, match="num_minibatches=3"):
        ImpalaModule(num_envs=8, rollout_length=16, num_minibatches=3)
    with pytest.raises(TypeError, match="advantage_keys"):
        ImpalaModule(**SMALL, upgo=True, loss=PPOLoss)


def test_normalize_observations_wraps_the_rank_env():
    from rl4py.envs.wrappers import ObservationNorm, find_wrapper

    model = ImpalaModule(**SMALL, normalize_observations=True)
    quiet_trainer(2).fit(model)
    norm = find_wrapper(model.collector.env, ObservationNorm)
    # one rollout: the reset batch, 16 steps of 8 envs, and the first observation of each new episode
    assert norm is not None and float(norm.count) == 8 + 8 * 16 + model.last_returns.numel()
    assert find_wrapper(ImpalaModule(**SMALL).make_rank_env(), ObservationNorm) is None
