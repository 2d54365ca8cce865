"""HeroLane: each hero type's moves and damage against hand-computed steps, composition sampling, checkpoints."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

from rl4py.envs import HERO_TYPES, HeroLane, HeroType, hero_compositions


def _step(env: HeroLane, composition, position, action):
    c = torch.tensor([composition])
    p = torch.tensor([position])
    a = torch.tensor([action])
    next_position, damage = env.dynamics(c, p, a)
    return next_position[0].tolist(), damage[0].tolist()


def test_warrior_moves_charges_and_hits_from_one_cell():
    env = HeroLane(lane_length=6)
    # warrior: controls (forward, back, attack, ability), speed 1, reach 1, power 2, charge 2
    assert _step(env, (0, 1), (0, 0), (0, 3)) == ([1, 0], [0, 0])  # forward 1; the archer's 3 is back (clipped)
    assert _step(env, (0, 1), (0, 0), (3, 3)) == ([2, 0], [0, 0])  # the charge moves 2
    assert _step(env, (0, 1), (4, 0), (2, 3)) == ([4, 0], [0, 0])  # 2 cells away: out of reach 1
    assert _step(env, (0, 1), (5, 0), (2, 3)) == ([5, 0], [2, 0])  # 1 cell away: power 2
    assert _step(env, (0, 1), (6, 0), (1, 3)) == ([5, 0], [0, 0])  # back 1


def test_archer_support_and_scout_use_their_own_buttons():
    env = HeroLane(lane_length=6)
    # archer: index 0 attack, 1 forward, 2 ability (rally 1), 3 back; reach 4, power 1
    assert _step(env, (1, 2), (2, 0), (0, 3)) == ([2, 1], [1, 0])  # hits from 4 cells; support index 3 = forward
    assert _step(env, (1, 2), (1, 0), (0, 3)) == ([1, 1], [0, 0])  # 5 cells: out of reach
    assert _step(env, (1, 2), (1, 0), (1, 2)) == ([2, 0], [0, 0])  # forward; support index 2 = back (clipped)
    # support: index 0 = ability, rally 2 to every teammate's hit this step; power 0
    assert _step(env, (1, 2), (2, 4), (0, 0)) == ([2, 4], [3, 0])  # archer 1 + 2 rallied
    assert _step(env, (0, 2), (5, 4), (2, 0)) == ([5, 4], [4, 0])  # warrior 2 + 2 rallied
    assert _step(env, (0, 2), (5, 4), (2, 1)) == ([5, 4], [2, 0])  # support attacks instead: power 0 from reach 2
    # scout: index 0 back, 1 ability (charge 3), 2 forward (speed 2), 3 attack; reach 1, power 1
    assert _step(env, (1, 3), (0, 0), (1, 1)) == ([1, 3], [0, 0])
    assert _step(env, (1, 3), (0, 3), (1, 2)) == ([1, 5], [0, 0])
    assert _step(env, (1, 3), (2, 5), (2, 3)) == ([2, 5], [0, 2])  # the archer's ability rallies 1
    assert _step(env, (1, 3), (2, 5), (1, 0)) == ([3, 3], [0, 0])


def test_step_observation_reward_and_truncation():
    env = HeroLane(num_envs=2, compositions=[(0, 2)], lane_length=6, episode_length=3)
    td = env.reset(seed=0)
    expected = torch.tensor([1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1.0])  # warrior one-hot, x=0, support, x=0, all left
    assert torch.equal(td["observation"], expected.expand(2, -1))
    actions = [(3, 0), (3, 0), (0, 0)]  # charge, charge, forward: 5 cells, one from the tower
    rewards = []
    for t, action in enumerate(actions):
        td["action"] = torch.tensor([action, action])
        out, td = env.step_and_reset(td)
        rewards.append(out["next", "reward"][0, 0].item())
        assert out["next", "truncated"].all().item() == (t == 2)
    assert rewards == [0.0, 0.0, 0.0]
    last = out["next", "observation"][0]
    assert torch.allclose(last[[4, 9, 10]], torch.tensor([5 / 6, 0.0, 0.0]))
    assert torch.equal(td["observation"], expected.expand(2, -1))  # reset after the truncation
    env.position = torch.tensor([[5, 0], [5, 0]])
    td["action"] = torch.tensor([[2, 0], [2, 1]])  # attack with and without the support's rally
    out = env.step(td)
    assert out["next", "reward"].squeeze(-1).tolist() == pytest.approx([0.4, 0.2])


def test_observed_composition_reads_the_one_hots():
    env = HeroLane(num_envs=6, num_hero_types=5, team_size=3, assign="cycle")
    td = env.reset(seed=0)
    assert torch.equal(env.observed_composition(td["observation"]), env.composition)
    with pytest.raises(ValueError, match=r"observations \[\*B, 19\]"):
        env.observed_composition(torch.zeros(2, 7))


def _play(env: HeroLane, steps: int) -> torch.Tensor:
    """The compositions ``[steps + 1, B, k]`` before and after each of ``steps`` steps of action 0."""
    seen = [env.composition.clone()]
    for _ in range(steps):
        env.step(TensorDict({"action": torch.zeros(env.num_envs, 2, dtype=torch.long)}, [env.num_envs]))
        seen.append(env.composition.clone())
    return torch.stack(seen)


def test_random_compositions_are_seeded_drawn_from_the_pool_and_checkpointed():
    envs = [HeroLane(num_envs=8, episode_length=2) for _ in range(3)]
    for env, seed in zip(envs, (3, 3, 4)):
        env.reset(seed=seed)
    a, b, c = (_play(env, 40) for env in envs)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    pool = set(hero_compositions(4, 2))
    drawn = [tuple(t) for t in a[::2].reshape(-1, 2).tolist()]  # one per episode
    assert set(drawn) == pool  # every one of the 6 teams among 21 x 8 episodes
    assert max(drawn.count(t) for t in pool) < 3 * min(drawn.count(t) for t in pool)
    assert torch.equal(a[1], a[0])  # a composition holds for its whole episode
    state = envs[0].state_dict()
    ahead = _play(envs[0], 6)
    envs[0].load_state_dict(state)
    assert torch.equal(_play(envs[0], 6), ahead)


def test_cycle_gives_each_sub_env_its_own_composition():
    env = HeroLane(num_envs=5, compositions=[(0, 1), (2, 3)], assign="cycle", episode_length=1)
    env.reset(seed=0)
    expected = torch.tensor([(0, 1), (2, 3), (0, 1), (2, 3), (0, 1)])
    assert torch.equal(env.composition, expected)
    env.step(TensorDict({"action": torch.zeros(5, 2, dtype=torch.long)}, [5]))
    assert torch.equal(env.composition, expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"compositions": [(0, 4)]}, r"2 hero ids in \[0, 4\), got \(0, 4\)"),
        ({"compositions": [(0,)]}, "2 hero ids"),
        ({"compositions": []}, "compositions is empty"),
        ({"team_size": 5}, r"team_size must be an int in \[1, num_hero_types=4\]"),
        ({"num_hero_types": 7}, r"num_hero_types must be an int in \[1, 6\]"),
        ({"assign": "round"}, "assign must be one of"),
        ({"lane_length": 0}, "lane_length must be an int >= 1"),
        ({"reward_scale": 0.0}, "reward_scale must be a finite number > 0"),
        ({"hero_types": [HeroType("x", 1, 1, 1, 0, 0, (0, 0, 1, 2))] * 4}, "permutation"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HeroLane(**kwargs)


def test_hero_pool_and_compositions():
    assert len(HERO_TYPES) == 6
    assert hero_compositions(4, 2) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert len(hero_compositions(6, 3)) == 20
    with pytest.raises(ValueError, match="team_size"):
        hero_compositions(3, 4)


def test_make_env_builds_it_by_name():
    from rl4py.envs import make_env

    env = make_env("HeroLane", num_envs=2, num_hero_types=5, team_size=3)
    assert isinstance(env, HeroLane) and env.reset(seed=0)["observation"].shape == (2, 19)
