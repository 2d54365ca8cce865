"""Dreamer's trainer: config checks, the train ratio, one full training iteration, gradient isolation
of the combined loss, the Lightning module's exact resume."""

from __future__ import annotations

import warnings

import lightning.pytorch as pl
import pytest
import torch
from lightning_helpers import quiet_trainer
from tensordict.nn import InteractionType, set_interaction_type

from rl4py import CartPole, MountainCarContinuous, Pendulum
from rl4py.collectors.sync import SyncCollector
from rl4py.envs import make_env
from rl4py.losses import InfoNCELoss
from rl4py.modules import ConvDecoder, ConvEncoder
from rl4py.trainers import (
    DreamerConfig,
    TrainRatio,
    build_dreamer,
    dreamer_update,
    evaluate_policy,
    make_dreamer_optimizer,
    train_dreamer,
)
from rl4py.trainers.dreamer import REPLAY_KEYS, make_replay

warnings.filterwarnings("ignore", ".*does not have many workers.*")

#: the tiny preset, short sequences: an update takes milliseconds
TINY = DreamerConfig(
    preset="tiny", num_envs=2, batch_size=4, sequence_length=8, learning_starts=16, train_ratio=32, horizon=5,
    total_frames=40, buffer_size=400,
)  # fmt: skip


def test_config_refuses_out_of_range_values_naming_the_field():
    with pytest.raises(ValueError, match="DreamerConfig: preset must be one of"):
        DreamerConfig(preset="size3m")
    with pytest.raises(ValueError, match="representation must be one of"):
        DreamerConfig(representation="vae")
    with pytest.raises(ValueError, match="train_ratio must be > 0"):
        DreamerConfig(train_ratio=0)
    with pytest.raises(ValueError, match="learning_starts = 16 must be at least num_envs"):
        TINY.replace(learning_starts=16).check_env_fits(4)
    with pytest.raises(ValueError, match="representation='decoder' would be ignored"):
        build_dreamer(CartPole().single_observation_space, CartPole().single_action_space,
                      TINY.replace(representation="decoder"), representation_loss=InfoNCELoss)  # fmt: skip


def test_train_ratio_owes_replayed_steps_per_env_step():
    ratio = TrainRatio(DreamerConfig(train_ratio=100, batch_size=5, sequence_length=10, learning_starts=64, num_envs=1))
    # 2 gradient steps per 1 frame... no: 100 / 50 = 2 steps per frame, none before learning_starts
    assert ratio.due(60) == 0
    assert ratio.due(8) == 8  # 4 frames past learning_starts
    ratio = TrainRatio(DreamerConfig(train_ratio=16, batch_size=4, sequence_length=16, learning_starts=16, num_envs=1))
    taken = [ratio.due(1) for _ in range(40)]  # 1/4 step per frame once 16 frames are in
    assert sum(taken) == (40 - 16) // 4 and set(taken) == {0, 1}
    state = ratio.state_dict()
    copy = TrainRatio(DreamerConfig(train_ratio=16, batch_size=4, sequence_length=16, learning_starts=16, num_envs=1))
    copy.load_state_dict(state)
    assert [copy.due(3) for _ in range(5)] == [ratio.due(3) for _ in range(5)]


@pytest.mark.parametrize("representation", ["barlow", "decoder", "infonce", "dreamerpro", "none"])
def test_one_training_iteration_on_vector_observations(representation):
    config = TINY.replace(representation=representation)
    result = train_dreamer(CartPole(num_envs=2), config)
    # 40 frames, 24 past learning_starts, 32 / 32 = 1 step per frame
    assert result.frames == 40 and result.updates == 24
    policy = result.actor
    with set_interaction_type(InteractionType.DETERMINISTIC):
        returns = evaluate_policy(CartPole(num_envs=3), policy, seed=0)
    assert returns.shape == (3,) and bool((returns >= 8).all())
    # every network trained (the slow critic and the return statistics moved too)
    loss = result.modules["loss"]
    assert float(loss.return_normalizer.high) != 0.0 or float(loss.return_normalizer.low) != 0.0
    first = result.history  # no progress callback: no history
    assert first == []


@pytest.mark.parametrize("representation", ["barlow", "decoder"])
def test_one_training_iteration_on_pixels(representation):
    env = make_env("CartPole", num_envs=2, pixels=16)  # [3, 16, 16] uint8: conv encoder (and decoder)
    result = train_dreamer(env, TINY.replace(representation=representation, total_frames=24))
    loss = result.modules["loss"]
    assert isinstance(loss.world_model.encoder, ConvEncoder)
    if representation == "decoder":
        assert isinstance(loss.world_model.representation_loss.decoder, ConvDecoder)
    assert result.updates == 8
    returns = evaluate_policy(make_env("CartPole", num_envs=2, pixels=16), result.actor, seed=0)
    assert returns.shape == (2,)


