"""A batched, torch-native grid world with walls, a goal and per-step action masks."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs.action_masks import check_masked_action, random_allowed_action
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.rendering import draw_gridworld
from rl4py.envs.seeding import SeededGenerator

__all__ = ["CORRIDOR_LAYOUT", "GridWorld"]

#: A 7x7 winding one-cell-wide corridor of 31 cells, 30 moves from the top-left corner to the goal
#: ``G`` at the bottom-left; episodes start uniformly on any corridor cell. In every cell two or
#: three of the four moves run into a wall, so an unmasked policy wastes half of its early steps
#: or more; the action mask removes them. With ``max_episode_steps=40`` the optimal return,
#: averaged over the start cells, is 0.855.
CORRIDOR_LAYOUT: tuple[str, ...] = (
    ".......",
    "######.",
    ".......",
    ".######",
    ".......",
    "######.",
    "G......",
)

_FLOOR, _WALL, _GOAL = 0, 1, 2
_CHARS = {".": _FLOOR, "#": _WALL, "G": _GOAL, "S": _FLOOR}
Cell = tuple[int, int]


def _parse_layout(layout: str | Sequence[str]) -> tuple[np.ndarray, Cell, list[Cell]]:
    """Returns ``(kinds [R, C], goal, start cells)`` of a layout drawn with ``#``, ``.``, ``G``, ``S``."""
    rows = [row.strip() for row in layout.splitlines()] if isinstance(layout, str) else [str(r) for r in layout]
    rows = [row for row in rows if row]
    if not rows or len({len(row) for row in rows}) != 1:
        raise ValueError(
            f"GridWorld: layout must be non-empty rows of equal length, got row lengths {[len(r) for r in rows]}"
        )
    kinds = np.zeros((len(rows), len(rows[0])), dtype=np.int64)
    goals, starts = [], []
    for r, row in enumerate(rows):
        for c, char in enumerate(row):
            if char not in _CHARS:
                raise ValueError(
                    f"GridWorld: layout holds {char!r} at (row {r}, column {c}); expected one of '#', '.', 'G', 'S'"
                )
            kinds[r, c] = _CHARS[char]
            if char == "G":
                goals.append((r, c))
            elif char == "S":
                starts.append((r, c))
    if len(goals) != 1:
        raise ValueError(f"GridWorld: layout must hold exactly one goal 'G', got {len(goals)} at {goals}")
    return kinds, goals[0], starts


