"""Action distributions with a lean construction path for the collector's hot loop."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import distributions as D

__all__ = ["LOG_STD_MAX", "LOG_STD_MIN", "Categorical", "DiagGaussian", "MaskedCategorical", "MultiCategorical"]

#: bounds of the log standard deviation of :class:`DiagGaussian` (the seed book's [-5, 2])
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class Categorical(D.Categorical):
    """A categorical distribution over the last dim of ``logits`` ``[*B, K]``.

    Behaves as ``torch.distributions.Categorical(logits=logits)`` (samples ``[*B]`` int64,
    ``log_prob`` and ``entropy`` ``[*B]``), with a cheaper constructor (no argument
    validation) and Gumbel-max sampling from torch's global RNG (seed it with
    ``torch.manual_seed``) or from ``generator``.

    With ``start`` (a gymnasium ``Discrete(K, start=start)`` space) the actions are
    ``start, ..., start + K - 1``: logit ``k`` is the probability of action ``start + k``;
    samples and the mode are offset by ``start`` and ``log_prob`` takes offset actions.

    Args:
        logits: unnormalized log-probabilities ``[*B, K]``.
        generator: optional ``torch.Generator`` for sampling.
        start: the smallest action (``Discrete.start``).

    Examples:
        >>> dist = Categorical(torch.tensor([[0.0, 50.0, 0.0]]), start=-1)
        >>> dist.mode, dist.log_prob(torch.tensor([0])).exp().round()
        (tensor([0]), tensor([1.]))
    """

    def __init__(self, logits: torch.Tensor, generator: torch.Generator | None = None, start: int = 0) -> None:
        if logits.dim() < 1:
            raise ValueError(f"Categorical: logits must have at least 1 dim [*B, K], got shape {tuple(logits.shape)}")
        self.logits = logits.log_softmax(-1)
        self._param = self.logits
        self._num_events = logits.shape[-1]
        self._batch_shape = logits.shape[:-1]
        self._event_shape = torch.Size()
        self._validate_args = False
        self.generator = generator
        self.start = start if type(start) is int else _int_start("Categorical", start)

    def sample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        logits = self.logits.expand(*sample_shape, *self.logits.shape) if sample_shape else self.logits
        # Gumbel-max: argmax(logits + Gumbel) with Gumbel = -log(Exp(1))
        g = self.generator
        if g is None or g.device == logits.device:
            noise = torch.empty_like(logits).exponential_(generator=g).log_()
        else:  # a generator on another device (a CPU seed with CUDA logits): draw there, move over
            noise = torch.empty(logits.shape, dtype=logits.dtype, device=g.device).exponential_(generator=g)
            noise = noise.log_().to(logits.device)
        index = (logits - noise).argmax(-1)
        return index + self.start if self.start else index

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        index = value.long() - self.start if self.start else value.long()
        return self.logits.gather(-1, index.unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        logits = self.logits.clamp(min=torch.finfo(self.logits.dtype).min)
        return -(logits.exp() * logits).sum(-1)

    @property
    def mode(self) -> torch.Tensor:
        index = self.logits.argmax(-1)
        return index + self.start if self.start else index

    @property
    def deterministic_sample(self) -> torch.Tensor:
        return self.mode


def _int_start(owner: str, start: object) -> int:
    """``start`` as a Python int (a numpy integer from a gymnasium space included)."""
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
        raise TypeError(f"{owner}: start must be an int (the space's smallest action), got {start!r}")
    return int(start)


class MaskedCategorical(Categorical):
    """A categorical distribution whose masked-out actions have probability exactly zero.

    Masked actions are never sampled, get ``log_prob = -inf`` and contribute nothing to the
    entropy; the gradient reaches only the allowed logits.

    Args:
        logits: ``[*B, K]``.
        mask: ``[*B, K]`` bool, true = allowed (entry ``k`` for action ``start + k``). Every row
            needs at least one allowed action.
        generator: optional ``torch.Generator`` for sampling.
        start: the smallest action, as :class:`Categorical`.

    Raises:
        ValueError: a row of ``mask`` allows no action, or shapes differ.
    """

    def __init__(
        self, logits: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None, start: int = 0
    ) -> None:
        if mask.shape != logits.shape:
            raise ValueError(
                f"MaskedCategorical: mask has shape {tuple(mask.shape)}, "
                f"expected the logits' shape {tuple(logits.shape)}"
            )
        if mask.dtype != torch.bool:
            raise TypeError(f"MaskedCategorical: mask must be a bool tensor (true = allowed), got {mask.dtype}")
        empty = ~mask.any(-1)
        if bool(empty.any()):
            row = empty.nonzero()[0].tolist()
            raise ValueError(f"MaskedCategorical: mask row {row} allows no action; every row needs an allowed action")
        self.mask = mask
        super().__init__(logits.masked_fill(~mask, float("-inf")), generator, start)

    def entropy(self) -> torch.Tensor:
        # zero the masked -inf logits before exp * log: torch.where alone would back-propagate NaN
        logits = self.logits.masked_fill(~self.mask, 0.0)
        return -(logits.exp() * logits).masked_fill(~self.mask, 0.0).sum(-1)


class MultiCategorical(D.Distribution):
    """Independent categorical heads over one flat logits tensor (a ``MultiDiscrete`` action).

    Head ``h`` reads ``logits[..., offset_h : offset_h + nvec[h]]``. Samples are ``[*B, H]``
    int64; ``log_prob`` and ``entropy`` are sums over the heads, ``[*B]``.

    Args:
        logits: ``[*B, sum(nvec)]``.
        nvec: number of choices of each head.
        mask: optional ``[*B, sum(nvec)]`` bool (true = allowed), per head as in
            :class:`MaskedCategorical`.
        generator: optional ``torch.Generator`` for sampling.
        start: the smallest action of each head (a gymnasium ``MultiDiscrete`` space's
            ``start``); ``None`` = all 0.
    """

    arg_constraints: dict = {}
    has_enumerate_support = False

    def __init__(
        self,
        logits: torch.Tensor,
        nvec: tuple[int, ...] | list[int] | torch.Tensor,
        mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        start: Sequence[int] | None = None,
    ) -> None:
        self.nvec = [int(n) for n in (nvec.tolist() if isinstance(nvec, torch.Tensor) else nvec)]
        if not self.nvec or min(self.nvec) < 1:
            raise ValueError(f"MultiCategorical: nvec must be positive sizes, got {self.nvec}")
        starts = [0] * len(self.nvec) if start is None else [_int_start("MultiCategorical", s) for s in start]
        if len(starts) != len(self.nvec):
            raise ValueError(
                f"MultiCategorical: start has {len(starts)} entries, expected one per head of nvec {self.nvec}"
            )
        if logits.shape[-1] != sum(self.nvec):
            raise ValueError(
                f"MultiCategorical: logits have {logits.shape[-1]} entries in the last dim, expected "
                f"sum(nvec) = {sum(self.nvec)} for nvec {self.nvec}"
            )
        chunks = logits.split(self.nvec, dim=-1)
        if mask is None:
            self.heads = [Categorical(chunk, generator, s) for chunk, s in zip(chunks, starts)]
        else:
            if mask.shape != logits.shape:
                raise ValueError(
                    f"MultiCategorical: mask has shape {tuple(mask.shape)}, expected the logits' {tuple(logits.shape)}"
                )
            masks = mask.split(self.nvec, dim=-1)
            self.heads = [MaskedCategorical(c, m, generator, s) for c, m, s in zip(chunks, masks, starts)]
        super().__init__(batch_shape=logits.shape[:-1], event_shape=torch.Size([len(self.nvec)]), validate_args=False)

    def sample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        return torch.stack([head.sample(sample_shape) for head in self.heads], dim=-1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if value.shape[-1] != len(self.heads):
            raise ValueError(
                f"MultiCategorical: action has {value.shape[-1]} entries in the last dim, expected {len(self.heads)}"
            )
        return sum(head.log_prob(value[..., i]) for i, head in enumerate(self.heads))

    def entropy(self) -> torch.Tensor:
        return sum(head.entropy() for head in self.heads)

    @property
    def mode(self) -> torch.Tensor:
        return torch.stack([head.mode for head in self.heads], dim=-1)

    @property
    def deterministic_sample(self) -> torch.Tensor:
        return self.mode


class DiagGaussian(D.Distribution):
    """A diagonal Gaussian over ``[*B, d]`` actions, optionally squashed by ``tanh``.

    The log standard deviation is clamped to ``log_std_bounds`` (default ``[LOG_STD_MIN, LOG_STD_MAX]``
    = ``[-5, 2]``; ``None``: not clamped) in sampling, ``log_prob`` and ``entropy``. With ``tanh=True``
    samples are ``tanh(u)``, ``u ~ N(loc, std)``, and ``log_prob`` subtracts the log-determinant
    ``sum log(1 - tanh(u)^2)`` (computed stably as ``2 (log 2 - u - softplus(-2u))``); the
    entropy is then the Gaussian's (the squashed one has no closed form). Actions are never
    clipped here: the env clips to its bounds when stepped.

    Args:
        loc: means ``[*B, d]``.
        log_std: log standard deviations, ``[*B, d]`` or broadcastable (a state-independent
            ``[d]`` parameter).
        tanh: squash samples into ``(-1, 1)``.
        log_std_bounds: ``(low, high)`` clamp of ``log_std``, or ``None`` (a gSDE policy's standard
            deviation is already a bounded function of its features and must not be clamped, or its
            log-probabilities would not be those of its samples).
    """

    arg_constraints: dict = {}
    has_rsample = True

    def __init__(
        self,
        loc: torch.Tensor,
        log_std: torch.Tensor,
        tanh: bool = False,
        log_std_bounds: tuple[float, float] | None = (LOG_STD_MIN, LOG_STD_MAX),
    ) -> None:
        if loc.dim() < 1:
            raise ValueError(f"DiagGaussian: loc must be [*B, d], got shape {tuple(loc.shape)}")
        self.loc = loc
        if log_std_bounds is not None:
            log_std = log_std.clamp(*log_std_bounds)
        self.log_std = log_std.expand_as(loc)
        self.scale = self.log_std.exp()
        self.tanh = tanh
        super().__init__(batch_shape=loc.shape[:-1], event_shape=loc.shape[-1:], validate_args=False)

    def _rsample_u(self, sample_shape: torch.Size | tuple) -> torch.Tensor:
        shape = torch.Size(sample_shape) + self.loc.shape
        return self.loc + self.scale * torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)

    def rsample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        u = self._rsample_u(sample_shape)
        return torch.tanh(u) if self.tanh else u

    def rsample_and_log_prob(self, sample_shape: torch.Size | tuple = ()) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterized sample and its log-probability, from the pre-squash ``u`` directly.

        With ``tanh``, ``log_prob(rsample())`` recovers ``u`` as ``atanh`` of the action, which
        loses precision once ``|u|`` exceeds ~7 (float32 ``tanh`` rounds to 1); this keeps ``u``
        (what SAC-style losses need: exact values and gradients through both outputs).
        """
        u = self._rsample_u(sample_shape)
        if not self.tanh:
            return u, self._gaussian_log_prob(u)
        return torch.tanh(u), self._gaussian_log_prob(u) - self._tanh_log_det(u).sum(-1)

    @staticmethod
    def _tanh_log_det(u: torch.Tensor) -> torch.Tensor:
        # log(1 - tanh(u)^2), stably
        return 2.0 * (math.log(2.0) - u - torch.nn.functional.softplus(-2.0 * u))

    def sample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def _gaussian_log_prob(self, u: torch.Tensor) -> torch.Tensor:
        z = (u - self.loc) / self.scale
        return (-0.5 * z.square() - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``[*S, *B]`` log-density of actions ``[*S, *B, d]``; other shapes raise (no broadcasting)."""
        n = self.loc.dim()
        if value.shape[-n:] != self.loc.shape:
            raise ValueError(
                f"DiagGaussian.log_prob: the action has shape {tuple(value.shape)}, expected "
                f"{tuple(self.loc.shape)} (the shape of loc, [*B, d]) with optional leading sample dims"
            )
        if not self.tanh:
            return self._gaussian_log_prob(value)
        eps = torch.finfo(value.dtype).eps
        u = torch.atanh(value.clamp(-1 + eps, 1 - eps))
        return self._gaussian_log_prob(u) - self._tanh_log_det(u).sum(-1)

    def entropy(self) -> torch.Tensor:
        return (0.5 + 0.5 * math.log(2 * math.pi) + self.log_std).sum(-1)

    @property
    def mean(self) -> torch.Tensor:
        return torch.tanh(self.loc) if self.tanh else self.loc

    @property
    def mode(self) -> torch.Tensor:
        return self.mean

    @property
    def deterministic_sample(self) -> torch.Tensor:
        return self.mean
