"""RGB rendering of native envs as batched torch ops (no pygame, no window).

Every function returns ``uint8`` images ``[B, H, W, 3]`` on the device of its input, row 0 at the
top, ready for ``imageio`` (``frames.cpu().numpy()``) or ``torch.utils.tensorboard``'s
``add_video`` (after a permute to ``[B, T, 3, H, W]``).
"""

from __future__ import annotations

import torch

__all__ = [
    "ACROBOT_JOINT_COLOR",
    "ACROBOT_LINK_COLOR",
    "AGENT_COLOR",
    "AXLE_COLOR",
    "BACKGROUND_COLOR",
    "CART_COLOR",
    "FLOOR_COLOR",
    "GOAL_COLOR",
    "GRID_LINE_COLOR",
    "POLE_COLOR",
    "WALL_COLOR",
    "FLAG_COLOR",
    "WHEEL_COLOR",
    "draw_acrobot",
    "draw_cartpole",
    "draw_gridworld",
    "draw_mountain_car",
]

#: gymnasium's CartPole colors: black cart and track, tan pole, blue axle, white background
CART_COLOR = (0, 0, 0)
POLE_COLOR = (202, 152, 101)
AXLE_COLOR = (129, 132, 203)
BACKGROUND_COLOR = (255, 255, 255)

#: gymnasium's Acrobot colors: cyan links, yellow joints (black goal line)
ACROBOT_LINK_COLOR = (0, 204, 204)
ACROBOT_JOINT_COLOR = (204, 204, 0)

#: gymnasium's MountainCar colors: black track and car, grey wheels, yellow flag
WHEEL_COLOR = (128, 128, 128)
FLAG_COLOR = (204, 204, 0)

#: GridWorld colors
FLOOR_COLOR = (235, 235, 235)
WALL_COLOR = (64, 64, 64)
GOAL_COLOR = (40, 170, 60)
AGENT_COLOR = (215, 40, 40)
GRID_LINE_COLOR = (190, 190, 190)


def _color(rgb: tuple[int, int, int], device: torch.device) -> torch.Tensor:
    return torch.tensor(rgb, dtype=torch.uint8, device=device)


def _paint(image: torch.Tensor, mask: torch.Tensor, rgb: tuple[int, int, int]) -> torch.Tensor:
    """Paints ``rgb`` into ``image`` ``[B, H, W, 3]`` (written in place) where ``mask`` (broadcastable to
    ``[B, H, W]``) is true; returns ``image``. One ``masked_fill_`` per channel: no host sync, and ~2.5x
    faster on the CPU than a ``torch.where`` broadcasting the color."""
    mask = mask.expand(image.shape[:-1])
    for channel, value in zip(image.unbind(-1), rgb):
        channel.masked_fill_(mask, value)
    return image


