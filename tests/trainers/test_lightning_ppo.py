"""PPO through Lightning: the plain loop's config and update body, exact resume, checkpoint contents."""

from __future__ import annotations

import warnings
from functools import partial

import lightning.pytorch as pl
import pytest
import torch
from lightning_helpers import quiet_trainer

from rl4py.losses import PPOLoss
from rl4py.testing import shift_seed
from rl4py.trainers import PPOConfig, load_checkpoint
from rl4py.trainers.lightning_ppo import PPOModule
from rl4py.values import VTrace

warnings.filterwarnings("ignore", ".*does not have many workers.*")

SMALL = PPOConfig(num_envs=8, rollout_length=16, epochs=2, num_minibatches=2, lr=1e-3, anneal_lr=False)


def _fit(model: PPOModule, max_steps: int, seed: int = 0, ckpt_path=None, **kwargs) -> pl.Trainer:
    pl.seed_everything(seed, verbose=False)
    trainer = quiet_trainer(max_steps, **kwargs)
    trainer.fit(model, ckpt_path=ckpt_path)
    return trainer


def test_resume_continues_bitwise(tmp_path):
    # uninterrupted: 3 rollouts x 4 optimizer steps
    straight = PPOModule(config=SMALL)
    _fit(straight, 12)

    first = PPOModule(config=SMALL)
    trainer = _fit(first, 4)
    path = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(path)

    resumed = PPOModule(config=SMALL)
    pl.seed_everything(123, verbose=False)  # a different init: everything must come from the checkpoint
    quiet_trainer(12).fit(resumed, ckpt_path=path)
    assert resumed.env_frames == straight.env_frames == 3 * 8 * 16
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resume"


def test_seed_everything_seeds_the_run():
    runs = {}
    for seed in (0, 7, 0):
        model = PPOModule(config=SMALL)
        _fit(model, 4, seed=seed)
        runs.setdefault(seed, []).append(model.actor.module[0].weight.detach().clone())
    assert torch.equal(runs[0][0], runs[0][1])  # the same seed: the same run
    assert not torch.equal(runs[0][0], runs[7][0])  # another seed: another run


def test_plain_loop_and_module_share_the_config_and_the_update():
    """One config, one builder, one update body: the module's first update equals the plain loop's."""
    from rl4py import CartPole
    from rl4py.trainers import train_ppo

    config, seed = SMALL.replace(total_frames=8 * 16), shift_seed(3)
    plain = train_ppo(CartPole(num_envs=8), config.replace(seed=seed))
    model = PPOModule(config=config)
    _fit(model, 100, seed=seed)  # total_frames stops it after one rollout
    assert model.env_frames == 8 * 16
    # the plain loop stops once its budget is collected, before a second update: both took one
    for a, b in zip(plain.actor.parameters(), model.actor.parameters()):
        assert torch.equal(a, b)


def test_checkpoint_holds_env_rng_counters_and_metrics(tmp_path):
    model = PPOModule(config=SMALL)
    trainer = _fit(model, 4)
    path = tmp_path / "c.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)  # plain values only
    state = checkpoint["rl4py"]["ranks"][0]
    assert state["env_frames"] == 8 * 16
    assert {"collector", "torch_rng", "shuffle_rng", "recent_returns", "metrics"} <= set(state)
    assert "env" in state["collector"] and state["collector"]["frames"] == 8 * 16
    assert checkpoint["hyper_parameters"]["config"]["num_envs"] == 8
    assert checkpoint["rl4py"]["module"] == "rl4py.trainers.lightning_ppo.PPOModule"


@pytest.mark.slow
def test_ppo_module_solves_cartpole():
    config = PPOConfig(
        num_envs=32,
        rollout_length=32,
        lr=1e-2,
        epochs=6,
        num_minibatches=1,
        anneal_lr=False,
        total_frames=400_000,
        target_return=475.0,
    )
    for seed in (shift_seed(0), shift_seed(1)):  # one of two seeds within the budget
        model = PPOModule(config=config, loss=partial(PPOLoss, entropy_coeff=0.0, clip_value=False))
        _fit(model, 100_000, seed=seed)
        if model.mean_recent_return >= 475.0:
            break
    assert model.mean_recent_return >= 475.0, f"{model.mean_recent_return:.1f} after {model.env_frames} frames"
    assert model.env_frames < config.total_frames  # stopped by the target, not the budget


