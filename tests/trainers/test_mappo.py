"""Shared-weight PPO / MAPPO: the builder, the update on per-agent sequences, learning, the privileged
critic, the actor deployed alone, and the LightningModule (exact resume)."""

from __future__ import annotations

import warnings

import lightning.pytorch as pl
import pytest
import torch
from lightning_helpers import quiet_trainer
from tensordict import TensorDict

from rl4py.envs import CartPole, PettingZooEnv, Rendezvous, VmasEnv
from rl4py.export import export_program
from rl4py.testing import shift_seed
from rl4py.trainers import MAPPOConfig, agent_spaces, build_mappo, evaluate_policy, train_mappo
from rl4py.trainers.lightning_mappo import MAPPOModule

warnings.filterwarnings("ignore", ".*does not have many workers.*")


def test_agent_spaces_and_built_networks():
    env = Rendezvous(num_envs=2, n_agents=3, size=4, agent_ids=True)
    obs, act, n, state = agent_spaces(env.single_observation_space, env.single_action_space)
    assert obs.shape == (8,) and act.n == 3 and n == 3 and state == 14
    parts = build_mappo(env.single_observation_space, env.single_action_space, MAPPOConfig())
    assert parts.critic.in_keys == ["critic_observation"]
    assert parts.critic.module[0].in_features == 14 + 3  # the global state and the one-hot id
    local = build_mappo(env.single_observation_space, env.single_action_space, MAPPOConfig(critic_input="local"))
    assert local.critic.in_keys == ["observation"]
    with pytest.raises(TypeError, match="needs a multi-agent env's spaces"):
        agent_spaces(CartPole().single_observation_space, CartPole().single_action_space)
    with pytest.raises(ValueError, match="critic_input must be one of"):
        MAPPOConfig(critic_input="central")
    with pytest.raises(TypeError, match="must be a multi-agent env"):
        train_mappo(CartPole(num_envs=2), MAPPOConfig(total_frames=64))


def test_minibatches_count_agent_steps():
    # 3 sub-envs x 2 agents x 8 steps = 48 agent-steps: 16 minibatches of 3 (24 env steps would not split into 16)
    result = train_mappo(
        Rendezvous(num_envs=3), MAPPOConfig(num_envs=3, rollout_length=8, num_minibatches=16, total_frames=48)
    )
    assert result.frames == 48 and result.updates == 2 * 4 * 16  # 2 rollouts x 4 epochs x 16
    with pytest.raises(ValueError, match="does not split into num_minibatches=5"):
        train_mappo(Rendezvous(num_envs=3), MAPPOConfig(rollout_length=8, num_minibatches=5, total_frames=48))


@pytest.mark.slow
def test_mappo_learns_to_meet():
    """A random pair meets on ~1/5 of the steps (~4 of 20); MAPPO finds a meeting convention."""
    env = Rendezvous(num_envs=256, background=(0.0,))
    random_return = float(evaluate_policy(env, _uniform(env), max_steps=100, seed=5).mean())
    assert 2.5 < random_return < 6.0
    config = MAPPOConfig(num_envs=16, rollout_length=64, lr=1e-3, total_frames=60_000, seed=shift_seed(0))
    result = train_mappo(Rendezvous(num_envs=16, background=(0.0,)), config)
    trained = float(evaluate_policy(env, result.actor, max_steps=100, deterministic=False, seed=5).mean())
    assert trained > random_return + 5.0, (trained, random_return)


def _uniform(env):
    gen = torch.Generator().manual_seed(0)
    return lambda td: td.set("action", torch.randint(3, (env.num_envs, env.n_agents), generator=gen))


def test_the_centralized_critic_reads_what_the_agents_cannot_see():
    """The background reward is in the state, not in the agents' observations: after the same short
    training the centralized critic explains the returns, the agents' own critics cannot."""
    explained = {}
    for critic in ("global", "local"):
        history = []
        config = MAPPOConfig(
            num_envs=16, rollout_length=64, lr=1e-3, total_frames=16 * 64 * 12, critic_input=critic, seed=shift_seed(0)
        )
        train_mappo(Rendezvous(num_envs=16), config, progress=history.append, progress_every=1)
        explained[critic] = sum(line["explained_variance"] for line in history[-4:]) / 4
    assert explained["global"] > 0.2, explained
    assert explained["local"] < explained["global"] - 0.2, explained


def test_the_exported_actor_runs_without_privileged_inputs():
    env = Rendezvous(num_envs=4)
    result = train_mappo(env, MAPPOConfig(num_envs=4, rollout_length=16, total_frames=128))
    obs = env.reset(seed=0)["observation"]  # [4, 2, 6]: each agent's own observation, nothing else
    td = result.actor(TensorDict({"observation": obs}, batch_size=[4]))
    assert td["action"].shape == (4, 2)
    program = export_program(result.actor, example=env.agent_observation_space)
    actions, _ = program.module()(obs.reshape(-1, 6))
    assert actions.shape == (8,) and ((actions >= 0) & (actions < 3)).all()


def test_mappo_on_the_library_adapters_runs_and_counts_env_steps():
    pz = train_mappo(
        PettingZooEnv("mpe2.simple_spread_v3", num_envs=2, N=2, max_cycles=10),
        MAPPOConfig(num_envs=2, rollout_length=10, total_frames=40),
    )
    assert pz.frames == 40 and pz.mean_return < 0  # simple_spread's rewards are negative distances
    vmas = train_mappo(
        VmasEnv("navigation", num_envs=4, max_steps=10, n_agents=2),
        MAPPOConfig(num_envs=4, rollout_length=10, total_frames=80, per_agent_reward=True),
    )
    assert vmas.frames == 80


SMALL = MAPPOConfig(num_envs=4, rollout_length=16, epochs=2, num_minibatches=2, lr=1e-3, anneal_lr=False)


def _fit(model, max_steps, seed=0, ckpt_path=None):
    pl.seed_everything(seed, verbose=False)
    trainer = quiet_trainer(max_steps)
    trainer.fit(model, ckpt_path=ckpt_path)
    return trainer


def test_module_update_equals_the_plain_loop():
    model = MAPPOModule("Rendezvous", SMALL)
    _fit(model, 4)
    plain = train_mappo(Rendezvous(num_envs=4), MAPPOConfig(**{**SMALL.__dict__, "total_frames": 64, "seed": 0}))
    for a, b in zip(model.actor.state_dict().values(), plain.actor.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)


def test_module_resumes_exactly(tmp_path):
    straight = MAPPOModule("Rendezvous", SMALL)
    _fit(straight, 12)
    first = MAPPOModule("Rendezvous", SMALL)
    trainer = _fit(first, 4)
    path = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(path)
    resumed = MAPPOModule("Rendezvous", SMALL)
    pl.seed_everything(123, verbose=False)
    quiet_trainer(12).fit(resumed, ckpt_path=path)
    assert resumed.env_frames == straight.env_frames == 3 * 4 * 16
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resume"


def test_module_refuses_a_single_agent_env():
    with pytest.raises(TypeError, match="multi-agent env"):
        _fit(MAPPOModule("CartPole", SMALL), 2)
