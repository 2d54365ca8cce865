r"""``PercentileNormalizer``: DreamerV3's return scale, an EMA of the 5th and 95th return percentiles.

Each :meth:`~PercentileNormalizer.update` on a batch of returns :math:`R` moves two running values
toward the batch's quantiles (``decay = 1 - rate``, DreamerV3's rate 0.01):

.. math::

    \mathrm{low} \leftarrow d \, \mathrm{low} + (1 - d) \, Q_{0.05}(R), \qquad
    \mathrm{high} \leftarrow d \, \mathrm{high} + (1 - d) \, Q_{0.95}(R)

and :meth:`~PercentileNormalizer.normalize` divides by :math:`S = \max(1, \mathrm{high} - \mathrm{low})`.
The floor of 1 keeps small return ranges (sparse rewards, all-zero returns) from being blown up
into noise: advantages are only ever scaled down. As in DreamerV3's code (``embodied/jax/utils.py``
``Normalize``, ``retnorm`` in ``configs.yaml``: ``impl: perc, rate: 0.01, limit: 1.0, perclo: 5,
perchi: 95, debias: False``) both values start at 0 and are not debiased by default, so the scale
stays at its floor of 1 until the EMA has grown; ``debias=True`` divides them by
:math:`\max(\mathrm{rate}, 1 - d^n)` after :math:`n` updates (DreamerV3's ``corr``).
Quantiles interpolate linearly between order statistics (``numpy.percentile``'s default, as
``jnp.percentile``).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["PercentileNormalizer"]


def _quantiles(x: torch.Tensor, qs: tuple[float, ...]) -> torch.Tensor:
    """Linear-interpolation quantiles of the flat ``x`` ``[n]`` (numpy's default), float32 ``[len(qs)]``.

    One sort and a gather of two order statistics per quantile; the positions are computed on the
    host from ``n``, so nothing waits for the device.
    """
    ordered = torch.sort(x).values
    n = ordered.numel()
    below, above, frac = [], [], []
    for q in qs:
        pos = q * (n - 1)
        i = min(int(math.floor(pos)), n - 1)
        below.append(i)
        above.append(min(i + 1, n - 1))
        frac.append(pos - i)
    lo = ordered[torch.tensor(below, device=x.device)]
    hi = ordered[torch.tensor(above, device=x.device)]
    return torch.lerp(lo, hi, torch.tensor(frac, dtype=x.dtype, device=x.device))


class PercentileNormalizer(nn.Module):
    """EMA of a low and a high return quantile; divides advantages by ``max(limit, high - low)``.

    The running values are buffers (``low``, ``high``, and ``count`` for debiasing), so they move
    with ``.to(device)``, live in the owning module's ``state_dict`` and a resumed run continues
    exactly.

    Args:
        low_quantile: the low quantile in ``[0, 1)`` (DreamerV3: 0.05).
        high_quantile: the high quantile in ``(low_quantile, 1]`` (DreamerV3: 0.95).
        decay: the EMA decay ``d`` in ``[0, 1)``: ``1 - rate``, DreamerV3's rate 0.01 is 0.99.
        limit: the floor of the scale, > 0 (DreamerV3: 1.0).
        debias: divide the running values by ``max(1 - decay, 1 - decay ** n)`` after ``n`` updates
            (off for DreamerV3's return normalizer).
        sync_dist: under ``torch.distributed``, gather every rank's returns before taking the
            quantiles (DreamerV3 ``all_gather``s them too), so all ranks hold the same values; ranks
            may pass different numbers of returns. Off, each rank keeps its own statistics (pass
            gathered returns yourself, or keep it off in one process).

    Raises:
        ValueError: quantiles outside ``0 <= low_quantile < high_quantile <= 1``, ``decay`` outside
            ``[0, 1)``, or ``limit <= 0`` (or a non-finite value).

    Examples:
        >>> norm = PercentileNormalizer(debias=True)
        >>> returns = torch.arange(101.0)  # Q_0.05 = 5, Q_0.95 = 95
        >>> norm.update_and_normalize(returns, torch.tensor([90.0, 0.5])).tolist()
        [1.0, 0.0055555556900799274]
        >>> PercentileNormalizer().update_and_normalize(torch.zeros(8), torch.tensor([0.5])).tolist()  # floor
        [0.5]
    """

    low: torch.Tensor
    high: torch.Tensor
    count: torch.Tensor

    def __init__(
        self,
        low_quantile: float = 0.05,
        high_quantile: float = 0.95,
        decay: float = 0.99,
        limit: float = 1.0,
        debias: bool = False,
        sync_dist: bool = False,
    ) -> None:
        super().__init__()
        self._check(low_quantile, high_quantile, decay)
        if not (math.isfinite(limit) and limit > 0):
            raise ValueError(f"PercentileNormalizer: limit must be finite and > 0, got {limit!r}")
        self.low_quantile = float(low_quantile)
        self.high_quantile = float(high_quantile)
        self.decay = float(decay)
        self.limit = float(limit)
        self.debias = bool(debias)
        self.sync_dist = bool(sync_dist)
        self.register_buffer("low", torch.zeros((), dtype=torch.float32))
        self.register_buffer("high", torch.zeros((), dtype=torch.float32))
        self.register_buffer("count", torch.zeros((), dtype=torch.float32))  # EMA of 1: 1 - decay ** n

    @staticmethod
    def _check(low: float, high: float, decay: float) -> None:
        if not (math.isfinite(low) and math.isfinite(high) and 0.0 <= low < high <= 1.0):
            raise ValueError(
                "PercentileNormalizer: quantiles must satisfy 0 <= low_quantile < high_quantile <= 1 (fractions, "
                f"DreamerV3's 5th/95th percentiles are 0.05/0.95), got low {low!r}, high {high!r}"
            )
        if not (math.isfinite(decay) and 0.0 <= decay < 1.0):
            raise ValueError(f"PercentileNormalizer: decay must lie in [0, 1) (1 - rate; 0.99), got {decay!r}")

    # ------------------------------------------------------------------ builders (the seed book's API)

    def with_percentiles(self, low_quantile: float, high_quantile: float) -> PercentileNormalizer:
        """A copy (state included) tracking other quantiles, e.g. ``with_percentiles(0.1, 0.9)``."""
        self._check(low_quantile, high_quantile, self.decay)
        out = copy.deepcopy(self)
        out.low_quantile, out.high_quantile = float(low_quantile), float(high_quantile)
        return out

    def with_decay(self, decay: float) -> PercentileNormalizer:
        """A copy (state included) with another EMA decay, e.g. ``with_decay(0.999)``."""
        self._check(self.low_quantile, self.high_quantile, decay)
        out = copy.deepcopy(self)
        out.decay = float(decay)
        return out

    # ------------------------------------------------------------------ statistics

    def _correction(self) -> torch.Tensor | float:
        if not self.debias:
            return 1.0
        return 1.0 / torch.clamp(self.count, min=1.0 - self.decay)

    @property
    def offset(self) -> torch.Tensor:
        """The running low quantile (debiased if ``debias``), a 0-d float32 tensor."""
        return self.low * self._correction()

    @property
    def scale(self) -> torch.Tensor:
        """``max(limit, high - low)`` (debiased if ``debias``), a 0-d float32 tensor."""
        c = self._correction()
        return torch.clamp(self.high * c - self.low * c, min=self.limit)

    def _gather(self, x: torch.Tensor) -> torch.Tensor:
        """Every rank's returns, concatenated in rank order (``x`` when not synchronizing)."""
        if not (self.sync_dist and dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return x
        world = dist.get_world_size()
        n = torch.tensor([x.numel()], device=x.device)
        sizes = [torch.zeros_like(n) for _ in range(world)]
        dist.all_gather(sizes, n)
        counts = [int(s) for s in sizes]
        padded = x.new_zeros(max(counts))
        padded[: x.numel()] = x
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded)
        return torch.cat([part[:k] for part, k in zip(parts, counts)])

    @torch.no_grad()
    def update(self, returns: torch.Tensor) -> None:
        """Moves ``low`` and ``high`` toward the quantiles of ``returns``.

        Args:
            returns: any shape, at least one element, finite (e.g. lambda-returns ``[B, H, 1]``);
                detached and taken in float32.

        Raises:
            ValueError: ``returns`` is empty, or holds NaN or inf.
        """
        if not isinstance(returns, torch.Tensor) or returns.numel() == 0:
            shape = tuple(returns.shape) if isinstance(returns, torch.Tensor) else type(returns).__name__
            raise ValueError(f"PercentileNormalizer.update: expected a non-empty tensor of returns, got {shape}")
        x = returns.detach().reshape(-1).to(device=self.low.device, dtype=torch.float32)
        if not bool(torch.isfinite(x).all()):
            raise ValueError("PercentileNormalizer.update: the returns hold NaN or inf values; expected finite returns")
        q = _quantiles(self._gather(x), (self.low_quantile, self.high_quantile))
        rate = 1.0 - self.decay
        self.low.mul_(self.decay).add_(q[0], alpha=rate)
        self.high.mul_(self.decay).add_(q[1], alpha=rate)
        self.count.mul_(self.decay).add_(rate)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``x / max(limit, high - low)`` (no offset: advantages keep their sign), same shape as ``x``."""
        return x / self.scale.to(x.dtype)

    def update_and_normalize(self, returns: torch.Tensor, advantages: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`update` with ``returns``, then :meth:`normalize` ``advantages`` (``returns`` when ``None``)."""
        self.update(returns)
        return self.normalize(returns if advantages is None else advantages)

    def forward(self, returns: torch.Tensor, advantages: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`update_and_normalize`."""
        return self.update_and_normalize(returns, advantages)

    def extra_repr(self) -> str:
        return (
            f"low_quantile={self.low_quantile}, high_quantile={self.high_quantile}, decay={self.decay}, "
            f"limit={self.limit}, debias={self.debias}, sync_dist={self.sync_dist}"
        )
