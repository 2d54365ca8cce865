"""RGB rendering of CartPole and GridWorld (rl4py.envs.rendering)."""

from __future__ import annotations

import pytest
import torch

from rl4py.envs.cartpole import CartPole
from rl4py.envs.gridworld import GridWorld
from rl4py.envs.rendering import (
    AGENT_COLOR,
    AXLE_COLOR,
    BACKGROUND_COLOR,
    CART_COLOR,
    FLOOR_COLOR,
    GOAL_COLOR,
    GRID_LINE_COLOR,
    POLE_COLOR,
    WALL_COLOR,
    draw_cartpole,
    draw_gridworld,
)

# gymnasium's geometry at 600x400: 125 pixels per unit, the axle 107.5 pixels above the bottom
# row's baseline (y = 399 - row), the cart centred at x = 300 + 125 * position
AXLE_Y = 107.5


def rgb(image: torch.Tensor, row: int, col: int) -> tuple[int, ...]:
    return tuple(image[row, col].tolist())


def cartpole_at(states: list[list[float]]) -> CartPole:
    env = CartPole(num_envs=len(states))
    env.reset(seed=0)
    env.state = torch.tensor(states)
    return env


def test_cartpole_render_shape_dtype_and_index() -> None:
    env = cartpole_at([[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, -0.1, 0.0]])
    frames = env.render()
    assert frames.shape == (2, 400, 600, 3)
    assert frames.dtype == torch.uint8
    one = env.render(1)
    assert one.shape == (400, 600, 3)
    assert torch.equal(one, frames[1])
    assert torch.equal(env.render(-1), frames[1])
    small = env.render(0, width=300, height=200)
    assert small.shape == (200, 300, 3)
    with pytest.raises(IndexError, match=r"CartPole: render index 2 is out of range for num_envs=2"):
        env.render(2)


def test_cartpole_render_background_track_cart_and_axle() -> None:
    image = cartpole_at([[0.0, 0.0, 0.0, 0.0]]).render(0)
    assert rgb(image, 0, 0) == BACKGROUND_COLOR
    assert rgb(image, 399, 599) == BACKGROUND_COLOR
    assert rgb(image, 299, 10) == CART_COLOR  # the track line, 100 pixels above the bottom
    assert rgb(image, 305, 280) == CART_COLOR  # inside the 50x30 cart around (300, 100)
    assert rgb(image, 305, 330) == BACKGROUND_COLOR  # right of the cart
    assert rgb(image, 399 - 108, 300) == AXLE_COLOR


def test_cartpole_cart_pixels_follow_the_cart_position() -> None:
    left, right = cartpole_at([[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]).render()
    # cart 1 is centred at x = 425: the column 405 is inside it only, the column 290 inside cart 0 only
    assert rgb(right, 305, 405) == CART_COLOR
    assert rgb(left, 305, 405) == BACKGROUND_COLOR
    assert rgb(left, 305, 290) == CART_COLOR
    assert rgb(right, 305, 290) == BACKGROUND_COLOR


def test_cartpole_image_changes_with_the_pole_angle() -> None:
    upright, tilted = cartpole_at([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.2, 0.0]]).render()
    row = 232  # y = 167, 59.5 pixels above the axle
    assert 399 - row - AXLE_Y == pytest.approx(59.5)
    # upright: the pixel straight above the axle is pole; tilted right by 0.2 rad it is background
    assert rgb(upright, row, 300) == POLE_COLOR
    assert rgb(tilted, row, 300) == BACKGROUND_COLOR
    # the tilted pole passes 59.5 * tan(0.2) ~ 12 pixels to the right at that height
    assert rgb(tilted, row, 312) == POLE_COLOR
    assert rgb(upright, row, 312) == BACKGROUND_COLOR
    # a negative angle leans left, mirrored
    (mirrored,) = cartpole_at([[0.0, 0.0, -0.2, 0.0]]).render()
    assert rgb(mirrored, row, 288) == POLE_COLOR
    assert rgb(mirrored, row, 312) == BACKGROUND_COLOR
    # the top of the upright pole: 125 - 5 pixels above the axle
    assert rgb(upright, 399 - 227, 300) == POLE_COLOR
    assert rgb(upright, 399 - 229, 300) == BACKGROUND_COLOR
    assert not torch.equal(upright, tilted)


