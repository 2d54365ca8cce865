"""Count-based intrinsic reward: ``1 / sqrt(N(s'))`` over grid cells or SimHash codes."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torch import nn

from rl4py import keys
from rl4py.envs.base import NestedKey
from rl4py.envs.reward_shaping import VisitCounts, check_resolution, grid_cells

__all__ = ["CountReward"]


class CountReward(nn.Module):
    """Count-based exploration (Tang et al., 2017, "#Exploration"): the bonus of a transition is
    ``1 / sqrt(N(cell(s')))``, ``N`` the visits of the next state's cell so far.

    ``cell`` is either a grid cell ``floor(s / resolution)`` (``resolution``; one-hot observations take
    ``resolution=1.0``) or a SimHash code ``sign(A s)`` of ``hash_bits`` bits, ``A`` a Gaussian
    ``[hash_bits, D]`` projection drawn from ``seed`` (continuous observations: nearby states share a
    code). Both count in one :class:`~rl4py.envs.VisitCounts` table (the one
    :class:`~rl4py.envs.CountBonus` counts in). :meth:`update` counts the transitions'
    next states; it runs before the bonus is read (``update_first``), so a first visit pays 1. A cell
    never counted also pays 1 (``N`` is floored at 1).

    Args:
        observation_dim: ``D``, the size of the flat observation.
        resolution: grid cell width, a float or one per dimension (exclusive with ``hash_bits``).
        hash_bits: SimHash code length (exclusive with ``resolution``).
        table_size: slots of the count table.
        seed: seed of the projection and of the table's hash.
        key: the observation entry read under ``"next"``.

    Examples:
        >>> from tensordict import TensorDict
        >>> counts = CountReward(2, resolution=1.0)
        >>> td = TensorDict({"next": {"observation": torch.tensor([[0.5, 0.5], [0.2, 0.7], [3.0, 0.0]])}}, [3])
        >>> _ = counts.update(td)
        >>> counts(td).squeeze(-1)    # the first two share the cell (0, 0)
        tensor([0.7071, 0.7071, 1.0000])
    """

    update_first = True
    projection: torch.Tensor | None

    def __init__(
        self,
        observation_dim: int,
        resolution: float | list[float] | None = None,
        hash_bits: int | None = None,
        table_size: int = 1 << 20,
        seed: int = 0,
        key: NestedKey = keys.OBSERVATION,
    ) -> None:
        super().__init__()
        if observation_dim < 1:
            raise ValueError(f"CountReward: observation_dim must be >= 1, got {observation_dim}")
        if (resolution is None) == (hash_bits is None):
            raise ValueError(
                "CountReward: give exactly one of resolution (grid cells) and hash_bits (SimHash codes), "
                f"got resolution={resolution!r}, hash_bits={hash_bits!r}"
            )
        self.observation_dim = int(observation_dim)
        self.key = keys.next_key(key)
        if resolution is not None:
            self.register_buffer("resolution", check_resolution("CountReward", resolution, observation_dim, "cpu"))
            self.register_buffer("projection", None)
            cell_dim = observation_dim
        else:
            if hash_bits is None or hash_bits < 1:
                raise ValueError(f"CountReward: hash_bits must be >= 1, got {hash_bits}")
            gen = torch.Generator().manual_seed(int(seed))
            self.register_buffer("resolution", None)
            self.register_buffer("projection", torch.randn(hash_bits, observation_dim, generator=gen))
            cell_dim = hash_bits
        self.table = VisitCounts(cell_dim, table_size, seed=0x5EED + int(seed))

    def cells(self, observation: torch.Tensor) -> torch.Tensor:
        """The integer cells ``[*B, cells]`` of observations ``[*B, D]``: grid cells or SimHash bits."""
        if observation.dim() < 1 or observation.shape[-1] != self.observation_dim:
            raise ValueError(
                f"CountReward: observations must be [*B, {self.observation_dim}], got {tuple(observation.shape)}"
            )
        if self.projection is None:
            return grid_cells(observation, self.resolution)
        return (observation.to(self.projection.dtype) @ self.projection.T > 0).to(torch.int64)

    def counts(self, td: TensorDictBase) -> torch.Tensor:
        """``N(cell(s'))`` ``[*B]`` int64 of the transitions ``td``."""
        return self.table.count(self.cells(td.get(self.key)))

    def forward(self, td: TensorDictBase) -> torch.Tensor:
        """``1 / sqrt(max(N(cell(s')), 1))`` ``[*B, 1]``."""
        return self.counts(td).clamp(min=1).to(torch.float32).rsqrt().unsqueeze(-1)

    def update(self, td: TensorDictBase) -> dict[str, float]:
        """Counts one visit of each transition's next state (no diagnostics)."""
        self.table.add(self.cells(td.get(self.key)))
        return {}