def test_value_estimator_gets_the_modules_networks():
    model = PPOModule(config=SMALL, value_estimator=VTrace(gamma=0.9))
    model.configure_model()
    assert model.value_estimator.value_network is model.critic
    assert model.value_estimator.actor is model.actor


def test_config_estimator_name_builds_the_stage():
    model = PPOModule(config=SMALL.replace(estimator="td_lambda", lmbda=0.5))
    model.configure_model()
    assert type(model.value_estimator).__name__ == "TDLambda" and model.value_estimator.lmbda == 0.5


def test_bad_minibatch_split_raises():
    with pytest.raises(ValueError, match="num_minibatches=3"):
        _fit(PPOModule(config=SMALL.replace(num_minibatches=3)), 4)


def test_bad_config_values_raise_naming_the_field():
    with pytest.raises(ValueError, match="PPOConfig: lmbda must be in"):
        PPOConfig(lmbda=1.5)
    with pytest.raises(TypeError, match="unknown fields \\['nope'\\]"):
        PPOModule(config={"nope": 1})


def test_resume_with_lr_schedule_and_observation_norm_continues_bitwise(tmp_path):
    config = SMALL.replace(anneal_lr=True, total_frames=3 * 8 * 16)
    straight = PPOModule(config=config, normalize_observations=True)
    _fit(straight, 100)
    assert straight.env_frames == 3 * 8 * 16

    class Interrupt(pl.Callback):  # the run is cut after 1 of its 3 rollouts (the schedule spans 3)
        def on_train_batch_end(self, trainer, *args):
            trainer.should_stop = trainer.global_step >= 4

    first = PPOModule(config=config, normalize_observations=True)
    trainer = _fit(first, 100, callbacks=[Interrupt()])
    assert trainer.global_step == 4
    path = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    assert "mean" in checkpoint["rl4py"]["ranks"][0]["collector"]["env"]["env"]  # EpisodeStats(ObservationNorm)

    resumed = PPOModule(config=config, normalize_observations=True)
    pl.seed_everything(5, verbose=False)
    quiet_trainer(100).fit(resumed, ckpt_path=path)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resume"
    norm_a, norm_b = straight.collector.env.env, resumed.collector.env.env  # EpisodeStats(ObservationNorm)
    assert torch.equal(norm_a.mean, norm_b.mean) and torch.equal(norm_a.var, norm_b.var)


def test_logged_episode_metrics_resume_exactly_off_a_logging_boundary(tmp_path):
    """The episode metrics accumulated since the last log are in the checkpoint: a resume between
    two logging steps logs the same first value as the uninterrupted run."""
    config = SMALL.replace(num_envs=16, rollout_length=32)

    class Record(pl.Callback):
        def __init__(self):
            self.values = []

        def on_train_batch_end(self, trainer, module, *args):
            if "charts/episodic_return" in trainer.callback_metrics and module.training_steps % 4 == 0:
                self.values.append(float(trainer.callback_metrics["charts/episodic_return"]))

    straight_record = Record()
    _fit(PPOModule(config=config), 8 * 4, callbacks=[straight_record], log_every_n_steps=4)

    first = PPOModule(config=config)
    trainer = _fit(first, 6 * 4, log_every_n_steps=4)  # cut at training step 6: off the 4-step boundary
    path = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(path)
    resumed_record = Record()
    resumed = PPOModule(config=config)
    quiet_trainer(8 * 4, callbacks=[resumed_record], log_every_n_steps=4).fit(resumed, ckpt_path=path)
    assert resumed_record.values, "no episode metric logged after the resume"
    assert resumed_record.values[-1] == pytest.approx(straight_record.values[-1], rel=0, abs=1e-9)