class GridWorld(EnvBase):
    """Move to the goal of a grid with walls; any number of sub-envs, as tensor ops on any device.

    The agent stands on a floor cell and moves up, down, left or right (actions 0, 1, 2, 3). The
    grid's border and its wall cells block moves; the ``"action_mask"`` entry marks them.

    - **Observation** ``[B, R * C]`` float32: the one-hot index ``row * C + column`` of the
      agent's cell. The goal and the walls are fixed per env, so the agent's cell is the whole
      state, and an MLP on a one-hot input learns it as fast as a table.
    - **Action mask** ``"action_mask"`` ``[B, 4]`` bool (true = allowed), in the reset entries
      and in both ``next`` and ``root`` of every step: false for a move into a wall or off the
      grid. With ``validate=True`` a masked move raises a ``ValueError`` naming the env, the move
      and the mask (the state is left unchanged); with ``validate=False`` it is a no-op: the agent
      stays, the step counts and costs the step penalty.
    - **Reward** ``goal_reward`` (1.0) on the step that enters the goal, which terminates the
      episode; ``-step_penalty`` (-0.01) on every other step. From a start ``d`` moves away, the
      optimal return is ``goal_reward - (d - 1) * step_penalty`` (:meth:`optimal_return`).
    - **Truncation** after ``max_episode_steps`` steps (a step that enters the goal at the limit
      is both terminated and truncated, as gymnasium's ``TimeLimit`` reports it).
    - **Start** uniform over the start cells (``S`` in the layout, or ``start``, or by default
      every floor cell except the goal from which the goal is reachable), drawn from the env's
      seeded generator.

    The world is given either as ``size`` + ``walls`` + ``goal`` + ``start``, or as a ``layout``
    of equal-length strings: ``#`` wall, ``.`` floor, ``G`` the goal (exactly one), ``S`` a start
    cell (none: every reachable floor cell). :data:`CORRIDOR_LAYOUT` is a winding corridor where
    the mask removes two of the four moves in most cells.

    Args:
        num_envs: number of sub-envs B.
        size: side of a square grid, or ``(rows, columns)``; ignored with ``layout``.
        walls: ``(row, column)`` cells that are walls; ignored with ``layout``.
        goal: the goal cell; default the bottom-right corner; ignored with ``layout``.
        start: a fixed start cell; default random (see above); ignored with ``layout``.
        layout: the world drawn as strings (one per row, or one string with a row per line).
        max_episode_steps: truncation horizon.
        step_penalty: cost of every step that does not enter the goal (>= 0).
        goal_reward: reward of the step that enters the goal.
        device: device of the state and of every returned tensor.
        validate: check actions, masked moves included (see :class:`EnvBase`).

    Examples:
        >>> env = GridWorld(num_envs=8, layout=CORRIDOR_LAYOUT, max_episode_steps=60)
        >>> td = env.reset(seed=0)
        >>> td["observation"].shape, td["action_mask"].shape
        (torch.Size([8, 49]), torch.Size([8, 4]))
        >>> td["action"] = env.rand_action()  # uniform over the allowed moves
        >>> env.step(td)["next", "action_mask"].dtype
        torch.bool
    """

    observation_keys = (keys.OBSERVATION, keys.ACTION_MASK)

    UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3
    #: ``(row, column)`` change of each action
    MOVES: tuple[Cell, ...] = ((-1, 0), (1, 0), (0, -1), (0, 1))

    def __init__(
        self,
        num_envs: int = 1,
        size: int | tuple[int, int] = 5,
        walls: Sequence[Cell] = (),
        goal: Cell | None = None,
        start: Cell | None = None,
        layout: str | Sequence[str] | None = None,
        max_episode_steps: int = 100,
        step_penalty: float = 0.01,
        goal_reward: float = 1.0,
        device: torch.device | str = "cpu",
        validate: bool = True,
    ) -> None:
        if layout is not None:
            kinds, goal, starts = _parse_layout(layout)
        else:
            kinds, goal, starts = self._build(size, walls, goal, start)
        n_rows, n_cols = kinds.shape
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Box(0.0, 1.0, (n_rows * n_cols,), np.float32),
            single_action_space=gym.spaces.Discrete(4),
            device=device,
            validate=validate,
        )
        self.check_outputs = False  # one-hot observations and constant rewards are finite
        if not isinstance(max_episode_steps, int) or max_episode_steps < 1:
            raise ValueError(f"GridWorld: max_episode_steps must be an int >= 1, got {max_episode_steps!r}")
        if not (math.isfinite(step_penalty) and step_penalty >= 0):
            raise ValueError(f"GridWorld: step_penalty must be finite and >= 0, got {step_penalty}")
        if not math.isfinite(goal_reward):
            raise ValueError(f"GridWorld: goal_reward must be finite, got {goal_reward}")
        self.rows, self.cols = int(n_rows), int(n_cols)
        self.num_cells = self.rows * self.cols
        self.goal: Cell = (int(goal[0]), int(goal[1]))
        self.max_episode_steps = max_episode_steps
        self.step_penalty = float(step_penalty)
        self.goal_reward = float(goal_reward)

        distance = self._distances(kinds, self.goal)
        if starts:
            unreachable = [cell for cell in starts if distance[cell] < 0]
            if unreachable:
                raise ValueError(f"GridWorld: start cells {unreachable} cannot reach the goal {self.goal}")
        else:
            starts = [(int(r), int(c)) for r, c in zip(*np.nonzero(distance > 0))]
            if not starts:
                raise ValueError(f"GridWorld: no floor cell can reach the goal {self.goal}; expected at least one")
        next_cell, valid = self._move_tables(kinds)
        dev = self.device
        #: ``[R, C]`` int64: 0 floor, 1 wall, 2 goal
        self.cells = torch.as_tensor(kinds, device=dev)
        #: ``[R, C]`` int64: moves from each cell to the goal, -1 for walls and unreachable cells
        self.distance_to_goal = torch.as_tensor(distance, device=dev)
        #: ``[K]`` int64: flat indices ``row * C + column`` of the start cells
        self.start_cells = torch.as_tensor(sorted(r * self.cols + c for r, c in starts), device=dev)
        #: ``[R * C, 4]`` bool: the action mask of each cell (all false at walls)
        self.action_mask_table = torch.as_tensor(valid, device=dev)
        self._next_cell = torch.as_tensor(next_cell, device=dev)
        self._goal_index = self.goal[0] * self.cols + self.goal[1]
        self._rewards = torch.tensor([-self.step_penalty, self.goal_reward], dtype=torch.float32, device=dev)
        self._rng = SeededGenerator(dev)
        #: ``[B]`` int64: the flat index of each sub-env's agent cell
        self.position = self.start_cells[torch.zeros(num_envs, dtype=torch.int64, device=dev)]
        self.elapsed_steps = torch.zeros(num_envs, dtype=torch.int64, device=dev)

    # ------------------------------------------------------------ the world
    @staticmethod
    def _build(
        size: int | tuple[int, int], walls: Sequence[Cell], goal: Cell | None, start: Cell | None
    ) -> tuple[np.ndarray, Cell, list[Cell]]:
        n_rows, n_cols = (size, size) if isinstance(size, int) else tuple(size)
        if n_rows < 1 or n_cols < 1 or n_rows * n_cols < 2:
            raise ValueError(f"GridWorld: size must hold at least 2 cells, got {size!r}")
        kinds = np.zeros((n_rows, n_cols), dtype=np.int64)

        def inside(name: str, cell: Cell) -> Cell:
            r, c = (int(v) for v in cell)
            if not (0 <= r < n_rows and 0 <= c < n_cols):
                raise ValueError(
                    f"GridWorld: {name} {tuple(cell)} is outside the {n_rows}x{n_cols} grid; "
                    f"expected rows in [0, {n_rows}) and columns in [0, {n_cols})"
                )
            return r, c

        for cell in walls:
            kinds[inside("wall", cell)] = _WALL
        goal = inside("goal", goal) if goal is not None else (n_rows - 1, n_cols - 1)
        if kinds[goal] == _WALL:
            raise ValueError(f"GridWorld: goal {goal} is a wall; expected a floor cell")
        kinds[goal] = _GOAL
        starts: list[Cell] = []
        if start is not None:
            start = inside("start", start)
            if kinds[start] != _FLOOR:
                raise ValueError(f"GridWorld: start {start} is a wall or the goal; expected a floor cell")
            starts.append(start)
        return kinds, goal, starts

    @staticmethod
    def _distances(kinds: np.ndarray, goal: Cell) -> np.ndarray:
        """Breadth-first move counts to ``goal`` (-1 for walls and unreachable cells)."""
        distance = np.full(kinds.shape, -1, dtype=np.int64)
        distance[goal] = 0
        queue = deque([goal])
        while queue:
            r, c = queue.popleft()
            for dr, dc in GridWorld.MOVES:
                nr, nc = r + dr, c + dc
                inside = 0 <= nr < kinds.shape[0] and 0 <= nc < kinds.shape[1]
                if inside and kinds[nr, nc] != _WALL and distance[nr, nc] < 0:
                    distance[nr, nc] = distance[r, c] + 1
                    queue.append((nr, nc))
        return distance

    @staticmethod
    def _move_tables(kinds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``next_cell [R * C, 4]`` (the cell itself for a blocked move) and ``valid [R * C, 4]``."""
        n_rows, n_cols = kinds.shape
        index = np.arange(n_rows * n_cols).reshape(n_rows, n_cols)
        next_cell = np.repeat(index.reshape(-1, 1), 4, axis=1)
        valid = np.zeros((n_rows * n_cols, 4), dtype=bool)
        for a, (dr, dc) in enumerate(GridWorld.MOVES):
            rr, cc = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
            nr, nc = rr + dr, cc + dc
            inside = (nr >= 0) & (nr < n_rows) & (nc >= 0) & (nc < n_cols)
            target = np.where(inside, nr.clip(0, n_rows - 1) * n_cols + nc.clip(0, n_cols - 1), index)
            ok = inside & (kinds.reshape(-1)[target] != _WALL) & (kinds != _WALL)
            valid[:, a] = ok.reshape(-1)
            next_cell[:, a] = np.where(ok, target, index).reshape(-1)
        return next_cell, valid

    def optimal_return(self, cell: Cell | None = None) -> float:
        """The best undiscounted return from ``cell``, or its mean over the start distribution.

        Args:
            cell: a start ``(row, column)``; ``None`` averages over the start cells (uniform).

        Returns:
            ``goal_reward - (d - 1) * step_penalty`` for a cell ``d >= 1`` moves from the goal
            (``-max_episode_steps * step_penalty`` where ``d > max_episode_steps``).
        """
        if cell is None:
            flat = self.start_cells.cpu()
            cells = [(int(i) // self.cols, int(i) % self.cols) for i in flat]
            return sum(self.optimal_return(c) for c in cells) / len(cells)
        d = int(self.distance_to_goal[cell[0], cell[1]])
        if d < 1:
            raise ValueError(f"GridWorld: cell {tuple(cell)} is a wall, the goal or cannot reach the goal")
        if d > self.max_episode_steps:
            return -self.max_episode_steps * self.step_penalty
        return self.goal_reward - (d - 1) * self.step_penalty

    def agent_position(self) -> torch.Tensor:
        """The agent's ``(row, column)`` in each sub-env, ``[B, 2]`` int64."""
        return torch.stack((self.position // self.cols, self.position % self.cols), dim=-1)

    # ------------------------------------------------------------ dynamics
    def _observe(self, position: torch.Tensor) -> dict[NestedKey, torch.Tensor]:
        return {
            keys.OBSERVATION: torch.nn.functional.one_hot(position, self.num_cells).to(torch.float32),
            keys.ACTION_MASK: self.action_mask_table[position],
        }

    def _draw_start(self) -> torch.Tensor:
        k = self.start_cells.shape[0]
        pick = torch.randint(0, k, (self.num_envs,), generator=self._rng.generator, device=self.device)
        return self.start_cells[pick]

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        self._rng.seed(seed)
        self.position = self._draw_start()
        self.elapsed_steps = torch.zeros_like(self.elapsed_steps)
        return self._observe(self.position)

    def check_action(self, action: torch.Tensor) -> None:
        """Checks ``action`` against the action space and against the current ``"action_mask"``."""
        super().check_action(action)
        check_masked_action(self.name, action, self.action_mask_table[self.position], self.single_action_space)

    def _step(self, action: torch.Tensor) -> EnvStep:
        new = self._next_cell[self.position, action.long()]
        terminated = (new == self._goal_index).unsqueeze(-1)
        elapsed = self.elapsed_steps + 1
        truncated = (elapsed >= self.max_episode_steps).unsqueeze(-1)
        done = terminated | truncated
        reward = self._rewards[terminated.long()]
        self.position = torch.where(done.squeeze(-1), self._draw_start(), new)
        self.elapsed_steps = elapsed.masked_fill(done.squeeze(-1), 0)
        return EnvStep(
            next={
                **self._observe(new),
                keys.REWARD: reward,
                keys.TERMINATED: terminated,
                keys.TRUNCATED: truncated,
                keys.DONE: done,
            },
            root=self._observe(self.position),
        )

    def rand_action(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A uniformly random **allowed** move ``[B]`` int64 for each sub-env's current cell."""
        return random_allowed_action(self.action_mask_table[self.position], self.single_action_space, generator)

    # ------------------------------------------------------------ rendering
    def draw_observation(
        self, observation: torch.Tensor, width: int | None = None, height: int | None = None
    ) -> torch.Tensor:
        """Draws sub-envs from their one-hot observations: floor, walls, goal (green), agent (red square).

        The one drawing path of this env: :meth:`render` and :class:`~rl4py.envs.PixelObservation`
        call it. Where ``width`` and ``height`` are ``columns * c`` and ``rows * c`` for one cell size
        ``c >= 4``, the picture is :func:`~rl4py.envs.draw_gridworld`'s at ``c``; any other size is
        drawn at the smallest cell size covering it and area-averaged down to ``height x width``.

        Args:
            observation: ``[B, rows * columns]`` one-hot agent cells (the env's ``"observation"``).
            width, height: image size in pixels (``None``: 16 pixels per cell).

        Returns:
            ``[B, height, width, 3]`` uint8 on ``observation``'s device.
        """
        if observation.dim() != 2 or observation.shape[-1] != self.num_cells:
            raise ValueError(
                f"GridWorld: draw_observation needs one-hot observations [B, {self.num_cells}], "
                f"got {tuple(observation.shape)}"
            )
        width = self.cols * 16 if width is None else width
        height = self.rows * 16 if height is None else height
        index = observation.argmax(-1)
        agent = torch.stack((index // self.cols, index % self.cols), dim=-1)
        cells = self.cells.to(observation.device)
        cell_size = width // self.cols
        if cell_size >= 4 and width == self.cols * cell_size and height == self.rows * cell_size:
            return draw_gridworld(cells, agent, cell_size)
        cell_size = max(4, math.ceil(max(width / self.cols, height / self.rows)))
        big = draw_gridworld(cells, agent, cell_size).permute(0, 3, 1, 2).to(torch.float32)
        small = torch.nn.functional.interpolate(big, size=(height, width), mode="area")
        return small.round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous()

    def render(self, index: int | None = None, cell_size: int = 16) -> torch.Tensor:
        """Draws the current state: floor, walls, goal (green) and agent (red square), through
        :meth:`draw_observation`.

        Args:
            index: ``None`` draws every sub-env; an int draws only that sub-env.
            cell_size: pixels per cell side (>= 4).

        Returns:
            ``[B, R * cell_size, C * cell_size, 3]`` uint8, or ``[R * cell_size, C * cell_size, 3]``
            for one ``index``, on the env's device.
        """
        if cell_size < 4:
            raise ValueError(f"GridWorld: cell_size must be >= 4, got {cell_size}")
        observation = self._observe(self.position)[keys.OBSERVATION]
        size = (self.cols * cell_size, self.rows * cell_size)
        if index is None:
            return self.draw_observation(observation, *size)
        if not -self.num_envs <= index < self.num_envs:
            raise IndexError(f"GridWorld: render index {index} is out of range for num_envs={self.num_envs}")
        return self.draw_observation(observation[index].unsqueeze(0), *size)[0]

    # ------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict:
        return {
            "position": self.position.clone(),
            "elapsed_steps": self.elapsed_steps.clone(),
            "rng": self._rng.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        position = state["position"].to(self.device)
        if tuple(position.shape) != (self.num_envs,):
            raise ValueError(
                f"GridWorld: state 'position' has shape {tuple(position.shape)}, expected ({self.num_envs},)"
            )
        self.position = position.clone()
        self.elapsed_steps = state["elapsed_steps"].to(self.device).clone()
        self._rng.load_state_dict(state["rng"])
