"""rl4py.envs.gridworld.GridWorld: dynamics, masks, rewards, time limit, seeding and checkpoints."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict

from rl4py.collectors import SyncCollector, finished_episodes
from rl4py.envs.gridworld import CORRIDOR_LAYOUT, GridWorld

UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3
MOVES = {UP: (-1, 0), DOWN: (1, 0), LEFT: (0, -1), RIGHT: (0, 1)}

SMALL = (
    "S..",
    ".#.",
    "..G",
)

MAZE = (
    "..#..",
    ".#...",
    "...#G",
    "#....",
)


def expected_mask(layout: tuple[str, ...], r: int, c: int) -> list[bool]:
    """The allowed moves from cell (r, c), straight from the layout strings."""
    rows, cols = len(layout), len(layout[0])
    out = []
    for a in (UP, DOWN, LEFT, RIGHT):
        nr, nc = r + MOVES[a][0], c + MOVES[a][1]
        out.append(layout[r][c] != "#" and 0 <= nr < rows and 0 <= nc < cols and layout[nr][nc] != "#")
    return out


def step(env: GridWorld, actions: list[int]) -> tuple[TensorDict, TensorDict]:
    td = TensorDict({"action": torch.tensor(actions)}, batch_size=[env.num_envs])
    return env.step_and_reset(td)


def onehot(index: int, size: int) -> list[float]:
    return [float(i == index) for i in range(size)]


def test_spaces_keys_shapes_and_dtypes() -> None:
    env = GridWorld(num_envs=6, size=5)
    assert env.observation_keys == ("observation", "action_mask")
    assert env.single_observation_space == gym.spaces.Box(0.0, 1.0, (25,), np.float32)
    assert env.single_action_space == gym.spaces.Discrete(4)
    assert env.action_space.shape == (6,)
    td = env.reset(seed=0)
    assert td["observation"].shape == (6, 25)
    assert td["observation"].dtype == torch.float32
    assert torch.equal(td["observation"].sum(-1), torch.ones(6))
    assert td["action_mask"].shape == (6, 4)
    assert td["action_mask"].dtype == torch.bool
    td["action"] = env.rand_action(torch.Generator().manual_seed(0))
    td, root = env.step_and_reset(td)
    for key in ("observation", "action_mask"):
        assert td["next", key].shape == root[key].shape == td[key].shape
    assert td["next", "reward"].shape == (6, 1)
    assert td["next", "reward"].dtype == torch.float32
    for key in ("terminated", "truncated", "done"):
        assert td["next", key].shape == (6, 1)
        assert td["next", key].dtype == torch.bool
    # default world: open 5x5, goal in the bottom-right corner, starts anywhere else
    assert env.goal == (4, 4)
    assert env.start_cells.tolist() == list(range(24))


def test_dynamics_by_hand_around_a_wall_to_the_goal() -> None:
    env = GridWorld(num_envs=1, layout=SMALL, step_penalty=0.01, goal_reward=1.0)
    td = env.reset(seed=0)
    assert env.agent_position().tolist() == [[0, 0]]  # the only start cell
    assert td["observation"].tolist() == [onehot(0, 9)]
    assert td["action_mask"].tolist() == [[False, True, False, True]]  # down, right
    path = [RIGHT, RIGHT, DOWN, DOWN]
    cells = [(0, 1), (0, 2), (1, 2), (2, 2)]
    masks = [
        [False, False, True, True],  # (0, 1): the wall below blocks down
        [False, True, True, False],
        [True, True, False, False],  # (1, 2): the wall to the left blocks left
        [True, False, True, False],  # (2, 2): the goal
    ]
    for t, (action, (r, c), mask) in enumerate(zip(path, cells, masks)):
        td["action"] = torch.tensor([action])
        td, root = env.step_and_reset(td)
        assert td["next", "observation"].tolist() == [onehot(r * 3 + c, 9)]
        assert td["next", "action_mask"].tolist() == [mask]
        last = t == len(path) - 1
        assert td["next", "reward"].item() == pytest.approx(1.0 if last else -0.01)
        assert td["next", "terminated"].item() == last
        assert td["next", "done"].item() == last
        assert not td["next", "truncated"].item()
        if not last:
            assert torch.equal(root["observation"], td["next", "observation"])
            assert torch.equal(root["action_mask"], td["next", "action_mask"])
        td = root
    # the goal ended the episode: the root is the start again, the counter restarted
    assert td["observation"].tolist() == [onehot(0, 9)]
    assert td["action_mask"].tolist() == [[False, True, False, True]]
    assert env.elapsed_steps.tolist() == [0]
    assert env.optimal_return((0, 0)) == pytest.approx(1.0 - 3 * 0.01)


def test_blocked_move_without_validation_is_a_noop_that_costs_a_step() -> None:
    env = GridWorld(num_envs=2, layout=SMALL, validate=False)
    env.reset(seed=0)
    env.position = torch.tensor([1, 0])  # (0, 1) above the wall, and (0, 0) in the corner
    td, root = step(env, [DOWN, UP])
    assert env.agent_position().tolist() == [[0, 1], [0, 0]]
    assert td["next", "observation"].argmax(-1).tolist() == [1, 0]
    assert td["next", "reward"].squeeze(-1).tolist() == pytest.approx([-0.01, -0.01])
    assert not td["next", "done"].any()
    assert env.elapsed_steps.tolist() == [1, 1]


def test_walls_and_border_block_and_mask_is_right_at_every_cell() -> None:
    rows, cols = len(MAZE), len(MAZE[0])
    free = [(r, c) for r in range(rows) for c in range(cols) if MAZE[r][c] != "#"]
    # one row per (cell, move): every move from every floor cell, in one batched step
    pairs = [(cell, a) for cell in free for a in (UP, DOWN, LEFT, RIGHT)]
    env = GridWorld(num_envs=len(pairs), layout=MAZE, validate=False)
    env.reset(seed=0)
    for r in range(rows):
        for c in range(cols):
            assert env.action_mask_table[r * cols + c].tolist() == expected_mask(MAZE, r, c), (r, c)
    env.position = torch.tensor([r * cols + c for (r, c), _ in pairs])
    td, root = step(env, [a for _, a in pairs])
    for i, ((r, c), a) in enumerate(pairs):
        allowed = expected_mask(MAZE, r, c)[a]
        nr, nc = (r + MOVES[a][0], c + MOVES[a][1]) if allowed else (r, c)
        assert td["next", "observation"][i].argmax().item() == nr * cols + nc, ((r, c), a)
        assert td["next", "action_mask"][i].tolist() == expected_mask(MAZE, nr, nc), ((r, c), a)
        assert td["next", "terminated"][i].item() == ((nr, nc) == (2, 4))
    # the root mask is the mask of the root cell (a fresh start where the goal was entered)
    for i in range(len(pairs)):
        cell = root["observation"][i].argmax().item()
        assert root["action_mask"][i].tolist() == expected_mask(MAZE, cell // cols, cell % cols)


def test_walls_and_goal_from_size_arguments() -> None:
    env = GridWorld(num_envs=1, size=(2, 3), walls=[(0, 1)], goal=(0, 2), start=(0, 0))
    assert env.cells.tolist() == [[0, 1, 2], [0, 0, 0]]
    assert env.distance_to_goal.tolist() == [[4, -1, 0], [3, 2, 1]]
    env.reset(seed=0)
    actions = [DOWN, RIGHT, RIGHT, UP]
    rewards = []
    for a in actions:
        td, _ = step(env, [a])
        rewards.append(td["next", "reward"].item())
    assert rewards == pytest.approx([-0.01, -0.01, -0.01, 1.0])
    assert env.optimal_return() == pytest.approx(0.97)


def test_truncation_at_max_episode_steps_and_goal_at_the_limit() -> None:
    env = GridWorld(num_envs=2, size=3, start=(0, 0), max_episode_steps=4)
    td = env.reset(seed=0)
    # sub-env 0 bounces right/left and is truncated; sub-env 1 reaches the goal on the 4th step
    plan = [[RIGHT, RIGHT], [LEFT, RIGHT], [RIGHT, DOWN], [LEFT, DOWN]]
    for t, actions in enumerate(plan):
        td["action"] = torch.tensor(actions)
        td, root = env.step_and_reset(td)
        last = t == 3
        assert td["next", "truncated"].squeeze(-1).tolist() == [last, last]
        assert td["next", "terminated"].squeeze(-1).tolist() == [False, last]
        assert td["next", "done"].squeeze(-1).tolist() == [last, last]
        td = root
    assert td["observation"].argmax(-1).tolist() == [0, 0]
    assert env.elapsed_steps.tolist() == [0, 0]


def test_corridor_layout_distances_and_optimal_return() -> None:
    env = GridWorld(num_envs=1, layout=CORRIDOR_LAYOUT, max_episode_steps=40)
    assert (env.rows, env.cols) == (7, 7)
    assert env.goal == (6, 0)
    assert env.start_cells.numel() == 30  # every corridor cell but the goal
    assert env.distance_to_goal[0, 0].item() == 30
    assert env.optimal_return() == pytest.approx(0.855)
    # in every corridor cell the mask allows at most two of the four moves
    free = env.cells.flatten() != 1
    assert (env.action_mask_table[free].sum(-1) <= 2).all()


def test_shortest_path_policy_earns_the_optimal_return() -> None:
    env = GridWorld(num_envs=30, layout=CORRIDOR_LAYOUT, max_episode_steps=40)
    td = env.reset(seed=0)
    start = env.agent_position()
    expected = torch.tensor([env.optimal_return((int(r), int(c))) for r, c in start])
    distance = env.distance_to_goal.flatten()
    total = torch.zeros(30)
    alive = torch.ones(30, dtype=torch.bool)
    for _ in range(40):
        # the allowed move that gets one cell closer to the goal
        neighbours = env._next_cell[env.position]
        closer = (distance[neighbours] == distance[env.position].unsqueeze(-1) - 1) & td["action_mask"]
        td["action"] = closer.float().argmax(-1)
        td, root = env.step_and_reset(td)
        total += td["next", "reward"].squeeze(-1) * alive
        alive &= ~td["next", "done"].squeeze(-1)
        td = root
    assert not alive.any()
    torch.testing.assert_close(total, expected)


def test_seeded_start_positions() -> None:
    a = GridWorld(num_envs=64, layout=MAZE).reset(seed=3)["observation"]
    b = GridWorld(num_envs=64, layout=MAZE).reset(seed=3)["observation"]
    c = GridWorld(num_envs=64, layout=MAZE).reset(seed=4)["observation"]
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    env = GridWorld(num_envs=2000, layout=MAZE)
    env.reset(seed=5)
    counts = torch.bincount(env.position, minlength=20)
    starts = env.start_cells
    # uniform over the floor cells that reach the goal: never a wall, never the goal
    assert set(env.position.tolist()) == set(starts.tolist())
    assert counts[starts].min() > 2000 / len(starts) * 0.6
    assert 2 * 5 + 4 not in starts.tolist()  # the goal (2, 4)
    torch.manual_seed(11)
    d = GridWorld(num_envs=64, layout=MAZE).reset()["observation"]
    torch.manual_seed(11)
    e = GridWorld(num_envs=64, layout=MAZE).reset()["observation"]
    assert torch.equal(d, e)


def test_state_dict_restores_the_exact_continuation() -> None:
    env = GridWorld(num_envs=16, layout=MAZE, max_episode_steps=7)
    td = env.reset(seed=1)
    gen = torch.Generator().manual_seed(2)
    for _ in range(5):
        td["action"] = env.rand_action(gen)
        td = env.step_and_reset(td)[1]
    state = env.state_dict()
    gen_state = gen.get_state()

    def run(td: TensorDict) -> list[torch.Tensor]:
        out = []
        for _ in range(20):
            td["action"] = env.rand_action(gen)
            td, root = env.step_and_reset(td)
            out += [td["next", "observation"], td["next", "reward"], td["next", "done"], root["observation"]]
            td = root
        return out

    first = run(td.clone())
    env.load_state_dict(state)
    gen.set_state(gen_state)
    second = run(td.clone())
    for x, y in zip(first, second):
        assert torch.equal(x, y)
    other = GridWorld(num_envs=16, layout=MAZE, max_episode_steps=7)
    other.load_state_dict(state)
    assert torch.equal(other.position, state["position"])
    with pytest.raises(ValueError, match=r"GridWorld: state 'position' has shape \(16,\), expected \(4,\)"):
        GridWorld(num_envs=4, layout=MAZE).load_state_dict(state)


def test_rand_action_is_always_allowed() -> None:
    env = GridWorld(num_envs=256, layout=CORRIDOR_LAYOUT)
    td = env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    seen = torch.zeros(4, dtype=torch.int64)
    for _ in range(50):
        action = env.rand_action(gen)
        assert td["action_mask"].gather(-1, action.unsqueeze(-1)).all()
        seen += torch.bincount(action, minlength=4)
        td["action"] = action
        td = env.step_and_reset(td)[1]  # validate=True: a forbidden move would raise
    assert (seen > 0).all()


def test_masked_move_raises_and_leaves_state_unchanged() -> None:
    env = GridWorld(num_envs=3, layout=SMALL)
    env.reset(seed=0)
    env.position = torch.tensor([0, 1, 5])  # (0, 0), (0, 1), (1, 2)
    position, elapsed = env.position.clone(), env.elapsed_steps.clone()
    with pytest.raises(
        ValueError,
        match=r"GridWorld: 'action' holds 1 at index \[1\], which 'action_mask' forbids \(expected an allowed "
        r"action; 'action_mask'\[1\] = \[False, False, True, True\], true = allowed\)",
    ):
        step(env, [RIGHT, DOWN, UP])
    assert torch.equal(env.position, position)
    assert torch.equal(env.elapsed_steps, elapsed)


@pytest.mark.parametrize(
    ("action", "error", "match"),
    [
        (torch.tensor([0, 4]), ValueError, r"GridWorld: 'action' holds 4 at index \[1\], outside the action space"),
        (torch.tensor([1.0, 3.0]), TypeError, r"'action' has dtype torch.float32, expected an integer dtype"),
        (torch.tensor([1]), ValueError, r"'action' has shape \(1,\), expected \(2,\)"),
    ],
)
def test_bad_actions_raise(action: torch.Tensor, error: type[Exception], match: str) -> None:
    env = GridWorld(num_envs=2, layout=SMALL)
    env.reset(seed=0)
    with pytest.raises(error, match=match):
        env.step_tensors(action)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layout": ("S.G", ".G.")}, r"exactly one goal 'G', got 2"),
        ({"layout": ("S.x", "..G")}, r"layout holds 'x' at \(row 0, column 2\)"),
        ({"layout": ("S..", ".G")}, r"rows of equal length, got row lengths \[3, 2\]"),
        ({"layout": ("S#.", "##G")}, r"start cells \[\(0, 0\)\] cannot reach the goal \(1, 2\)"),
        ({"size": 3, "walls": [(3, 0)]}, r"wall \(3, 0\) is outside the 3x3 grid"),
        ({"size": 3, "walls": [(2, 2)]}, r"goal \(2, 2\) is a wall"),
        ({"size": 3, "start": (2, 2)}, r"start \(2, 2\) is a wall or the goal"),
        ({"size": 1}, r"size must hold at least 2 cells, got 1"),
        ({"max_episode_steps": 0}, r"max_episode_steps must be an int >= 1, got 0"),
        ({"step_penalty": -0.1}, r"step_penalty must be finite and >= 0, got -0.1"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GridWorld(**kwargs)


def test_layout_as_one_string_and_pockets_are_not_starts() -> None:
    env = GridWorld(
        layout="""
        .#.
        ##.
        ..G
        """
    )
    # (0, 0) is walled in: not a start cell, and its mask allows nothing
    assert 0 not in env.start_cells.tolist()
    assert env.distance_to_goal[0, 0].item() == -1
    assert not env.action_mask_table[0].any()
    assert sorted(env.start_cells.tolist()) == [2, 5, 6, 7]


def test_collector_rollout_carries_the_masks() -> None:
    env = GridWorld(num_envs=4, layout=SMALL, max_episode_steps=6)

    def policy(td: TensorDict) -> TensorDict:
        td["action"] = env.rand_action()
        return td

    torch.manual_seed(0)
    rollout = SyncCollector(env, policy, rollout_length=12, seed=0).rollout()
    assert rollout["action_mask"].shape == (4, 12, 4)
    assert rollout["next", "action_mask"].shape == (4, 12, 4)
    assert rollout["next", "action_mask"].dtype == torch.bool
    # every taken action was allowed by the mask stored next to it
    assert rollout["action_mask"].gather(-1, rollout["action"].unsqueeze(-1)).all()
    returns, lengths = finished_episodes(rollout)
    assert len(returns) > 0
    assert (lengths <= 6).all()