def draw_cartpole(
    state: torch.Tensor,
    x_threshold: float = 2.4,
    pole_half_length: float = 0.5,
    width: int = 600,
    height: int = 400,
) -> torch.Tensor:
    """Draws cart-poles as gymnasium's ``CartPole-v1`` renders them (``rgb_array`` mode).

    At the default 600x400 the geometry is gymnasium's: the track spans ``[-x_threshold,
    x_threshold]`` over the image width (scale ``width / (2 x_threshold)`` pixels per unit), a
    50x30 black cart centred on the track line 100 pixels above the bottom, a 10-pixel-wide tan
    pole of ``2 pole_half_length`` units from an axle 7.5 pixels above the cart centre, tilted
    clockwise by the pole angle (a positive angle leans right), and a blue axle disc. Other sizes
    scale every pixel length by ``width / 600``; the track is always a quarter of the height above the
    bottom.

    Args:
        state: ``[B, 4]`` (cart position, cart velocity, pole angle, pole angular velocity); only
            the position and the angle are drawn.
        x_threshold: half the track width in world units.
        pole_half_length: half the pole length in world units (gymnasium's ``length``).
        width: image width in pixels.
        height: image height in pixels.

    Returns:
        ``[B, height, width, 3]`` uint8.
    """
    if state.dim() != 2 or state.shape[-1] != 4:
        raise ValueError(f"draw_cartpole: state must have shape [B, 4], got {tuple(state.shape)}")
    device = state.device
    s = width / 600.0
    scale = width / (2.0 * x_threshold)
    pole_width, pole_len = 10.0 * s, scale * 2.0 * pole_half_length
    cart_width, cart_height = 50.0 * s, 30.0 * s
    axle_offset = cart_height / 4.0
    cart_y = height / 4.0
    state = state.to(torch.float32)
    cart_x = (state[:, 0] * scale + width / 2.0).view(-1, 1, 1)
    theta = state[:, 2].view(-1, 1, 1)
    # pixel coordinates as pygame draws them before gymnasium flips the image: x right, y up
    px = torch.arange(width, device=device, dtype=torch.float32).view(1, 1, width)
    py = (height - 1 - torch.arange(height, device=device, dtype=torch.float32)).view(1, height, 1)

    image = torch.empty(state.shape[0], height, width, 3, dtype=torch.uint8, device=device)
    image[:] = _color(BACKGROUND_COLOR, device)
    dx = px - cart_x
    cart = (dx.abs() <= cart_width / 2) & ((py - cart_y).abs() <= cart_height / 2)
    image = _paint(image, cart, CART_COLOR)
    # the pole: the upright rectangle [-w/2, w/2] x [-w/2, len - w/2] rotated by -theta about the axle
    dy = py - (cart_y + axle_offset)
    along = dx * theta.sin() + dy * theta.cos()
    across = dx * theta.cos() - dy * theta.sin()
    pole = (along >= -pole_width / 2) & (along <= pole_len - pole_width / 2) & (across.abs() <= pole_width / 2)
    image = _paint(image, pole, POLE_COLOR)
    axle = dx.square() + dy.square() <= (pole_width / 2) ** 2
    image = _paint(image, axle, AXLE_COLOR)
    track_row = height - 1 - int(round(cart_y))
    if 0 <= track_row < height:
        image[:, track_row] = _color(CART_COLOR, device)
    return image


def draw_gridworld(
    cells: torch.Tensor,
    agent: torch.Tensor,
    cell_size: int = 16,
) -> torch.Tensor:
    """Draws grid worlds: floor, walls, goal, grid lines and the agent.

    Cell ``(r, c)`` covers pixel rows ``[r * cell_size, (r + 1) * cell_size)`` and columns
    ``[c * cell_size, (c + 1) * cell_size)``; the first pixel row and column of every cell are a
    grid line. The agent is a square inset by ``cell_size // 4`` pixels on each side.

    Args:
        cells: ``[R, C]`` int, the kind of each cell: 0 floor, 1 wall, 2 goal.
        agent: ``[B, 2]`` int, the agent's ``(row, column)`` in each sub-env.
        cell_size: pixels per cell side (>= 4).

    Returns:
        ``[B, R * cell_size, C * cell_size, 3]`` uint8.
    """
    if cell_size < 4:
        raise ValueError(f"draw_gridworld: cell_size must be >= 4, got {cell_size}")
    if agent.dim() != 2 or agent.shape[-1] != 2:
        raise ValueError(f"draw_gridworld: agent must have shape [B, 2], got {tuple(agent.shape)}")
    device = cells.device
    palette = torch.tensor([FLOOR_COLOR, WALL_COLOR, GOAL_COLOR], dtype=torch.uint8, device=device)
    base = palette[cells.long()].repeat_interleave(cell_size, 0).repeat_interleave(cell_size, 1)
    height, width = base.shape[:2]
    rows = torch.arange(height, device=device)
    cols = torch.arange(width, device=device)
    line = ((rows % cell_size) == 0).view(height, 1) | ((cols % cell_size) == 0).view(1, width)
    base = torch.where(line.unsqueeze(-1), _color(GRID_LINE_COLOR, device), base)
    inset = cell_size // 4
    r = agent[:, 0].view(-1, 1).to(device)
    c = agent[:, 1].view(-1, 1).to(device)
    in_rows = (rows.view(1, -1) >= r * cell_size + inset) & (rows.view(1, -1) < (r + 1) * cell_size - inset)
    in_cols = (cols.view(1, -1) >= c * cell_size + inset) & (cols.view(1, -1) < (c + 1) * cell_size - inset)
    agent_mask = in_rows.unsqueeze(-1) & in_cols.unsqueeze(-2)
    return _paint(base.expand(agent.shape[0], height, width, 3).clone(), agent_mask, AGENT_COLOR)