def test_anneal_lr_decays_linearly_over_total_frames():
    model = PPOModule(config=SMALL.replace(anneal_lr=True, total_frames=4 * 8 * 16))
    lrs = []

    class RecordLR(pl.Callback):
        def on_train_batch_end(self, trainer, module, *args):
            lrs.append(module.optimizers().param_groups[0]["lr"])

    _fit(model, 1000, callbacks=[RecordLR()])  # 4 rollouts: the budget stops it
    assert lrs == pytest.approx([1e-3, 0.75e-3, 0.5e-3, 0.25e-3])  # CleanRL: lr * (1 - (i - 1) / 4)


def test_checkpoints_load_for_evaluation_without_a_trainer_and_from_the_earlier_format(tmp_path):
    model = PPOModule(config=SMALL)
    trainer = _fit(model, 4)
    path = tmp_path / "c.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    # as a 2-process run writes it: load_from_checkpoint (no trainer) takes the networks and rank 0's state
    two_ranks = {**checkpoint, "rl4py": {**checkpoint["rl4py"], "ranks": checkpoint["rl4py"]["ranks"] * 2}}
    torch.save(two_ranks, tmp_path / "ddp.ckpt")
    rng = torch.get_rng_state()
    loaded = load_checkpoint(str(tmp_path / "ddp.ckpt"))
    assert torch.equal(torch.get_rng_state(), rng)  # loading touches no RNG
    assert isinstance(loaded, PPOModule) and loaded.config == SMALL
    assert torch.equal(loaded.actor.module[0].weight, model.actor.module[0].weight)
    assert loaded.env_frames == 8 * 16 and loaded.collector is None  # no env built for a mere load
    # resuming that checkpoint in one process is refused
    with pytest.raises(ValueError, match="state of 2 ranks but this run has 1"):
        _fit(PPOModule(config=SMALL), 8, ckpt_path=tmp_path / "ddp.ckpt")
    # the single-process format written before per-rank states still resumes
    old = {**checkpoint, "rl4py": checkpoint["rl4py"]["ranks"][0]}
    torch.save(old, tmp_path / "old.ckpt")
    resumed = PPOModule(config=SMALL)
    _fit(resumed, 8, ckpt_path=tmp_path / "old.ckpt")
    assert resumed.env_frames == 2 * 8 * 16


def test_a_trained_module_predicts_from_a_plain_observation():
    import numpy as np

    model = PPOModule(config=SMALL)
    _fit(model, 4)
    action = model.predict(np.zeros(4, dtype=np.float32))
    assert isinstance(action, np.ndarray) and action.shape == () and action in (0, 1)
    batch = model.predict(torch.zeros(5, 4))
    assert isinstance(batch, torch.Tensor) and batch.shape == (5,)


def test_settings_a_given_component_would_drop_are_refused_at_construction():
    from rl4py.modules import make_discrete_actor_critic
    from rl4py.trainers import BCConfig, DQNConfig, DQNModule, RecurrentPPOConfig, RecurrentPPOModule
    from rl4py.trainers.lightning_bc import BCModule

    actor, critic = make_discrete_actor_critic(4, 2)
    with pytest.raises(ValueError, match="num_cells=\\(32,\\) would be ignored: a given actor and critic"):
        PPOModule(config=SMALL.replace(num_cells=(32,)), actor=actor, critic=critic)
    PPOModule(config=SMALL.replace(num_cells=(32,)), actor=actor)  # the critic is built: num_cells is read
    with pytest.raises(ValueError, match="gamma=0.5 would be ignored: a given loss"):
        DQNModule(config=DQNConfig(gamma=0.5), loss=lambda q: q)
    with pytest.raises(ValueError, match="core='gru' would be ignored: a given policy"):
        RecurrentPPOModule(config=RecurrentPPOConfig(core="gru"), policy=torch.nn.Linear(1, 1))
    with pytest.raises(ValueError, match="activation='relu' would be ignored: a given student"):
        BCModule(config=BCConfig(activation="relu"), dataset="x", student=actor)
    with pytest.raises(
        ValueError, match="config.seed=3 would be ignored: Lightning runs are seeded by seed_everything"
    ):
        PPOModule(config=SMALL.replace(seed=3))
