"""rl4py.envs.DeepSea: dynamics against bsuite's rules, the action mapping, termination and checkpoints."""

from __future__ import annotations

import pytest
import torch

from rl4py.envs import DeepSea, make_env


def _episode(env: DeepSea, choose) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Runs one episode from the reset; ``choose(row, column) -> action [B]``. Returns (return [B], next obs)."""
    env.reset_tensors(seed=0)
    total = torch.zeros(env.num_envs)
    observations = []
    for t in range(env.size):
        out = env.step_tensors(choose(env.row.clone(), env.column.clone()))
        total += out.next["reward"].squeeze(-1)
        observations.append(out.next["observation"])
        assert bool(out.next["done"].all()) == (t == env.size - 1)
        assert not out.next["truncated"].any()
    return total, observations


@pytest.mark.parametrize("size", [2, 5, 20])
def test_moving_right_every_step_is_the_only_way_to_the_treasure(size: int) -> None:
    env = DeepSea(num_envs=3, size=size, mapping_seed=7)
    right = lambda row, column: env.action_mapping[row, column]  # noqa: E731
    total, observations = _episode(env, right)
    torch.testing.assert_close(total, torch.full((3,), 0.99))
    assert env.optimal_return == pytest.approx(0.99)
    # the cells visited are (t + 1, t + 1); below the last row the observation is all zeros
    for t, obs in enumerate(observations[:-1]):
        assert torch.equal(obs.argmax(-1), torch.full((3,), (t + 1) * size + t + 1))
    assert torch.equal(observations[-1], torch.zeros(3, size * size))
    # one move left anywhere loses the treasure: the return is minus the costs of the right moves
    mapping = DeepSea(num_envs=1, size=size, mapping_seed=7).action_mapping
    for wrong_row in range(size):
        choose = lambda row, column, w=wrong_row: torch.where(  # noqa: E731
            row == w, 1 - mapping[row, column], mapping[row, column]
        )
        total, _ = _episode(DeepSea(num_envs=1, size=size, mapping_seed=7), choose)
        assert total.item() == pytest.approx(-(size - 1) * 0.01 / size, abs=1e-6)


def test_randomized_mapping_differs_per_cell_and_per_seed() -> None:
    a, b = DeepSea(size=10, mapping_seed=0), DeepSea(size=10, mapping_seed=1)
    assert 20 < int(a.action_mapping.sum()) < 80  # both actions move right somewhere
    assert not torch.equal(a.action_mapping, b.action_mapping)
    assert torch.equal(a.action_mapping, DeepSea(size=10, mapping_seed=0).action_mapping)
    assert torch.equal(DeepSea(size=4, randomize_actions=False).action_mapping, torch.ones(4, 4, dtype=torch.int64))


def test_left_at_the_wall_stays_and_costs_nothing() -> None:
    env = DeepSea(num_envs=1, size=4, randomize_actions=False)
    env.reset_tensors(seed=0)
    out = env.step_tensors(torch.tensor([0]))
    assert (env.row.item(), env.column.item(), out.next["reward"].item()) == (1, 0, 0.0)
    out = env.step_tensors(torch.tensor([1]))
    assert (env.row.item(), env.column.item()) == (2, 1)
    assert out.next["reward"].item() == pytest.approx(-0.0025)


def test_random_play_almost_never_finds_the_treasure() -> None:
    env = make_env("DeepSea", num_envs=256, size=20)
    env.reset_tensors(seed=0)
    gen = torch.Generator().manual_seed(0)
    best = torch.full((256,), -1.0)
    total = torch.zeros(256)
    for _ in range(20 * 20):  # 20 episodes per sub-env
        out = env.step_tensors(torch.randint(0, 2, (256,), generator=gen))
        total += out.next["reward"].squeeze(-1)
        done = out.next["done"].squeeze(-1)
        best = torch.where(done, torch.maximum(best, total), best)
        total = total.masked_fill(done, 0.0)
    assert float(best.max()) <= 0.0


def test_checkpoint_continues_exactly_and_bad_input_is_refused() -> None:
    env = DeepSea(num_envs=2, size=6, mapping_seed=3)
    env.reset_tensors(seed=0)
    for _ in range(3):
        env.step_tensors(torch.tensor([1, 0]))
    twin = DeepSea(num_envs=2, size=6, mapping_seed=3)
    twin.load_state_dict(env.state_dict())
    for _ in range(5):
        a, b = env.step_tensors(torch.tensor([0, 1])), twin.step_tensors(torch.tensor([0, 1]))
        assert torch.equal(a.next["observation"], b.next["observation"])
        assert torch.equal(a.next["reward"], b.next["reward"])
    with pytest.raises(ValueError, match="expected \\(3,\\)"):
        DeepSea(num_envs=3, size=6).load_state_dict(env.state_dict())
    with pytest.raises(ValueError, match="size must be an int >= 2"):
        DeepSea(size=1)
    with pytest.raises(ValueError, match="move_cost must be finite and >= 0"):
        DeepSea(move_cost=-0.1)
    with pytest.raises(ValueError):
        env.step_tensors(torch.tensor([2, 0]))