def test_every_network_moves_and_each_term_reaches_only_its_own():
    torch.manual_seed(0)
    env = CartPole(num_envs=2)
    parts = build_dreamer(env.single_observation_space, env.single_action_space, TINY)
    buffer = make_replay(TINY, 2, seed=0)
    buffer.extend(SyncCollector(env, parts.policy, 12, seed=0).rollout().select(*REPLAY_KEYS))
    batch = buffer.sample(TINY.batch_size)
    out = parts.loss(batch)
    groups = {name: params for name, (params, _) in parts.clip_groups(TINY).items()}
    owners = {
        "world_model": ["loss_dyn", "loss_rep", "loss_reward", "loss_continue", "loss_barlow"],
        "actor": ["loss_objective", "loss_entropy"],
        "critic": ["loss_critic"],
    }
    for owner, terms in owners.items():
        for term in terms:
            grads = torch.autograd.grad(out[term], [p for ps in groups.values() for p in ps],
                                        retain_graph=True, allow_unused=True)  # fmt: skip
            i = 0
            for name, params in groups.items():
                part = grads[i : i + len(params)]
                i += len(params)
                if name == owner:  # (at initialization the advantages are exactly 0: look at the graph)
                    assert any(g is not None for g in part), f"{term} gives {name} no gradient"
                else:
                    assert all(g is None or not bool(g.any()) for g in part), f"{term} reaches {name}"
    before = {name: [p.detach().clone() for p in params] for name, params in groups.items()}
    slow_before = [p.clone() for p in parts.loss.value_loss.slow_critic.parameters()]
    stats, taken = dreamer_update(parts, buffer, make_dreamer_optimizer(parts, TINY), TINY, 2)
    assert taken == 2 and {"grad_norm_world_model", "grad_norm_actor", "grad_norm_critic"} <= set(stats.keys())
    for name, params in groups.items():
        assert any(not torch.equal(a, p) for a, p in zip(before[name], params)), f"{name} did not move"
    assert any(not torch.equal(a, p) for a, p in zip(slow_before, parts.loss.value_loss.slow_critic.parameters()))


def test_clips_each_network_to_its_own_norm():
    torch.manual_seed(0)
    env = CartPole(num_envs=2)
    config = TINY.replace(world_model_grad_clip=1e-3, actor_grad_clip=None, critic_grad_clip=1e-3)
    parts = build_dreamer(env.single_observation_space, env.single_action_space, config)
    buffer = make_replay(config, 2, seed=0)
    buffer.extend(SyncCollector(env, parts.policy, 12, seed=0).rollout().select(*REPLAY_KEYS))
    optimizer = make_dreamer_optimizer(parts, config)
    optimizer.step = lambda: None  # keep the clipped gradients to look at
    stats, _ = dreamer_update(parts, buffer, optimizer, config, 1)
    for name, (params, clip) in parts.clip_groups(config).items():
        norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None]))
        reported = float(stats[f"grad_norm_{name}"])
        if clip is None:
            assert float(norm) == pytest.approx(reported, rel=1e-5)
        else:
            assert reported > clip and float(norm) == pytest.approx(clip, rel=1e-3)


def test_continuous_actions_train_by_dynamics_backpropagation():
    with pytest.raises(TypeError, match=r"must span \[-1, 1\]"):
        train_dreamer(Pendulum(num_envs=2), TINY)  # Pendulum's torque is in [-2, 2]
    result = train_dreamer(MountainCarContinuous(num_envs=2), TINY)
    loss = result.modules["loss"]
    assert loss.actor_loss.gradient == "dynamics" and loss.imagination.reparameterize
    assert result.updates == 24


def test_a_given_representation_loss_is_called_with_the_sizes():
    result = train_dreamer(CartPole(num_envs=2), TINY, representation_loss=InfoNCELoss)
    assert isinstance(result.modules["loss"].world_model.representation_loss, InfoNCELoss)


def _fit(model, max_steps, seed=0, ckpt_path=None):
    pl.seed_everything(seed, verbose=False)
    trainer = quiet_trainer(max_steps)
    trainer.fit(model, ckpt_path=ckpt_path)
    return trainer


def test_lightning_resume_continues_bitwise(tmp_path):
    from rl4py.trainers import DreamerModule

    config = TINY.replace(total_frames=10_000, train_ratio=16)  # one step per 2 frames: 1 per rollout
    straight = DreamerModule(config=config)
    _fit(straight, 12)
    first = DreamerModule(config=config)
    trainer = _fit(first, 5)
    path = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(path)
    resumed = DreamerModule(config=config)
    _fit(resumed, 12, seed=99, ckpt_path=path)

    assert resumed.updates == straight.updates == 12
    assert resumed.env_frames == straight.env_frames
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resume"
    assert len(resumed.buffer) == len(straight.buffer)
    torch.testing.assert_close(
        resumed.buffer.sample(4).get("observation"), straight.buffer.sample(4).get("observation")
    )


def test_dreamer_loss_and_gradient_step_refuse_mismatched_parts():
    from rl4py.losses import DreamerLoss
    from rl4py.trainers import gradient_step

    env = CartPole(num_envs=2)
    a = build_dreamer(env.single_observation_space, env.single_action_space, TINY)
    b = build_dreamer(env.single_observation_space, env.single_action_space, TINY)
    with pytest.raises(ValueError, match="must run the world model's RSSM"):
        DreamerLoss(
            a.loss.world_model, a.loss.actor_loss, a.loss.value_loss, b.loss.imagination, a.loss.return_normalizer
        )
    with pytest.raises(ValueError, match="actor_loss.actor and value_loss.critic"):
        DreamerLoss(
            b.loss.world_model, a.loss.actor_loss, a.loss.value_loss, b.loss.imagination, a.loss.return_normalizer
        )
    with pytest.raises(TypeError, match="return_normalizer must have update"):
        DreamerLoss(a.loss.world_model, a.loss.actor_loss, a.loss.value_loss, a.loss.imagination, torch.nn.Linear(1, 1))
    with pytest.raises(ValueError, match="clip_groups or max_grad_norm"):
        gradient_step(a.loss, make_dreamer_optimizer(a, TINY), None, max_grad_norm=1.0, clip_groups=a.clip_groups(TINY))