def test_draw_cartpole_rejects_bad_state_shape() -> None:
    with pytest.raises(ValueError, match=r"draw_cartpole: state must have shape \[B, 4\], got \(4,\)"):
        draw_cartpole(torch.zeros(4))


LAYOUT = (
    "....",
    ".#..",
    "...G",
)


def center(r: int, c: int, cell_size: int = 16) -> tuple[int, int]:
    return r * cell_size + cell_size // 2, c * cell_size + cell_size // 2


def test_gridworld_render_shape_dtype_and_cell_colors() -> None:
    env = GridWorld(num_envs=3, layout=LAYOUT, validate=False)
    env.reset(seed=0)
    env.position = torch.tensor([0, 2, 4])  # (0, 0), (0, 2), (1, 0)
    frames = env.render()
    assert frames.shape == (3, 48, 64, 3)
    assert frames.dtype == torch.uint8
    image = frames[0]
    assert rgb(image, *center(0, 0)) == AGENT_COLOR
    assert rgb(image, *center(0, 1)) == FLOOR_COLOR
    assert rgb(image, *center(1, 1)) == WALL_COLOR
    assert rgb(image, *center(2, 3)) == GOAL_COLOR
    assert rgb(image, 16, 40) == GRID_LINE_COLOR  # the first pixel row of row 1
    assert rgb(image, 40, 32) == GRID_LINE_COLOR  # the first pixel column of column 2
    # the agent is a square inset by cell_size // 4: its edge pixels are floor
    assert rgb(image, 3, 8) == FLOOR_COLOR
    assert rgb(image, 4, 8) == AGENT_COLOR
    assert rgb(image, 11, 8) == AGENT_COLOR
    assert rgb(image, 12, 8) == FLOOR_COLOR
    # sub-envs differ only in their agent's cell
    assert rgb(frames[1], *center(0, 2)) == AGENT_COLOR
    assert rgb(frames[1], *center(0, 0)) == FLOOR_COLOR
    assert torch.equal(env.render(2), frames[2])
    big = env.render(0, cell_size=8)
    assert big.shape == (24, 32, 3)
    with pytest.raises(IndexError, match=r"GridWorld: render index 3 is out of range for num_envs=3"):
        env.render(3)


def test_gridworld_agent_pixels_move_with_the_agent() -> None:
    env = GridWorld(num_envs=1, layout=LAYOUT)
    env.reset(seed=0)
    env.position = torch.tensor([0])
    before = env.render(0)
    env.step_tensors(torch.tensor([3]))  # right
    after = env.render(0)
    assert env.agent_position().tolist() == [[0, 1]]
    assert rgb(before, *center(0, 0)) == AGENT_COLOR
    assert rgb(after, *center(0, 0)) == FLOOR_COLOR
    assert rgb(before, *center(0, 1)) == FLOOR_COLOR
    assert rgb(after, *center(0, 1)) == AGENT_COLOR
    changed = (before != after).any(-1).nonzero()
    # only pixels of the two cells changed
    assert changed[:, 0].max() < 16
    assert changed[:, 1].max() < 32


def test_draw_gridworld_rejects_bad_arguments() -> None:
    cells = torch.zeros(2, 2, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"draw_gridworld: cell_size must be >= 4, got 2"):
        draw_gridworld(cells, torch.zeros(1, 2, dtype=torch.int64), cell_size=2)
    with pytest.raises(ValueError, match=r"draw_gridworld: agent must have shape \[B, 2\], got \(2,\)"):
        draw_gridworld(cells, torch.zeros(2, dtype=torch.int64))
