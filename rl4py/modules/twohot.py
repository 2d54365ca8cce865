"""DreamerV3's scale-free prediction transforms: ``symlog``/``symexp`` and the two-hot encoding."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Symlog", "TwoHot", "symexp", "symlog"]


def symlog(x: torch.Tensor) -> torch.Tensor:
    """``sign(x) * log(1 + |x|)``: identity-like near zero, logarithmic for large ``|x|`` (any shape)."""
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`symlog`: ``sign(x) * (exp(|x|) - 1)`` (any shape)."""
    return torch.sign(x) * torch.expm1(x.abs())


class Symlog(nn.Module):
    """:func:`symlog` as a module (DreamerV3 squashes vector observations with it before the encoder)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return symlog(x)


class TwoHot(nn.Module):
    """Scalars as soft distributions over fixed bins in symlog space (DreamerV3's reward and critic heads).

    The bins are ``linspace(low, high, num_bins)`` in symlog space (default 255 bins over
    ``[-20, 20]``, which covers ``|x|`` up to ``symexp(20) ~ 4.9e8``). A value ``x`` is encoded as
    ``y = symlog(x)`` split between its two neighbouring bins ``b_k <= y < b_{k+1}`` with weights
    ``(b_{k+1} - y) / (b_{k+1} - b_k)`` and ``(y - b_k) / (b_{k+1} - b_k)``, so that the expected bin is
    ``y`` exactly. Values beyond the outer bins put all weight on the edge bin (decoding them gives
    ``symexp(low)`` or ``symexp(high)``). A network head predicts ``num_bins`` logits;
    :meth:`decode` is ``symexp`` of the expected bin under ``softmax(logits)``, and :meth:`loss` the
    cross-entropy against the encoded target.

    With symmetric bins (``low == -high``) the expected bin is summed in mirrored pairs, so uniform
    logits (a zero-initialized head) decode to exactly ``0``.

    DreamerV3's current code (``symexp_twohot``) places the bins at ``symexp(linspace(-20, 20))`` and
    interpolates linearly in the raw space; this follows the paper, interpolating in symlog space.

    Args:
        num_bins: number of bins ``K`` (>= 2).
        low, high: the outer bins, in symlog space.

    Examples:
        >>> import torch
        >>> twohot = TwoHot()
        >>> target = twohot.encode(torch.tensor([1.0]))
        >>> target.nonzero()[:, 1].tolist(), target[0, 131:133]
        ([131, 132], tensor([0.5985, 0.4015]))
        >>> twohot.decode(torch.log(target)).round(decimals=4)
        tensor([1.])
    """

    bins: torch.Tensor

    def __init__(self, num_bins: int = 255, low: float = -20.0, high: float = 20.0) -> None:
        super().__init__()
        if int(num_bins) < 2:
            raise ValueError(f"TwoHot: num_bins must be >= 2, got {num_bins}")
        if not high > low:
            raise ValueError(f"TwoHot: high must be > low, got low={low}, high={high}")
        self.num_bins = int(num_bins)
        self.low = float(low)
        self.high = float(high)
        self.symmetric = self.low == -self.high
        if self.symmetric:
            # mirror one half so that b_i == -b_{K-1-i} exactly (and the middle bin is 0 for odd K)
            n_half = (num_bins - 1) // 2 + 1
            step = (self.high - self.low) / (num_bins - 1)
            half = torch.linspace(self.low, self.low + step * (n_half - 1), n_half, dtype=torch.float64)
            if num_bins % 2:
                half[-1] = 0.0
                bins = torch.cat([half, -half[:-1].flip(0)])
            else:
                bins = torch.cat([half, -half.flip(0)])
        else:
            bins = torch.linspace(self.low, self.high, num_bins, dtype=torch.float64)
        self.register_buffer("bins", bins.to(torch.get_default_dtype()), persistent=False)

    def _check_logits(self, logits: torch.Tensor) -> None:
        if logits.dim() < 1 or logits.shape[-1] != self.num_bins:
            raise ValueError(f"TwoHot: logits must have shape [*B, {self.num_bins}], got {tuple(logits.shape)}")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Two-hot targets of the values ``x`` ``[*B]`` -> ``[*B, num_bins]`` (rows sum to 1, no gradient)."""
        if not x.is_floating_point():
            raise TypeError(f"TwoHot.encode: x must be floating point, got {x.dtype}")
        below, weight_hi = self._bracket(x)
        target = torch.zeros(*x.shape, self.num_bins, dtype=x.dtype, device=x.device)
        target.scatter_(-1, below.unsqueeze(-1), (1.0 - weight_hi).unsqueeze(-1))
        target.scatter_add_(-1, (below + 1).unsqueeze(-1), weight_hi.unsqueeze(-1))
        return target

    def _bracket(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The bins ``k`` (``[*B]``, int64) and ``k + 1`` around ``symlog(x)`` and the weight of ``k + 1``."""
        bins = self.bins.to(x.dtype)
        y = symlog(x.detach())
        # index of the bin at or below y, clamped into [0, K - 2]: the pair (k, k + 1) brackets y
        below = (torch.searchsorted(bins, y.contiguous(), right=True) - 1).clamp(0, self.num_bins - 2)
        lo, hi = bins[below], bins[below + 1]
        return below, ((y - lo) / (hi - lo)).clamp(0.0, 1.0)  # beyond an edge: all weight on that edge bin

    def expected_bin(self, logits: torch.Tensor) -> torch.Tensor:
        """The expected bin ``sum softmax(logits) * bins`` (symlog space): ``[*B, K]`` -> ``[*B]``."""
        self._check_logits(logits)
        probs = logits.softmax(-1)
        bins = self.bins.to(probs.dtype)
        if not self.symmetric:
            return probs @ bins
        m = self.num_bins // 2
        # sum_i b_i (p_i - p_{K-1-i}) over the lower half: exact 0 for mirrored probabilities
        return (probs[..., :m] - probs[..., -m:].flip(-1)) @ bins[:m]

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """The predicted value ``symexp(expected_bin(logits))``: ``[*B, K]`` -> ``[*B]``."""
        return symexp(self.expected_bin(logits))

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of ``logits`` ``[*B, K]`` against the two-hot encoding of ``target`` ``[*B]`` -> ``[*B]``."""
        return self.log_prob_loss(logits.log_softmax(-1), target)

    def log_prob_loss(self, log_probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """:meth:`loss` from ``log_softmax(logits)`` (computed once for several targets).

        Shapes: ``[*B, K]`` and ``[*B]`` -> ``[*B]``.

        The two-hot target has two non-zero entries, so the cross-entropy is a gather of two
        log-probabilities rather than a dense ``[*B, K]`` product."""
        self._check_logits(log_probs)
        if target.shape != log_probs.shape[:-1]:
            raise ValueError(
                f"TwoHot.loss: target must have shape {tuple(log_probs.shape[:-1])} (the logits' without the bins), "
                f"got {tuple(target.shape)}"
            )
        below, weight_hi = self._bracket(target.to(log_probs.dtype))
        pair = log_probs.gather(-1, torch.stack([below, below + 1], -1))
        return -(pair[..., 0] + weight_hi * (pair[..., 1] - pair[..., 0]))

    def extra_repr(self) -> str:
        return f"num_bins={self.num_bins}, low={self.low}, high={self.high}"
