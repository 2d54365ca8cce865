"""Reward shaping wrappers: a potential-based shaping term and a count-based exploration bonus.

Both add to ``("next", "reward")`` and keep the env's own reward under ``("next", "extrinsic_reward")``,
so a run can report the return of the task next to the return it optimised.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.wrappers import EnvWrapper, require_one_reward_head

__all__ = ["EXTRINSIC_REWARD", "CountBonus", "PotentialShaping", "VisitCounts", "grid_cells"]

#: where the shaping wrappers keep the env's own reward, ``[B, 1]``, under ``"next"``
EXTRINSIC_REWARD = "extrinsic_reward"


def _keep_extrinsic(out: EnvStep) -> torch.Tensor:
    """The env's own reward of ``out``, stored once under ``("next", "extrinsic_reward")`` (the innermost
    shaping wrapper stores it; outer ones leave it)."""
    if EXTRINSIC_REWARD not in out.next:
        out.next[EXTRINSIC_REWARD] = out.next[keys.REWARD]
    return out.next[keys.REWARD]


class PotentialShaping(EnvWrapper):
    """Potential-based reward shaping (Ng, Harada & Russell, 1999): adds ``gamma * phi(s') - phi(s)``.

    The shaped and the original task have the same optimal policies. ``phi(s')`` is taken as 0 when
    the episode terminates (not when it is truncated, where the state goes on), so the shaping terms
    of an episode telescope to ``-phi(s_0)`` plus a bounded tail.

    Args:
        env: the wrapped env (flat ``"observation"``).
        potential: ``phi``, maps observations ``[B, *obs_shape]`` to potentials ``[B]``.
        gamma: the discount of the learner (use the trainer's ``gamma``).

    Examples:
        >>> from rl4py.envs import MountainCar
        >>> energy = lambda obs: 100 * obs[:, 1].abs()   # a faster car has more potential
        >>> env = PotentialShaping(MountainCar(num_envs=2), energy, gamma=0.99)
        >>> _ = env.reset_tensors(seed=0)
        >>> out = env.step_tensors(torch.tensor([2, 2]))
        >>> sorted(k for k in out.next if isinstance(k, str))
        ['done', 'extrinsic_reward', 'observation', 'reward', 'terminated', 'truncated']
    """

    def __init__(self, env: EnvBase, potential: Callable[[torch.Tensor], torch.Tensor], gamma: float) -> None:
        if not callable(potential):
            raise TypeError(f"PotentialShaping: potential must be callable, got {type(potential).__name__}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"PotentialShaping: gamma must be in [0, 1], got {gamma}")
        require_one_reward_head(env, "PotentialShaping")
        super().__init__(env)
        self.potential = potential
        self.gamma = float(gamma)
        self._phi: torch.Tensor | None = None  # phi of the current root observation, [B, 1]

    def _potential(self, observation: torch.Tensor) -> torch.Tensor:
        phi = self.potential(observation)
        if phi.shape != (self.num_envs,):
            raise ValueError(
                f"PotentialShaping: potential returned shape {tuple(phi.shape)}; expected ({self.num_envs},), "
                f"one value per sub-env"
            )
        return phi.to(torch.float32).unsqueeze(-1)

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        obs = self.env.reset_tensors(seed)
        self._phi = self._potential(obs[keys.OBSERVATION])
        return obs

    def _step(self, action: torch.Tensor) -> EnvStep:
        if self._phi is None:
            raise RuntimeError("PotentialShaping: step before reset")
        out = self.env.step_tensors(action)
        reward = _keep_extrinsic(out)
        phi_next = self._potential(out.next[keys.OBSERVATION]).masked_fill(out.next[keys.TERMINATED], 0.0)
        out.next[keys.REWARD] = reward + self.gamma * phi_next - self._phi
        # the next step starts from the root: the reset observation where an episode ended
        self._phi = self._potential(out.root[keys.OBSERVATION])
        return out

    def state_dict(self) -> dict:
        return {"env": self.env.state_dict(), "phi": None if self._phi is None else self._phi.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.env.load_state_dict(state["env"])
        self._phi = None if state["phi"] is None else state["phi"].to(self.device).clone()


class VisitCounts(nn.Module):
    """A hashed table of visit counts over integer cells: the count-based bonuses' one counter.

    A cell is an int64 vector ``[*B, D]`` (a grid cell ``floor(s / resolution)``, a SimHash code);
    it is hashed to one of ``table_size`` slots by a multiplicative hash (odd 61-bit multipliers drawn
    from ``seed``), as in Tang et al. (2017), "#Exploration", so memory stays fixed; distinct cells
    that share a slot share a count. The counts are a buffer, so ``state_dict`` keeps them.

    Args:
        cell_dim: ``D``.
        table_size: slots of the count table (>= 1).
        seed: seed of the hash multipliers.

    Examples:
        >>> counts = VisitCounts(cell_dim=2, table_size=1 << 10)
        >>> cells = torch.tensor([[0, 1], [0, 1], [3, 4]])
        >>> counts.add(cells)
        >>> counts.count(cells)
        tensor([2, 2, 1])
    """

    counts: torch.Tensor
    multipliers: torch.Tensor

    def __init__(self, cell_dim: int, table_size: int = 1 << 20, seed: int = 0x5EED) -> None:
        super().__init__()
        if cell_dim < 1:
            raise ValueError(f"VisitCounts: cell_dim must be >= 1, got {cell_dim}")
        if table_size < 1:
            raise ValueError(f"VisitCounts: table_size must be >= 1, got {table_size}")
        self.cell_dim = int(cell_dim)
        gen = torch.Generator().manual_seed(int(seed))
        self.register_buffer("multipliers", torch.randint(1 << 60, (cell_dim,), generator=gen) * 2 + 1)
        self.register_buffer("counts", torch.zeros(table_size, dtype=torch.int64))

    def slots(self, cells: torch.Tensor) -> torch.Tensor:
        """The table slots ``[*B]`` int64 of integer cells ``[*B, D]``."""
        if cells.dim() < 1 or cells.shape[-1] != self.cell_dim or cells.is_floating_point():
            raise ValueError(
                f"VisitCounts: cells must be an integer tensor [*B, {self.cell_dim}], got {tuple(cells.shape)} "
                f"{cells.dtype}"
            )
        return (cells.long() * self.multipliers).sum(-1).remainder(self.counts.numel())

    def add(self, cells: torch.Tensor) -> None:
        """Counts one visit of each cell ``[*B, D]`` (repeats count repeatedly)."""
        slots = self.slots(cells).reshape(-1)
        self.counts.index_put_((slots,), torch.ones_like(slots), accumulate=True)

    def count(self, cells: torch.Tensor) -> torch.Tensor:
        """The visits so far ``[*B]`` int64 of cells ``[*B, D]``."""
        return self.counts[self.slots(cells)]


def grid_cells(observation: torch.Tensor, resolution: torch.Tensor) -> torch.Tensor:
    """``floor(observation / resolution)`` as int64 cells ``[*B, D]`` (computed in float64)."""
    return torch.floor(observation.to(torch.float64) / resolution).to(torch.int64)


def check_resolution(owner: str, resolution: float | list[float], dim: int, device: torch.device) -> torch.Tensor:
    """``resolution`` as a float64 ``[dim]`` tensor; raises ``ValueError`` naming ``owner`` unless it holds
    1 or ``dim`` positive values."""
    resolution_t = torch.as_tensor(resolution, dtype=torch.float64, device=device).reshape(-1)
    if resolution_t.numel() not in (1, dim):
        raise ValueError(
            f"{owner}: resolution has {resolution_t.numel()} values; expected 1 or {dim} (one per "
            "observation dimension)"
        )
    resolution_t = resolution_t.expand(dim).clone()
    if not bool((resolution_t > 0).all()):
        raise ValueError(f"{owner}: resolution must be > 0, got {resolution}")
    return resolution_t


class CountBonus(EnvWrapper):
    """Count-based exploration bonus: adds ``coeff / sqrt(N(cell(s')))`` to the reward.

    ``cell(s)`` discretizes the observation on a grid of ``resolution`` (``floor(s / resolution)``)
    and ``N`` counts how often each cell was reached, summed over all sub-envs, in a
    :class:`VisitCounts` table of ``table_size`` slots (hashed cells, as in Tang et al., 2017,
    "#Exploration"; distinct cells that share a slot share a count). The intrinsic-reward form of
    the same bonus, with SimHash cells and a rollout stage, is :class:`rl4py.exploration.CountReward`.

    Args:
        env: the wrapped env (flat ``"observation"``).
        resolution: the grid's cell width, a float or one per observation dimension.
        coeff: the bonus scale (0.01 to 0.1 against rewards of order 1).
        table_size: slots of the count table.

    Examples:
        >>> from rl4py.envs import MountainCar
        >>> env = CountBonus(MountainCar(num_envs=2), resolution=10.0, coeff=1.0)   # one big cell
        >>> _ = env.reset_tensors(seed=0)
        >>> out = env.step_tensors(torch.tensor([1, 1]))
        >>> out.next["reward"] - out.next["extrinsic_reward"]   # both cars reached it: N = 2
        tensor([[0.7071],
                [0.7071]])
    """

    def __init__(
        self, env: EnvBase, resolution: float | list[float], coeff: float = 0.01, table_size: int = 1 << 20
    ) -> None:
        require_one_reward_head(env, "CountBonus")
        super().__init__(env)
        shape = env.single_observation_space.shape
        if shape is None or len(shape) != 1:
            raise ValueError(f"CountBonus: needs a flat observation, got shape {shape}")
        self.resolution = check_resolution("CountBonus", resolution, shape[0], self.device)
        if coeff < 0:
            raise ValueError(f"CountBonus: coeff must be >= 0, got {coeff}")
        if table_size < 1:
            raise ValueError(f"CountBonus: table_size must be >= 1, got {table_size}")
        self.coeff = float(coeff)
        self.table = VisitCounts(shape[0], table_size).to(self.device)

    @property
    def counts(self) -> torch.Tensor:
        """The count table ``[table_size]`` int64."""
        return self.table.counts

    def cells(self, observation: torch.Tensor) -> torch.Tensor:
        """The count-table slots of ``observation`` ``[B, D]``: ``[B]`` int64."""
        return self.table.slots(grid_cells(observation, self.resolution))

    def _step(self, action: torch.Tensor) -> EnvStep:
        out = self.env.step_tensors(action)
        reward = _keep_extrinsic(out)
        cells = grid_cells(out.next[keys.OBSERVATION], self.resolution)
        # counted before the bonus is read, so the first visit gives coeff / sqrt(1)
        self.table.add(cells)
        bonus = self.coeff / self.table.count(cells).to(torch.float32).sqrt()
        out.next[keys.REWARD] = reward + bonus.unsqueeze(-1)
        return out

    def state_dict(self) -> dict:
        return {"env": self.env.state_dict(), "counts": self.counts.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.env.load_state_dict(state["env"])
        self.table.counts = state["counts"].to(self.device).clone()