def _segment_mask(
    px: torch.Tensor, py: torch.Tensor, ax: torch.Tensor, ay: torch.Tensor, angle: torch.Tensor, length, half_width
) -> torch.Tensor:
    """Pixels inside the rectangle from ``(ax, ay)`` along ``angle`` (radians from +x, y up) of
    ``length`` and half-width ``half_width``; every argument broadcasts to ``[B, H, W]``."""
    dx, dy = px - ax, py - ay
    along = dx * angle.cos() + dy * angle.sin()
    across = -dx * angle.sin() + dy * angle.cos()
    return (along >= 0) & (along <= length) & (across.abs() <= half_width)


def draw_acrobot(state: torch.Tensor, size: int = 500, link_length: float = 1.0) -> torch.Tensor:
    """Draws acrobots as gymnasium's ``Acrobot-v1`` renders them (``rgb_array``), without pygame.

    The fixed joint is at the image centre; the view spans ``[-2.2, 2.2]`` link units both ways
    (gymnasium's ``bound``); each link is a cyan bar ``0.2`` units wide hanging down at angle 0, each
    joint a yellow disc of radius ``0.1``, and the goal height (``1`` above the fixed joint) a black line.

    Args:
        state: ``[B, 4]`` (``th1``, ``th2``, ``dth1``, ``dth2``); only the angles are drawn.
        size: image width and height in pixels (gymnasium's 500).
        link_length: length of each link in world units.

    Returns:
        ``[B, size, size, 3]`` uint8.
    """
    if state.dim() != 2 or state.shape[-1] != 4:
        raise ValueError(f"draw_acrobot: state must have shape [B, 4], got {tuple(state.shape)}")
    device = state.device
    bound = 2 * link_length + 0.2
    scale = size / (2 * bound)  # pixels per world unit
    state = state.to(torch.float32)
    th1 = state[:, 0].view(-1, 1, 1)
    th12 = (state[:, 0] + state[:, 1]).view(-1, 1, 1)
    # world coordinates of every pixel centre: x right, y up, origin at the fixed joint
    coords = (torch.arange(size, device=device, dtype=torch.float32) + 0.5 - size / 2) / scale
    px = coords.view(1, 1, size)
    py = -coords.view(1, size, 1)
    image = torch.empty(state.shape[0], size, size, 3, dtype=torch.uint8, device=device)
    image[:] = _color(BACKGROUND_COLOR, device)
    goal_row = int(round(size / 2 - link_length * scale))
    if 0 <= goal_row < size:
        image[:, goal_row] = _color(CART_COLOR, device)
    zero = torch.zeros_like(th1)
    # a link at angle th hangs from its joint towards (sin th, -cos th): direction angle th - pi/2
    elbow_x, elbow_y = link_length * th1.sin(), -link_length * th1.cos()
    link1 = _segment_mask(px, py, zero, zero, th1 - torch.pi / 2, link_length, 0.1)
    link2 = _segment_mask(px, py, elbow_x, elbow_y, th12 - torch.pi / 2, link_length, 0.1)
    image = _paint(image, link1 | link2, ACROBOT_LINK_COLOR)
    joints = (px.square() + py.square() <= 0.01) | ((px - elbow_x).square() + (py - elbow_y).square() <= 0.01)
    return _paint(image, joints, ACROBOT_JOINT_COLOR)


