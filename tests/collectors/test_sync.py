"""rl4py.collectors.SyncCollector: rollouts [B, T], episode statistics, continuity, checkpoints."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

from rl4py.collectors import SyncCollector, finished_episodes
from rl4py.envs import CartPole, EpisodeStats, GymEnv
from rl4py.testing import CountingEnv, IdentityEnv


class LinearCategoricalPolicy:
    """Samples from Categorical(logits = observation @ weight); writes action, action_log_prob [B, 1] and logits."""

    def __init__(self, obs_dim: int, n_actions: int, seed: int = 0) -> None:
        self.weight = torch.randn(obs_dim, n_actions, generator=torch.Generator().manual_seed(seed))
        self.generator = torch.Generator().manual_seed(seed + 1)
        self.inference_mode: list[bool] = []

    def __call__(self, td: TensorDict) -> TensorDict:
        self.inference_mode.append(torch.is_inference_mode_enabled())
        logits = td["observation"] @ self.weight
        probs = torch.softmax(logits, -1)
        action = torch.multinomial(probs, 1, generator=self.generator).squeeze(-1)
        td.set("logits", logits)
        td.set("action", action)
        td.set("action_log_prob", torch.log_softmax(logits, -1).gather(-1, action.unsqueeze(-1)))
        return td


def constant_policy(td: TensorDict) -> TensorDict:
    td.set("action", torch.zeros(td.batch_size, dtype=torch.int64))
    return td


def test_rollout_shapes_and_keys() -> None:
    b, t = 3, 5
    policy = LinearCategoricalPolicy(4, 2)
    collector = SyncCollector(CartPole(num_envs=b), policy, rollout_length=t, seed=0)
    rollout = collector.rollout()
    assert rollout.batch_size == (b, t)
    expected = {
        "observation",
        "action",
        "action_log_prob",
        "logits",
        ("next", "observation"),
        ("next", "reward"),
        ("next", "done"),
        ("next", "terminated"),
        ("next", "truncated"),
        ("next", "episode_return"),
        ("next", "episode_length"),
    }
    assert set(rollout.keys(include_nested=True, leaves_only=True)) == expected
    shapes = {
        "observation": ((b, t, 4), torch.float32),
        "action": ((b, t), torch.int64),
        "action_log_prob": ((b, t, 1), torch.float32),
        "logits": ((b, t, 2), torch.float32),
        ("next", "observation"): ((b, t, 4), torch.float32),
        ("next", "reward"): ((b, t, 1), torch.float32),
        ("next", "done"): ((b, t, 1), torch.bool),
        ("next", "terminated"): ((b, t, 1), torch.bool),
        ("next", "truncated"): ((b, t, 1), torch.bool),
        ("next", "episode_return"): ((b, t, 1), torch.float32),
        ("next", "episode_length"): ((b, t, 1), torch.int64),
    }
    for key, (shape, dtype) in shapes.items():
        assert rollout[key].shape == shape, key
        assert rollout[key].dtype == dtype, key
    # what the policy wrote is stored with the observation it read
    logits = rollout["observation"] @ policy.weight
    torch.testing.assert_close(rollout["logits"], logits)
    log_prob = torch.log_softmax(logits, -1).gather(-1, rollout["action"].unsqueeze(-1))
    torch.testing.assert_close(rollout["action_log_prob"], log_prob)


def test_first_rollout_starts_from_seeded_reset() -> None:
    rollout = SyncCollector(CartPole(num_envs=4), constant_policy, rollout_length=3, seed=5).rollout()
    assert torch.equal(rollout["observation"][:, 0], CartPole(num_envs=4).reset(seed=5)["observation"])


def test_episode_longer_than_rollout_is_counted_once_whole() -> None:
    lengths = [7, 4]
    collector = SyncCollector(CountingEnv(num_envs=2, episode_length=lengths), None, rollout_length=3, total_frames=60)
    finished = {0: [], 1: []}
    rollouts = list(collector)
    assert len(rollouts) == 10
    for rollout in rollouts:
        for i in range(2):
            returns, lens = finished_episodes(rollout[i])
            assert torch.equal(returns, lens.to(torch.float32))
            finished[i] += lens.tolist()
        done = rollout["next", "done"]
        assert torch.equal(rollout["next", "episode_length"][done], rollout["next", "observation"][done].long())
    assert finished == {0: [7] * (30 // 7), 1: [4] * (30 // 4)}


def test_finished_episodes_on_a_hand_built_rollout() -> None:
    done = torch.tensor([[False, True, False, True], [False, False, False, False]]).unsqueeze(-1)
    rollout = TensorDict(
        {
            "next": {
                "done": done,
                "episode_return": torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]).unsqueeze(-1),
                "episode_length": torch.tensor([[1, 2, 1, 2], [1, 2, 3, 4]]).unsqueeze(-1),
            }
        },
        batch_size=[2, 4],
    )
    returns, lengths = finished_episodes(rollout)
    assert returns.tolist() == [2.0, 4.0]
    assert lengths.tolist() == [2, 2]


def test_continuity_across_rollout_boundaries() -> None:
    collector = SyncCollector(CartPole(num_envs=4), LinearCategoricalPolicy(4, 2), rollout_length=5, seed=0)
    rollouts = [collector.rollout() for _ in range(8)]
    obs = torch.cat([r["observation"] for r in rollouts], dim=1)
    next_obs = torch.cat([r["next", "observation"] for r in rollouts], dim=1)
    done = torch.cat([r["next", "done"] for r in rollouts], dim=1).squeeze(-1)
    cont = ~done[:, :-1]
    assert torch.equal(next_obs[:, :-1][cont], obs[:, 1:][cont])
    # after an episode end the next root is a fresh reset, not the terminal observation
    assert done[:, :-1].any()
    assert (obs[:, 1:][done[:, :-1]].abs() <= 0.05).all()
    assert not torch.equal(next_obs[:, :-1][done[:, :-1]], obs[:, 1:][done[:, :-1]])


def test_continuity_counting_env_hand_computed() -> None:
    collector = SyncCollector(CountingEnv(num_envs=1, episode_length=4), None, rollout_length=3)
    obs = torch.cat([collector.rollout()["observation"] for _ in range(4)], dim=1)
    assert obs[0, :, 0].tolist() == [0, 1, 2, 3] * 3


@pytest.mark.parametrize("return_same_td", [False, True])
def test_policy_runs_in_inference_mode_and_rollout_supports_autograd(return_same_td: bool) -> None:
    policy = LinearCategoricalPolicy(4, 2)
    collector = SyncCollector(CartPole(num_envs=2), policy, rollout_length=4, seed=0, return_same_td=return_same_td)
    rollout = collector.rollout()
    assert policy.inference_mode == [True] * 4
    assert not torch.is_inference_mode_enabled()
    for key in rollout.keys(include_nested=True, leaves_only=True):
        assert not rollout[key].is_inference(), key
    layer = torch.nn.Linear(4, 1)
    layer(rollout["observation"]).sum().backward()
    assert layer.weight.grad is not None
    torch.testing.assert_close(layer.weight.grad[0], rollout["observation"].sum((0, 1)))


def test_total_frames_and_frame_counter() -> None:
    collector = SyncCollector(CountingEnv(num_envs=2), None, rollout_length=3, total_frames=13)
    assert collector.frames_per_rollout == 6
    frames = []
    for _ in collector:
        frames.append(collector.frames)
    assert frames == [6, 12, 18]  # stops at the first count >= total_frames
    assert list(collector) == []  # exhausted
    exact = SyncCollector(CountingEnv(num_envs=2), None, rollout_length=3, total_frames=12)
    assert len(list(exact)) == 2
    assert exact.frames == 12


def test_return_same_td_false_yields_independent_copies() -> None:
    collector = SyncCollector(CountingEnv(num_envs=1, episode_length=10), None, rollout_length=3)
    iterator = iter(collector)
    first = next(iterator)
    first["observation"].fill_(-1.0)
    first.set("advantage", torch.zeros(1, 3, 1))
    second = next(iterator)
    assert second["observation"][0, :, 0].tolist() == [3.0, 4.0, 5.0]
    assert first["observation"][0, :, 0].tolist() == [-1.0, -1.0, -1.0]
    assert "advantage" not in second
    assert first["observation"].data_ptr() != second["observation"].data_ptr()


def test_return_same_td_true_shares_storage_but_not_added_keys() -> None:
    collector = SyncCollector(CountingEnv(num_envs=1, episode_length=10), None, rollout_length=3, return_same_td=True)
    iterator = iter(collector)
    first = next(iterator)
    assert first["observation"][0, :, 0].tolist() == [0.0, 1.0, 2.0]
    first.set("advantage", torch.zeros(1, 3, 1))
    second = next(iterator)
    assert second["observation"][0, :, 0].tolist() == [3.0, 4.0, 5.0]
    # the same storage: the first yield now shows the second rollout
    assert first["observation"].data_ptr() == second["observation"].data_ptr()
    assert first["observation"][0, :, 0].tolist() == [3.0, 4.0, 5.0]
    assert "advantage" not in second


def test_no_policy_takes_uniform_valid_actions() -> None:
    torch.manual_seed(0)
    collector = SyncCollector(IdentityEnv(num_envs=8, n=4), None, rollout_length=100, seed=0)
    rollout = collector.rollout()
    action = rollout["action"]
    assert action.dtype == torch.int64
    counts = torch.bincount(action.flatten(), minlength=4)
    assert counts.numel() == 4
    # 800 uniform draws over 4 actions: 200 each, within 6 standard deviations (sd ~ 12)
    assert ((counts - 200).abs() < 75).all(), counts
    # IdentityEnv pays 1 exactly when the action equals the one-hot target
    target = rollout["observation"].argmax(-1)
    assert torch.equal(rollout["next", "reward"].squeeze(-1), (action == target).float())
    torch.manual_seed(0)
    again = SyncCollector(IdentityEnv(num_envs=8, n=4), None, rollout_length=100, seed=0).rollout()
    assert torch.equal(again["action"], action)


def test_state_dict_restores_identical_rollouts() -> None:
    source = SyncCollector(CartPole(num_envs=4), None, rollout_length=6, seed=0)
    torch.manual_seed(1)
    for _ in range(3):
        source.rollout()
    state = source.state_dict()
    assert state["frames"] == 72
    rollouts = []
    for _ in range(2):
        restored = SyncCollector(CartPole(num_envs=4), None, rollout_length=6, seed=123)
        restored.load_state_dict(state)
        assert restored.frames == 72
        torch.manual_seed(2)
        rollouts.append([restored.rollout() for _ in range(5)])
    torch.manual_seed(2)
    continued = [source.rollout() for _ in range(5)]
    done_seen = False
    for a, b, c in zip(rollouts[0], rollouts[1], continued):
        assert (a == b).all()
        assert (a == c).all()
        done_seen |= bool(a["next", "done"].any())
    assert done_seen  # the episode accumulators and the reset generator were restored too


@pytest.mark.parametrize("legacy", [False, True])
def test_resuming_with_another_num_envs_names_both_and_restores_nothing(legacy: bool) -> None:
    source = SyncCollector(CartPole(num_envs=4), None, rollout_length=6, seed=0)
    source.rollout()
    state = source.state_dict()
    assert state["num_envs"] == 4
    if legacy:  # a checkpoint from before the "num_envs" entry: read off the saved observation
        del state["num_envs"]
    restored = SyncCollector(CartPole(num_envs=2), None, rollout_length=6, seed=0)
    restored.rollout()
    env_state = {k: v.clone() for k, v in restored.env.env.state_dict().items() if isinstance(v, torch.Tensor)}
    with pytest.raises(
        ValueError,
        match=r"^SyncCollector: the checkpoint was saved with num_envs=4, this env has 2 \(EpisodeStats\(CartPole\)\)",
    ):
        restored.load_state_dict(state)
    assert restored.frames == 12
    for key, value in restored.env.env.state_dict().items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, env_state[key]), key
    assert restored.rollout().batch_size == (2, 6)  # still usable with its own state


def test_resuming_over_a_gym_env_with_another_num_envs_raises() -> None:
    source = SyncCollector(GymEnv("CartPole-v1", num_envs=3), None, rollout_length=4, seed=0)
    source.rollout()
    restored = SyncCollector(GymEnv("CartPole-v1", num_envs=2), None, rollout_length=4, seed=0)
    with pytest.raises(
        ValueError, match=r"saved with num_envs=3, this env has 2 \(EpisodeStats\(GymEnv\(CartPole-v1\)\)\)"
    ):
        restored.load_state_dict(source.state_dict())


def test_reset_between_rollouts_starts_new_episodes() -> None:
    collector = SyncCollector(CountingEnv(num_envs=1, episode_length=5), None, rollout_length=3)
    collector.rollout()
    collector.reset()
    rollout = collector.rollout()
    assert rollout["observation"][0, :, 0].tolist() == [0.0, 1.0, 2.0]
    assert rollout["next", "episode_length"][0, :, 0].tolist() == [1, 2, 3]


def test_existing_episode_stats_wrapper_is_reused() -> None:
    env = EpisodeStats(CountingEnv(num_envs=2))
    assert SyncCollector(env, None, rollout_length=2).env is env
    plain = CountingEnv(num_envs=2)
    wrapped = SyncCollector(plain, None, rollout_length=2).env
    assert isinstance(wrapped, EpisodeStats) and wrapped.env is plain


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rollout_length": 0}, r"rollout_length must be >= 1, got 0"),
        ({"rollout_length": -3}, r"rollout_length must be >= 1, got -3"),
        ({"total_frames": 0}, r"total_frames must be >= 1 or None, got 0"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SyncCollector(CountingEnv(), None, **kwargs)


def test_finished_episodes_come_in_the_order_they_ended() -> None:
    # sub-env 0 finishes at t = 3, sub-env 1 at t = 0 and t = 2: the most recent episodes come last
    done = torch.tensor([[False, False, False, True], [True, False, True, False]]).unsqueeze(-1)
    returns = torch.tensor([[0.0, 0.0, 0.0, 100.0], [7.0, 0.0, 9.0, 0.0]]).unsqueeze(-1)
    rollout = TensorDict(
        {"next": {"done": done, "episode_return": returns, "episode_length": returns.long()}}, batch_size=[2, 4]
    )
    ordered, _ = finished_episodes(rollout)
    assert ordered.tolist() == [7.0, 9.0, 100.0]
