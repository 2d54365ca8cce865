"""The :class:`LossModule` base class."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torch import nn

from rl4py.keys import NestedKey

__all__ = ["LossModule", "total_loss"]


class LossModule(nn.Module):
    """Base of rl4py losses: ``forward(td) -> TensorDict`` of scalars.

    Keys starting with ``loss_`` sum to the loss to minimize (:func:`total_loss`); the others
    are detached diagnostics. A loss never runs a value estimator itself: a missing input
    raises a ``KeyError`` naming the key and the pipeline stage that writes it.
    """

    def _require(self, td: TensorDictBase, key: NestedKey, writer: str) -> torch.Tensor:
        value = td.get(key, None)
        if value is None:
            raise KeyError(f"{type(self).__name__}: the batch has no {key!r}; it is written by {writer}")
        return value


def total_loss(losses: TensorDictBase) -> torch.Tensor:
    """Sums the ``loss_*`` entries of a loss output into one scalar to call ``backward`` on."""
    terms = [value for key, value in losses.items() if isinstance(key, str) and key.startswith("loss_")]
    if not terms:
        raise KeyError(f"total_loss: no 'loss_*' entry among {list(losses.keys())}")
    return torch.stack(terms).sum() if len(terms) > 1 else terms[0]
