"""Auto-regressive action heads: each head's logits depend on the actions sampled before it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict import TensorDictBase
from tensordict.nn import InteractionType, TensorDictModuleBase
from tensordict.nn.probabilistic import interaction_type  # not re-exported by tensordict.nn before 0.15
from torch import distributions as D
from torch import nn

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.modules.distributions import Categorical, MaskedCategorical
from rl4py.modules.mlp import MLP

__all__ = ["AutoRegressiveActor", "AutoRegressiveDist"]


class AutoRegressiveDist(D.Distribution):
    """Joint distribution of ``H`` discrete heads sampled in order (``a_1 -> a_2 -> ... -> a_H``).

    Head ``k`` gets logits ``heads[k](cat(embedding, one_hot(a_1), ..., one_hot(a_{k-1})))``.
    ``log_prob(a) = sum_k log p(a_k | s, a_{<k})`` (teacher forcing on the given actions);
    ``entropy()`` sums the heads' entropies conditioned on the prefix of the actions last passed
    to :meth:`log_prob` or drawn by :meth:`sample` (the joint entropy's one-sample estimate).

    Args:
        embedding: ``[*B, E]`` state features.
        heads: one module per head mapping ``[*B, E + sum(nvec[:k])]`` to ``[*B, nvec[k]]``.
        nvec: choices per head.
        mask: optional ``[*B, sum(nvec)]`` bool, true = allowed (per head, independent of the prefix).
    """

    arg_constraints: dict = {}

    def __init__(
        self,
        embedding: torch.Tensor,
        heads: Sequence[nn.Module],
        nvec: Sequence[int],
        mask: torch.Tensor | None = None,
    ) -> None:
        self.embedding = embedding
        self.heads = list(heads)
        self.nvec = [int(n) for n in nvec]
        if len(self.heads) != len(self.nvec):
            raise ValueError(f"AutoRegressiveDist: {len(self.heads)} heads for {len(self.nvec)} sizes in nvec")
        if mask is not None and mask.shape[-1] != sum(self.nvec):
            raise ValueError(
                f"AutoRegressiveDist: mask has {mask.shape[-1]} entries in the last dim, expected sum(nvec) = "
                f"{sum(self.nvec)}"
            )
        self.masks = list(mask.split(self.nvec, dim=-1)) if mask is not None else [None] * len(self.nvec)
        self._head_dists: list[Categorical] | None = None
        super().__init__(
            batch_shape=embedding.shape[:-1], event_shape=torch.Size([len(self.nvec)]), validate_args=False
        )

    def _head_dist(self, k: int, prefix: list[torch.Tensor]) -> Categorical:
        features = torch.cat([self.embedding, *prefix], dim=-1) if prefix else self.embedding
        logits = self.heads[k](features)
        mask = self.masks[k]
        return Categorical(logits) if mask is None else MaskedCategorical(logits, mask)

    def _run(self, actions: torch.Tensor | None, mode: str) -> torch.Tensor:
        prefix: list[torch.Tensor] = []
        dists, chosen = [], []
        for k, n in enumerate(self.nvec):
            dist = self._head_dist(k, prefix)
            if actions is not None:
                a = actions[..., k]
            elif mode == "sample":
                a = dist.sample()
            else:
                a = dist.mode
            dists.append(dist)
            chosen.append(a)
            prefix.append(nn.functional.one_hot(a.long(), n).to(self.embedding.dtype))
        self._head_dists = dists
        return torch.stack(chosen, dim=-1)

    def sample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        if sample_shape:
            raise ValueError("AutoRegressiveDist: sample_shape is not supported; batch the embedding instead")
        with torch.no_grad():
            return self._run(None, "sample")

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if value.shape[-1] != len(self.nvec):
            raise ValueError(
                f"AutoRegressiveDist: action has {value.shape[-1]} entries in the last dim, expected {len(self.nvec)}"
            )
        self._run(value, "teacher")
        return sum(d.log_prob(value[..., k]) for k, d in enumerate(self._head_dists))

    def entropy(self) -> torch.Tensor:
        if self._head_dists is None:
            self._run(None, "mode")
        return sum(d.entropy() for d in self._head_dists)

    @property
    def mode(self) -> torch.Tensor:
        """Greedy decoding: the most likely action of each head given the greedy prefix."""
        with torch.no_grad():
            return self._run(None, "mode")

    @property
    def deterministic_sample(self) -> torch.Tensor:
        return self.mode


class AutoRegressiveActor(TensorDictModuleBase):
    """A policy over ``H`` discrete heads sampled in order, each conditioned on the previous actions.

    ``encoder`` maps the observation to an embedding ``[*B, E]``; head ``k`` is a linear layer
    (or an MLP with ``head_cells``) on ``cat(embedding, one_hot(a_1), ..., one_hot(a_{k-1}))``.
    Writes ``"action"`` ``[*B, H]`` int64 and ``"action_log_prob"`` ``[*B, 1]`` (the joint
    log-probability). :meth:`get_dist` returns an :class:`AutoRegressiveDist`, so
    :class:`~rl4py.losses.PPOLoss` trains it like any other actor.

    Args:
        encoder: observation -> embedding ``[*B, embedding_size]``.
        embedding_size: ``E``.
        nvec: choices per head, in sampling order.
        head_cells: hidden sizes of each head's MLP (empty: a linear head).
        in_keys: entries fed to ``encoder``.
        mask_key: optional key of a ``[*B, sum(nvec)]`` bool mask.
        action_key, log_prob_key: output keys.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> actor = AutoRegressiveActor(torch.nn.Linear(4, 16), 16, nvec=[3, 5])
        >>> td = actor(TensorDict({"observation": torch.zeros(2, 4)}, batch_size=[2]))
        >>> td["action"].shape, td["action_log_prob"].shape
        (torch.Size([2, 2]), torch.Size([2, 1]))
    """

    def __init__(
        self,
        encoder: nn.Module,
        embedding_size: int,
        nvec: Sequence[int],
        head_cells: Sequence[int] = (),
        in_keys: Sequence[NestedKey] = (keys.OBSERVATION,),
        mask_key: NestedKey | None = None,
        action_key: NestedKey = keys.ACTION,
        log_prob_key: NestedKey = keys.ACTION_LOG_PROB,
    ) -> None:
        super().__init__()
        self.nvec = [int(n) for n in nvec]
        if not self.nvec or min(self.nvec) < 1:
            raise ValueError(f"AutoRegressiveActor: nvec must be positive sizes, got {list(nvec)}")
        self.encoder = encoder
        self.heads = nn.ModuleList(
            MLP(embedding_size + sum(self.nvec[:k]), n, head_cells, output_gain=0.01) for k, n in enumerate(self.nvec)
        )
        self._encoder_in_keys = list(in_keys)
        self.mask_key = mask_key
        self.in_keys = list(in_keys) + ([mask_key] if mask_key is not None else [])
        self.action_key = action_key
        self.log_prob_key = log_prob_key
        self.out_keys = [action_key, log_prob_key]

    def get_dist(self, td: TensorDictBase) -> AutoRegressiveDist:
        """The joint distribution at ``td`` (with gradient); writes nothing into ``td``."""
        embedding = self.encoder(*(td.get(k) for k in self._encoder_in_keys))
        mask = td.get(self.mask_key) if self.mask_key is not None else None
        return AutoRegressiveDist(embedding, self.heads, self.nvec, mask)

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        dist = self.get_dist(td)
        mode = interaction_type()
        action = dist.sample() if mode is None or mode == InteractionType.RANDOM else dist.mode
        if torch.is_grad_enabled():  # sampling runs without gradient: re-run the heads for a differentiable log-prob
            log_prob = dist.log_prob(action)
        else:  # collection: the sampling pass already built every head's distribution for this action
            log_prob = sum(d.log_prob(action[..., k]) for k, d in enumerate(dist._head_dists))
        td.set(self.action_key, action)
        td.set(self.log_prob_key, log_prob.unsqueeze(-1))
        return td
