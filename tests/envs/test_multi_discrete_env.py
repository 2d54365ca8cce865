"""rl4py.envs.multi_discrete.MultiDiscreteTarget: a multi-discrete action space with per-step masks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict

from rl4py.collectors import SyncCollector, finished_episodes
from rl4py.envs.multi_discrete import MultiDiscreteTarget


def set_state(env: MultiDiscreteTarget, target: list[list[int]], mask: list[list[bool]]) -> None:
    env.target = torch.tensor(target)
    env.mask = torch.tensor(mask)


def test_spaces_keys_shapes_and_dtypes() -> None:
    env = MultiDiscreteTarget(num_envs=5)
    assert env.observation_keys == ("observation", "action_mask")
    assert env.single_action_space == gym.spaces.MultiDiscrete([3, 4])
    assert env.single_observation_space == gym.spaces.Box(0.0, 1.0, (7,), np.float32)
    td = env.reset(seed=0)
    assert td["observation"].shape == (5, 7)
    assert td["observation"].dtype == torch.float32
    assert td["action_mask"].shape == (5, 7)
    assert td["action_mask"].dtype == torch.bool
    action = env.rand_action(torch.Generator().manual_seed(0))
    assert action.shape == (5, 2)
    assert action.dtype == torch.int64
    td["action"] = action
    td, root = env.step_and_reset(td)
    assert td["next", "observation"].shape == root["observation"].shape == (5, 7)
    assert td["next", "action_mask"].shape == root["action_mask"].shape == (5, 7)
    assert td["next", "reward"].shape == (5, 1)


def test_observation_is_the_one_hot_target_and_the_target_is_always_allowed() -> None:
    env = MultiDiscreteTarget(num_envs=256, nvec=(3, 4, 2))
    td = env.reset(seed=1)
    for _ in range(5):
        obs, mask = td["observation"], td["action_mask"]
        heads = obs.split([3, 4, 2], dim=-1)
        assert all(torch.equal(h.sum(-1), torch.ones(256)) for h in heads)
        target = torch.stack([h.argmax(-1) for h in heads], dim=-1)
        assert torch.equal(target, env.target)
        assert mask[obs.bool()].all()  # every target choice is allowed
        assert not mask.all()  # some others are not
        td["action"] = env.rand_action()
        td = env.step_and_reset(td)[1]


def test_masks_change_every_step_with_the_allowed_probability() -> None:
    env = MultiDiscreteTarget(num_envs=2000, allowed_prob=0.3)
    td = env.reset(seed=2)
    previous = td["action_mask"]
    td["action"] = env.rand_action()
    td, root = env.step_and_reset(td)
    assert not torch.equal(td["next", "action_mask"], previous)
    # non-target choices are allowed with probability 0.3
    others = ~td["next", "observation"].bool()
    rate = td["next", "action_mask"][others].float().mean().item()
    assert rate == pytest.approx(0.3, abs=0.02)
    only_targets = MultiDiscreteTarget(4, allowed_prob=0.0).reset(seed=0)["action_mask"]
    assert torch.equal(only_targets.sum(-1), torch.full((4,), 2))
    assert MultiDiscreteTarget(4, allowed_prob=1.0).reset(seed=0)["action_mask"].all()


def test_reward_is_the_fraction_of_heads_on_target() -> None:
    env = MultiDiscreteTarget(num_envs=4)
    env.reset(seed=0)
    set_state(env, [[1, 2]] * 4, [[True] * 7] * 4)
    td = TensorDict({"action": torch.tensor([[1, 2], [1, 0], [0, 2], [2, 3]])}, batch_size=[4])
    td = env.step(td)
    assert td["next", "reward"].squeeze(-1).tolist() == [1.0, 0.5, 0.5, 0.0]
    assert not td["next", "done"].any()


def test_truncation_after_episode_length_never_termination() -> None:
    env = MultiDiscreteTarget(num_envs=3, episode_length=3)
    td = env.reset(seed=0)
    for t in range(7):
        td["action"] = env.rand_action()
        td, root = env.step_and_reset(td)
        last = t % 3 == 2
        assert td["next", "truncated"].squeeze(-1).tolist() == [last] * 3
        assert td["next", "done"].squeeze(-1).tolist() == [last] * 3
        assert not td["next", "terminated"].any()
        if not last:
            assert torch.equal(root["observation"], td["next", "observation"])
            assert torch.equal(root["action_mask"], td["next", "action_mask"])
        td = root
    assert env.elapsed_steps.tolist() == [1, 1, 1]


def test_oracle_scores_the_optimal_return_and_random_policies_their_expectation() -> None:
    n = 4096
    env = MultiDiscreteTarget(num_envs=n, episode_length=8)
    assert env.random_return() == pytest.approx(8 * ((7 / 12) + (15 / 32)) / 2)  # 4.2083
    assert env.random_return(masked=False) == pytest.approx(8 * (1 / 3 + 1 / 4) / 2)  # 2.3333
    gen = torch.Generator().manual_seed(0)
    for policy, expected in (("oracle", 8.0), ("masked", env.random_return()), ("uniform", 7 / 3)):
        run = MultiDiscreteTarget(num_envs=n, episode_length=8, validate=policy != "uniform")
        td = run.reset(seed=3)
        total = torch.zeros(n)
        for _ in range(8):
            if policy == "oracle":
                td["action"] = run.target.clone()
            elif policy == "masked":
                td["action"] = run.rand_action(gen)
            else:  # ignores the mask (validate=False scores a forbidden choice as a miss)
                td["action"] = torch.stack([torch.randint(0, k, (n,), generator=gen) for k in (3, 4)], dim=-1)
            td, root = run.step_and_reset(td)
            total += td["next", "reward"].squeeze(-1)
            td = root
        assert run.elapsed_steps.eq(0).all()
        assert total.mean().item() == pytest.approx(expected, abs=0.05), policy


def test_forbidden_choice_raises_naming_the_head_and_leaves_state_unchanged() -> None:
    env = MultiDiscreteTarget(num_envs=2)
    env.reset(seed=0)
    mask = [[True, False, True, True, True, True, True], [True, True, True, False, True, True, False]]
    set_state(env, [[0, 0], [1, 2]], mask)
    target, elapsed = env.target.clone(), env.elapsed_steps.clone()
    with pytest.raises(
        ValueError,
        match=r"MultiDiscreteTarget: 'action' holds 0 at index \[1, 1\], which 'action_mask' forbids \(expected an "
        r"allowed choice of head 1; 'action_mask'\[1, 3:7\] = \[False, True, True, False\], true = allowed\)",
    ):
        env.step_tensors(torch.tensor([[0, 3], [1, 0]]))
    assert torch.equal(env.target, target)
    assert torch.equal(env.elapsed_steps, elapsed)
    with pytest.raises(ValueError, match=r"'action' holds 1 at index \[0, 0\], which 'action_mask' forbids"):
        env.step_tensors(torch.tensor([[1, 0], [1, 2]]))
    # without validation a forbidden choice is only scored: it never matches the target
    lenient = MultiDiscreteTarget(num_envs=2, validate=False)
    lenient.reset(seed=0)
    set_state(lenient, [[0, 0], [1, 2]], mask)
    out = lenient.step_tensors(torch.tensor([[1, 0], [1, 1]]))
    assert out.next["reward"].squeeze(-1).tolist() == [0.5, 0.5]


@pytest.mark.parametrize(
    ("action", "error", "match"),
    [
        (torch.tensor([[0, 4], [0, 0]]), ValueError, r"'action' holds 4 at index \[0, 1\], outside the action space"),
        (torch.tensor([0, 0]), ValueError, r"'action' has shape \(2,\), expected \(2, 2\)"),
        (torch.zeros(2, 2), TypeError, r"'action' has dtype torch.float32, expected an integer dtype"),
    ],
)
def test_bad_actions_raise(action: torch.Tensor, error: type[Exception], match: str) -> None:
    env = MultiDiscreteTarget(num_envs=2, allowed_prob=1.0)
    env.reset(seed=0)
    with pytest.raises(error, match=match):
        env.step_tensors(action)


def test_seeding_and_state_dict() -> None:
    a = MultiDiscreteTarget(num_envs=32).reset(seed=4)
    b = MultiDiscreteTarget(num_envs=32).reset(seed=4)
    c = MultiDiscreteTarget(num_envs=32).reset(seed=5)
    assert torch.equal(a["observation"], b["observation"])
    assert torch.equal(a["action_mask"], b["action_mask"])
    assert not torch.equal(a["action_mask"], c["action_mask"])
    env = MultiDiscreteTarget(num_envs=32, episode_length=4)
    td = env.reset(seed=6)
    gen = torch.Generator().manual_seed(7)
    for _ in range(3):
        td["action"] = env.rand_action(gen)
        td = env.step_and_reset(td)[1]
    state, gen_state = env.state_dict(), gen.get_state()

    def run(td: TensorDict) -> list[torch.Tensor]:
        out = []
        for _ in range(6):
            td["action"] = env.rand_action(gen)
            td, root = env.step_and_reset(td)
            out += [td["next", "observation"], td["next", "action_mask"], td["next", "reward"], root["action_mask"]]
            td = root
        return out

    first = run(td.clone())
    env.load_state_dict(state)
    gen.set_state(gen_state)
    for x, y in zip(first, run(td.clone())):
        assert torch.equal(x, y)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"nvec": (3, 1)}, r"nvec must be a non-empty list of sizes >= 2, got \[3, 1\]"),
        ({"nvec": ()}, r"nvec must be a non-empty list of sizes >= 2, got \[\]"),
        ({"episode_length": 0}, r"episode_length must be an int >= 1, got 0"),
        ({"allowed_prob": 1.5}, r"allowed_prob must be in \[0, 1\], got 1.5"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MultiDiscreteTarget(**kwargs)


def test_collector_rollout_with_masks() -> None:
    env = MultiDiscreteTarget(num_envs=4, episode_length=5)

    def policy(td: TensorDict) -> TensorDict:
        td["action"] = env.rand_action()
        return td

    torch.manual_seed(0)
    rollout = SyncCollector(env, policy, rollout_length=10, seed=0).rollout()
    assert rollout["action"].shape == (4, 10, 2)
    assert rollout["action_mask"].shape == rollout["next", "action_mask"].shape == (4, 10, 7)
    _, lengths = finished_episodes(rollout)
    assert lengths.tolist() == [5] * 8
