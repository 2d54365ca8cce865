"""z-conditioning: per-episode strategies in the env state, the pseudo-reward, the conditioned networks, and
a policy whose behaviour follows z after training (concat and FiLM)."""

from __future__ import annotations

import pytest
import torch

from rl4py import keys
from rl4py.collectors import SyncCollector
from rl4py.envs import (
    PSEUDO_REWARD,
    Z_STATISTICS,
    CoinCorridor,
    LeftRight,
    ZConditioning,
    left_side_fraction,
    z_pseudo_reward,
)
from rl4py.modules import make_z_conditioned_actor_critic
from rl4py.testing import shift_seed
from rl4py.trainers import PPOConfig, train_ppo

LEFT, STAY, RIGHT = 0, 1, 2


def _left(nxt: dict) -> torch.Tensor:
    return left_side_fraction(nxt[keys.OBSERVATION])


def _env(num_envs: int = 4, **kwargs) -> ZConditioning:
    return ZConditioning(LeftRight(num_envs=num_envs, max_episode_steps=4), _left, z_dim=1, **kwargs)


def test_z_is_drawn_per_episode_from_the_reset_seed_within_its_bounds():
    env = _env(num_envs=64, low=0.2, high=0.6)
    first = env.reset_tensors(5)[keys.STRATEGY]
    assert first.shape == (64, 1) and first.min() >= 0.2 and first.max() <= 0.6 and first.std() > 0.05
    assert torch.equal(_env(num_envs=64, low=0.2, high=0.6).reset_tensors(5)[keys.STRATEGY], first)
    assert not torch.equal(env.reset_tensors(6)[keys.STRATEGY], first)
    env.reset_tensors(5)
    stay = torch.full((64,), STAY)
    for _ in range(3):
        out = env.step_tensors(stay)
        assert torch.equal(out.root[keys.STRATEGY], first) and torch.equal(out.next[keys.STRATEGY], first)
    out = env.step_tensors(stay)  # the episodes end: the next ones draw new strategies
    assert torch.equal(out.next[keys.STRATEGY], first) and not torch.equal(out.root[keys.STRATEGY], first)
    assert out.root[Z_STATISTICS].abs().sum() == 0


def test_pseudo_reward_is_minus_coeff_times_the_distance_of_the_running_statistic_to_z():
    env = ZConditioning(LeftRight(num_envs=1, end_reward=1.0), _left, z_dim=1, coeff=2.0)
    env.fix_z([0.5])
    env.reset_tensors(0)
    expected_means = []
    for step, action in enumerate((LEFT, LEFT, RIGHT, RIGHT)):
        out = env.step_tensors(torch.tensor([action]))
        # cells -1, -2, -1, 0: left, left, left, centre
        mean = (min(step + 1, 3)) / (step + 1)
        expected_means.append(mean)
        assert out.next[Z_STATISTICS].item() == pytest.approx(mean)
        assert out.next[PSEUDO_REWARD].item() == pytest.approx(-2.0 * abs(mean - 0.5))
        assert out.next[keys.REWARD].item() == pytest.approx(out.next[PSEUDO_REWARD].item())  # no end reached
        assert out.root[Z_STATISTICS].item() == pytest.approx(mean)


def test_a_restored_wrapper_draws_the_same_strategies_and_rewards():
    env = _env(num_envs=8)
    env.reset_tensors(1)
    gen = torch.Generator().manual_seed(0)
    actions = [torch.randint(0, 3, (8,), generator=gen) for _ in range(10)]
    for a in actions[:5]:
        env.step_tensors(a)
    state = env.state_dict()
    tail = [env.step_tensors(a) for a in actions[5:]]
    again = _env(num_envs=8)
    again.load_state_dict(state)
    for a, out in zip(actions[5:], tail):
        replay = again.step_tensors(a)
        for key in (keys.REWARD, keys.STRATEGY, Z_STATISTICS):
            torch.testing.assert_close(replay.next[key], out.next[key])
        torch.testing.assert_close(replay.root[keys.STRATEGY], out.root[keys.STRATEGY])


def test_bad_arguments_and_a_bad_statistic_are_named():
    with pytest.raises(ValueError, match="ZConditioning: needs a one-head reward .*CoinCorridor has reward_heads=2"):
        ZConditioning(CoinCorridor(num_envs=1), _left, z_dim=1)
    with pytest.raises(ValueError, match="z_dim must be an int >= 1"):
        ZConditioning(LeftRight(), _left, z_dim=0)
    with pytest.raises(ValueError, match="needs low < high"):
        ZConditioning(LeftRight(), _left, z_dim=1, low=1.0, high=1.0)
    with pytest.raises(ValueError, match=r"z_pseudo_reward: statistics and z must have one shape.*\(2, 1\) and \(2,\)"):
        z_pseudo_reward(torch.zeros(2, 1), torch.zeros(2))
    with pytest.raises(ValueError, match=r"fix_z: z must have shape \(1,\), got \(2,\)"):
        _env().fix_z([0.1, 0.2])
    env = ZConditioning(LeftRight(num_envs=2), lambda nxt: nxt[keys.OBSERVATION][:, :2], z_dim=1)
    env.reset_tensors(0)
    with pytest.raises(ValueError, match=r"statistic must return a tensor \[num_envs, z_dim\] = \(2, 1\), got \(2, 2"):
        env.step_tensors(torch.tensor([STAY, STAY]))


def _statistic_per_z(actor, zs, seed: int) -> list[float]:
    """The mean fraction of time on the left over 16 episodes with each fixed ``z``."""
    out = []
    for z in zs:
        env = ZConditioning(LeftRight(num_envs=16), _left, z_dim=1)
        env.fix_z([z])
        collector = SyncCollector(env, actor, rollout_length=32, total_frames=16 * 32, seed=seed)
        with torch.no_grad():
            rollout = next(iter(collector))
        out.append(rollout["next", Z_STATISTICS][:, -1, 0].mean().item())
    return out


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["concat", "film"])
def test_after_training_the_time_on_the_left_follows_z(mode):
    """Both ends pay the same; only z says where to be. Two of three seeds: with z = 0, 0.25, ..., 1 the
    fraction of time on the left rises with z (correlation > 0.9) from below 0.2 to above 0.8."""
    zs = (0.0, 0.25, 0.5, 0.75, 1.0)
    passed, got = 0, []
    for seed in (0, 1, 2):
        seed = shift_seed(seed)
        env = ZConditioning(LeftRight(num_envs=16), _left, z_dim=1)
        torch.manual_seed(seed)
        actor, critic = make_z_conditioned_actor_critic(
            env.single_observation_space, env.single_action_space, context_dim=2, mode=mode
        )
        config = PPOConfig(num_envs=16, rollout_length=64, total_frames=40_000, lr=1e-3, anneal_lr=False, seed=seed)
        train_ppo(env, config, actor=actor, critic=critic)
        stats = _statistic_per_z(actor, zs, seed=100 + seed)
        correlation = torch.corrcoef(torch.tensor([zs, stats]))[0, 1].item()
        got.append([round(s, 2) for s in stats])
        passed += correlation > 0.9 and stats[0] < 0.2 and stats[-1] > 0.8
        if passed == 2:
            break
    assert passed >= 2, got