def draw_mountain_car(
    position: torch.Tensor,
    goal_position: float = 0.5,
    min_position: float = -1.2,
    max_position: float = 0.6,
    width: int = 600,
    height: int = 400,
) -> torch.Tensor:
    """Draws mountain cars as gymnasium's ``MountainCar-v0`` renders them (``rgb_array``), without pygame.

    At the default 600x400 the geometry is gymnasium's: the track ``y = 0.45 sin(3x) + 0.55`` over
    ``[min_position, max_position]`` scaled to the width (a black curve), a 40x20-pixel black car
    10 pixels above the track, tilted by ``cos(3x)`` radians, on two grey wheels, and a 50-pixel flag pole with a
    yellow flag at ``goal_position``. Other sizes scale every pixel length by ``width / 600``.

    Args:
        position: ``[B]`` car positions.
        goal_position: where the flag stands (0.5 for ``MountainCar``, 0.45 for the continuous one).
        min_position, max_position: the track's ends.
        width, height: image size in pixels.

    Returns:
        ``[B, height, width, 3]`` uint8.
    """
    if position.dim() != 1:
        raise ValueError(f"draw_mountain_car: position must have shape [B], got {tuple(position.shape)}")
    device = position.device
    s = width / 600.0
    scale = width / (max_position - min_position)
    car_width, car_height, clearance = 40.0 * s, 20.0 * s, 10.0 * s

    def track(x: torch.Tensor) -> torch.Tensor:  # pixels above the bottom, for positions x
        return (torch.sin(3 * x) * 0.45 + 0.55) * scale

    position = position.to(torch.float32)
    px = torch.arange(width, device=device, dtype=torch.float32).view(1, 1, width)
    py = (height - 1 - torch.arange(height, device=device, dtype=torch.float32)).view(1, height, 1)
    image = torch.empty(position.shape[0], height, width, 3, dtype=torch.uint8, device=device)
    image[:] = _color(BACKGROUND_COLOR, device)
    curve = track(px / scale + min_position)
    slope = torch.cos(3 * (px / scale + min_position)) * 1.35  # d(track)/d(pixel x)
    on_track = (py - curve).abs() <= torch.sqrt(1 + slope.square()) * 0.5 * max(s, 1.0)
    image = _paint(image, on_track.expand(position.shape[0], height, width), CART_COLOR)
    # the flag: a pole of 50 pixels and a triangle to its right, at the goal
    flag_x = (goal_position - min_position) * scale
    flag_y = float(track(torch.tensor(goal_position)))
    pole = ((px - flag_x).abs() <= 0.5 * max(s, 1.0)) & (py >= flag_y) & (py <= flag_y + 50 * s)
    up = py - (flag_y + 40 * s)  # the triangle (x, y+50) (x, y+40) (x+25, y+45), in pixels
    triangle = (px >= flag_x) & (up >= (px - flag_x) / 25.0 * 5) & (up <= 10 * s - (px - flag_x) / 25.0 * 5)
    triangle = triangle & (px <= flag_x + 25 * s)
    image = _paint(image, (pole | triangle).expand(position.shape[0], height, width), FLAG_COLOR)
    image = _paint(image, pole.expand(position.shape[0], height, width), CART_COLOR)
    # the car: the rectangle [-w/2, w/2] x [0, h] rotated by cos(3x) radians (gymnasium's tilt), its
    # origin `clearance` pixels straight above the track; the wheels on its bottom edge at +-w/4
    cx = ((position - min_position) * scale).view(-1, 1, 1)
    cy = (track(position) + clearance).view(-1, 1, 1)
    angle = torch.cos(3 * position).view(-1, 1, 1)
    dx, dy = px - cx, py - cy
    along = dx * angle.cos() + dy * angle.sin()
    up = -dx * angle.sin() + dy * angle.cos()
    body = (along.abs() <= car_width / 2) & (up >= 0) & (up <= car_height)
    image = _paint(image, body, CART_COLOR)
    radius = float(int(car_height / 2.5))
    wheels = torch.zeros_like(body)
    for offset in (car_width / 4, -car_width / 4):
        wheels |= (along - offset).square() + up.square() <= radius**2
    return _paint(image, wheels, WHEEL_COLOR)
