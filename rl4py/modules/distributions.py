"""Action distributions with a lean construction path for the collector's hot loop."""

from __future__ import annotations

import torch
from torch import distributions as D

__all__ = ["Categorical"]


class Categorical(D.Categorical):
    """A categorical distribution over the last dim of ``logits`` ``[*B, K]``.

    Behaves as ``torch.distributions.Categorical(logits=logits)`` (samples ``[*B]`` int64,
    ``log_prob`` and ``entropy`` ``[*B]``), with a cheaper constructor (no argument
    validation) and Gumbel-max sampling from torch's global RNG (seed it with
    ``torch.manual_seed``) or from ``generator``.

    Args:
        logits: unnormalized log-probabilities ``[*B, K]``.
        generator: optional ``torch.Generator`` for sampling.
    """

    def __init__(self, logits: torch.Tensor, generator: torch.Generator | None = None) -> None:
        if logits.dim() < 1:
            raise ValueError(f"Categorical: logits must have at least 1 dim [*B, K], got shape {tuple(logits.shape)}")
        self.logits = logits.log_softmax(-1)
        self._param = self.logits
        self._num_events = logits.shape[-1]
        self._batch_shape = logits.shape[:-1]
        self._event_shape = torch.Size()
        self._validate_args = False
        self.generator = generator

    def sample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        logits = self.logits.expand(*sample_shape, *self.logits.shape) if sample_shape else self.logits
        # Gumbel-max: argmax(logits + Gumbel) with Gumbel = -log(Exp(1))
        noise = torch.empty_like(logits).exponential_(generator=self.generator).log_()
        return (logits - noise).argmax(-1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return self.logits.gather(-1, value.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        logits = self.logits.clamp(min=torch.finfo(self.logits.dtype).min)
        return -(logits.exp() * logits).sum(-1)

    @property
    def mode(self) -> torch.Tensor:
        return self.logits.argmax(-1)

    @property
    def deterministic_sample(self) -> torch.Tensor:
        return self.mode
