"""The multi-agent layout: the native Rendezvous task, agents_to_batch, and the PettingZoo and VMAS
adapters against the libraries they wrap."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict

from rl4py.collectors import SyncCollector
from rl4py.envs import PettingZooEnv, Rendezvous, VmasEnv, agents_to_batch, make_env


# ------------------------------------------------------------------ Rendezvous
def test_rendezvous_step_by_hand():
    env = Rendezvous(num_envs=2, n_agents=2, size=5, episode_length=3, background=(2.0,))
    env.reset(seed=0)
    env.position = torch.tensor([[0, 2], [4, 4]])
    out = env.step_tensors(torch.tensor([[0, 0], [2, 1]]))  # left at 0 stays; 2 -> 1; right at 4 stays
    assert env.position.tolist() == [[0, 1], [4, 4]]
    # sub-env 0 has not met: 0 + background 2; sub-env 1 has: 1 + 2
    assert out.next["reward"].tolist() == [[2.0], [3.0]]
    assert out.next["agent_reward"].tolist() == [[2.0, 2.0], [3.0, 3.0]]
    obs = out.next["observation"]
    assert obs.shape == (2, 2, 6)
    assert obs[0, 1, :5].tolist() == [0, 1, 0, 0, 0] and obs[0, 1, 5].item() == pytest.approx(1 / 3)
    state = out.next["state"]
    assert state.shape == (2, 12)
    assert state[0, :10].tolist() == [1, 0, 0, 0, 0, 0, 1, 0, 0, 0] and state[0, 10].item() == 2.0
    env.step_tensors(torch.ones(2, 2, dtype=torch.long))
    last = env.step_tensors(torch.ones(2, 2, dtype=torch.long))
    assert last.next["truncated"].all() and not last.next["terminated"].any()
    assert (last.root["observation"][..., 5] == 0).all()  # the new episode's first step


def test_rendezvous_agent_ids_and_errors():
    env = Rendezvous(num_envs=1, n_agents=3, size=4, agent_ids=True)
    obs = env.reset(seed=1)["observation"]
    assert obs.shape == (1, 3, 8)
    assert obs[0, :, 5:].tolist() == torch.eye(3).tolist()
    with pytest.raises(ValueError, match="n_agents must be an int >= 2"):
        Rendezvous(n_agents=1)
    with pytest.raises(ValueError, match="background must be"):
        Rendezvous(background=())
    with pytest.raises(ValueError, match="'action' has shape"):
        Rendezvous(num_envs=2).step_tensors(torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="outside the action space"):
        Rendezvous(num_envs=1).step_tensors(torch.tensor([[0, 3]]))


def test_rendezvous_resumes_exactly():
    env = Rendezvous(num_envs=4)
    env.reset(seed=3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        env.step_tensors(torch.randint(3, (4, 2), generator=gen))
    state = env.state_dict()
    actions = [torch.randint(3, (4, 2), generator=gen) for _ in range(30)]
    first = [env.step_tensors(a).next["reward"] for a in actions]
    other = Rendezvous(num_envs=4)
    other.load_state_dict(state)
    second = [other.step_tensors(a).next["reward"] for a in actions]
    assert all(torch.equal(a, b) for a, b in zip(first, second))


# --------------------------------------------------------------- agents_to_batch
def _rollout(b=2, t=3, a=2, o=4) -> TensorDict:
    active = torch.ones(b, t, a, dtype=torch.bool)
    next_active = active.clone()
    next_active[0, 1, 1] = False  # agent 1 of sub-env 0 leaves play after step 1
    active[0, 2, 1] = False
    td = TensorDict(
        {
            "observation": torch.arange(b * t * a * o, dtype=torch.float32).view(b, t, a, o),
            "state": torch.randn(b, t, 5),
            "agent_active": active,
            "action": torch.arange(b * t * a).view(b, t, a),
            "action_log_prob": torch.randn(b, t, a, 1),
            "next": {
                "observation": torch.randn(b, t, a, o),
                "state": torch.randn(b, t, 5),
                "agent_active": next_active,
                "agent_reward": torch.arange(b * t * a, dtype=torch.float32).view(b, t, a),
                "reward": torch.randn(b, t, 1),
                "agent_terminated": torch.zeros(b, t, a, dtype=torch.bool),
                "terminated": torch.tensor([[[False], [False], [True]], [[False], [False], [False]]]),
                "truncated": torch.tensor([[[False], [False], [False]], [[False], [False], [True]]]),
            },
        },
        batch_size=[b, t],
    )
    return td


def test_agents_to_batch_layout():
    rollout = _rollout()
    batch = agents_to_batch(rollout, critic_input="global")
    assert batch.batch_size == (2, 2, 3)
    assert torch.equal(batch["observation"][1, 0, 2], rollout["observation"][1, 2, 0])
    assert torch.equal(batch["action"][0, 1], rollout["action"][0, :, 1])
    # the team reward reaches every agent
    assert torch.equal(batch["next", "reward"][:, 0], rollout["next", "reward"])
    assert torch.equal(batch["next", "reward"][:, 1], rollout["next", "reward"])
    # agent 1 of sub-env 0 left play after step 1: its sequence ends there (done, not terminated)
    assert batch["next", "done"][0, 1, :, 0].tolist() == [False, True, True]
    assert batch["next", "terminated"][0, 1, :, 0].tolist() == [False, False, True]
    assert batch["next", "done"][0, 0, :, 0].tolist() == [False, False, True]
    assert batch["next", "truncated"][1, :, 2, 0].tolist() == [True, True]
    assert batch["agent_active"][0, 1, :, 0].tolist() == [True, True, False]
    critic = batch["critic_observation"]
    assert critic.shape == (2, 2, 3, 7)
    assert torch.equal(critic[1, 1, 0, :5], rollout["state"][1, 0]) and critic[1, 1, 0, 5:].tolist() == [0, 1]
    own = agents_to_batch(rollout, per_agent_reward=True)
    assert own["next", "reward"][0, 1, :, 0].tolist() == rollout["next", "agent_reward"][0, :, 1].tolist()
    assert "critic_observation" not in own


def test_agents_to_batch_errors():
    with pytest.raises(ValueError, match="critic_input must be one of"):
        agents_to_batch(_rollout(), critic_input="central")
    with pytest.raises(ValueError, match="expected a multi-agent env's rollout"):
        agents_to_batch(_rollout().exclude("agent_active"))


# -------------------------------------------------------------------- PettingZoo
def test_pettingzoo_matches_mpe2_step_for_step():
    from mpe2 import simple_spread_v3

    env = PettingZooEnv("mpe2.simple_spread_v3", num_envs=2, N=3, max_cycles=5)
    reference = [simple_spread_v3.parallel_env(N=3, max_cycles=5) for _ in range(2)]
    td = env.reset(seed=7)
    raw = [r.reset(seed=7 + i)[0] for i, r in enumerate(reference)]
    gen = np.random.default_rng(0)
    for step in range(7):  # past the end of an episode: the auto-reset
        for i in range(2):
            expected = np.stack([raw[i][agent] for agent in env.agents])
            np.testing.assert_allclose(td["observation"][i].numpy(), expected, rtol=1e-6)
            np.testing.assert_allclose(td["state"][i].numpy(), reference[i].state(), rtol=1e-6)
        actions = gen.integers(0, 5, size=(2, 3))
        out = env.step_tensors(torch.as_tensor(actions))
        for i in range(2):
            obs, rew, term, trunc, _ = reference[i].step({a: int(actions[i, j]) for j, a in enumerate(env.agents)})
            expected_rewards = [rew[a] for a in env.agents]
            np.testing.assert_allclose(out.next["agent_reward"][i].numpy(), expected_rewards, rtol=1e-6)
            assert out.next["reward"][i, 0].item() == pytest.approx(np.mean(expected_rewards), rel=1e-6)
            ended = not reference[i].agents
            assert bool(out.next["truncated"][i]) == ended == (step == 4)
            raw[i] = reference[i].reset()[0] if ended else obs
        td = TensorDict(dict(out.root), batch_size=[2])


class _Staggered:
    """A tiny parallel env: agent k lives k + 1 steps, observations are Dicts with action masks,
    no state(); the reward is the action taken."""

    metadata = {"name": "staggered"}

    def __init__(self):
        self.possible_agents = ["a", "b"]
        self.agents = []

    def observation_space(self, agent):
        return gym.spaces.Dict(
            {"observation": gym.spaces.Box(0, 10, (2,), np.float32), "action_mask": gym.spaces.MultiBinary(3)}
        )

    def action_space(self, agent):
        return gym.spaces.Discrete(3)

    def _obs(self):
        return {
            agent: {
                "observation": np.array([self.t, k], np.float32),
                "action_mask": np.array([1, 1, self.t % 2], np.int8),
            }
            for k, agent in enumerate(self.possible_agents)
            if agent in self.agents or self.t == 0
        }

    def reset(self, seed=None, options=None):
        self.t = 0
        self.agents = list(self.possible_agents)
        return self._obs(), {}

    def step(self, actions):
        self.t += 1
        rewards = {agent: float(action) for agent, action in actions.items()}
        terminations = {agent: self.t >= k + 1 for k, agent in enumerate(self.possible_agents) if agent in actions}
        obs = {
            agent: {"observation": np.array([self.t, k], np.float32), "action_mask": np.array([1, 1, 1], np.int8)}
            for k, agent in enumerate(self.possible_agents)
            if agent in actions
        }
        self.agents = [agent for agent in self.agents if not terminations[agent]]
        truncations = {agent: False for agent in actions}
        return obs, rewards, terminations, truncations, {agent: {} for agent in actions}

    def close(self):
        pass


def test_pettingzoo_masks_and_agents_that_finish_early():
    env = PettingZooEnv(_Staggered, num_envs=1)
    assert env.masked and env.state_dim == 4  # no state(): every agent's observation concatenated
    td = env.reset(seed=0)
    assert td["action_mask"].tolist() == [[[True, True, False], [True, True, False]]]
    with pytest.raises(ValueError, match="forbids"):
        env.step_tensors(torch.tensor([[2, 0]]))
    out = env.step_tensors(torch.tensor([[1, 0]]))
    # agent "a" finished; the env goes on with "b"
    assert out.next["agent_terminated"].tolist() == [[True, False]]
    assert out.next["agent_active"].tolist() == [[False, True]]
    assert not out.next["done"].any()
    assert out.next["agent_reward"].tolist() == [[1.0, 0.0]] and out.next["reward"].item() == 0.5
    assert out.root["observation"][0, 0].tolist() == [0.0, 0.0]  # out of play: zeros, every action allowed
    assert out.root["action_mask"][0, 0].tolist() == [True, True, True]
    out = env.step_tensors(torch.tensor([[2, 1]]))  # "a"'s action is not sent
    assert out.next["terminated"].tolist() == [[True]] and out.next["agent_reward"].tolist() == [[0.0, 1.0]]
    assert out.root["agent_active"].tolist() == [[True, True]]  # reset


def test_pettingzoo_rejects_mismatched_agents():
    class Mixed(_Staggered):
        def action_space(self, agent):
            return gym.spaces.Discrete(3 if agent == "a" else 4)

    with pytest.raises(ValueError, match="agents 'a' and 'b' have different action spaces"):
        PettingZooEnv(Mixed)
    with pytest.raises(ValueError, match="cannot import 'no_such_module'"):
        PettingZooEnv("no_such_module")


# -------------------------------------------------------------------------- VMAS
def test_vmas_matches_the_simulator():
    import vmas

    env = VmasEnv("navigation", num_envs=3, max_steps=4, seed=0, n_agents=3)
    reference = vmas.make_env(
        "navigation", num_envs=3, max_steps=4, seed=0, n_agents=3, clamp_actions=True, terminated_truncated=True
    )
    torch.manual_seed(5)
    td = env.reset(seed=11)
    reference.seed(11)
    raw = reference.reset()
    assert torch.equal(td["observation"], torch.stack(raw, 1))
    assert torch.equal(td["state"], torch.stack(raw, 1).flatten(1))
    gen = torch.Generator().manual_seed(0)
    for step in range(4):
        action = torch.rand(3, 3, 2, generator=gen) * 2 - 1
        out = env.step_tensors(action)
        obs, rew, term, trunc, _ = reference.step(list(action.unbind(1)))
        assert torch.equal(out.next["observation"], torch.stack(obs, 1))
        assert torch.equal(out.next["agent_reward"], torch.stack(rew, 1))
        assert torch.allclose(out.next["reward"], torch.stack(rew, 1).mean(1, keepdim=True))
        assert out.next["truncated"].all() == (step == 3)
    assert env.agent_action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


def test_make_env_names_multi_agent_envs():
    assert isinstance(make_env("vmas:navigation", num_envs=2, n_agents=2), VmasEnv)
    assert isinstance(make_env("pettingzoo:mpe2.simple_spread_v3", num_envs=1, N=2), PettingZooEnv)
    assert isinstance(make_env("Rendezvous", num_envs=2), Rendezvous)
    with pytest.raises(ValueError, match="pixels applies to native envs"):
        make_env("vmas:navigation", pixels=64)


@pytest.mark.parametrize(
    "make",
    [
        functools.partial(Rendezvous, num_envs=3, episode_length=5),
        functools.partial(VmasEnv, "navigation", num_envs=3, max_steps=5, n_agents=2),
        functools.partial(PettingZooEnv, "mpe2.simple_spread_v3", num_envs=3, N=2, max_cycles=5),
    ],
)
def test_collector_rollouts_have_the_multi_agent_layout(make):
    env = make()
    collector = SyncCollector(env, None, rollout_length=6, total_frames=18, seed=0)
    rollout = next(iter(collector))
    a = env.n_agents
    assert rollout["observation"].shape[:3] == (3, 6, a)
    assert rollout["next", "agent_reward"].shape == (3, 6, a)
    assert rollout["next", "reward"].shape == (3, 6, 1)
    assert rollout["next", "done"][:, 4].all()  # 5-step episodes end together
    returns = rollout["next", "episode_return"][:, 4, 0]
    assert torch.allclose(returns, rollout["next", "reward"][:, :5, 0].sum(1))
