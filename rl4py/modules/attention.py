"""Attention over sets of entities: a pre-norm transformer encoder, target attention, attention
pooling and a pointer network.

All four take entity tensors ``[*B, N, d]`` (``N`` entities, any number of leading batch dims)
and an optional ``mask [*B, N]`` (bool, true = valid entity). A masked entity has no influence
on any output: changing its features changes nothing. torch's own ``key_padding_mask`` has the
opposite convention (true = ignore); the modules convert.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import distributions as D
from torch import nn

from rl4py.modules.distributions import Categorical, MaskedCategorical

__all__ = ["AttentionPooling", "PointerNetwork", "TargetAttention", "TransformerEncoder"]


def _check_entities(owner: str, name: str, x: torch.Tensor, dim: int) -> None:
    if x.dim() < 3 or x.shape[-1] != dim:
        raise ValueError(f"{owner}: {name} must have shape [*B, N, {dim}], got {tuple(x.shape)}")


def _check_mask(owner: str, mask: torch.Tensor | None, entities: torch.Tensor) -> None:
    if mask is None:
        return
    if mask.dtype != torch.bool:
        raise TypeError(f"{owner}: mask must be a bool tensor (true = valid entity), got {mask.dtype}")
    if mask.shape != entities.shape[:-1]:
        raise ValueError(
            f"{owner}: mask must have shape [*B, N] = {tuple(entities.shape[:-1])}, got {tuple(mask.shape)}"
        )


def _padding_mask(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """torch's ``key_padding_mask`` (true = ignore) from a validity mask ``[B, N]`` (true = valid).

    A row without any valid entity attends to all of its (invalid) entities instead of to none,
    which would give NaN; the caller zeroes that row's outputs.

    Returns:
        ``(key_padding_mask [B, N], invalid [B, N], any_valid [B, 1])``.
    """
    invalid, any_valid = ~mask, mask.any(-1, keepdim=True)
    return invalid & any_valid, invalid, any_valid


class TransformerEncoder(nn.Module):
    """A stack of pre-norm transformer blocks (``nn.TransformerEncoderLayer(norm_first=True)``).

    Self-attention over a set of entities without positional encoding, so the encoder is
    permutation equivariant: permuting the entities permutes the outputs the same way. Each
    block is ``x + attn(norm(x))`` then ``x + ffn(norm(x))``; a final ``nn.LayerNorm`` follows the
    stack (``final_norm=True``), as is usual for pre-norm stacks. Layers are built independently
    (``nn.TransformerEncoder`` deep-copies one layer, so all its layers start equal).

    With a mask, masked entities are neither attended to nor attended from: the outputs at valid
    positions do not depend on them and the outputs at masked positions are zero. A row with no
    valid entity gives all-zero outputs.

    Args:
        d_model: entity feature size ``d``.
        n_heads: attention heads; must divide ``d_model``.
        n_layers: number of blocks.
        dim_feedforward: hidden size of each block's feed-forward network.
        dropout: dropout inside the blocks.
        activation: feed-forward activation, as ``nn.TransformerEncoderLayer`` takes it
            (``"relu"``, ``"gelu"`` or a callable).
        final_norm: apply an ``nn.LayerNorm`` after the last block.

    Shapes:
        ``x [*B, N, d_model]``, ``mask [*B, N]`` (bool, true = valid) -> ``[*B, N, d_model]``.

    Examples:
        >>> import torch
        >>> encoder = TransformerEncoder(d_model=128, n_heads=4, n_layers=2, dim_feedforward=512)
        >>> entities, mask = torch.randn(64, 30, 128), torch.rand(64, 30) < 0.8
        >>> encoder(entities, mask).shape
        torch.Size([64, 30, 128])
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        n_layers: int,
        dim_feedforward: int,
        dropout: float = 0.0,
        activation: str | Callable[[torch.Tensor], torch.Tensor] = "relu",
        final_norm: bool = True,
    ) -> None:
        super().__init__()
        if d_model < 1 or n_heads < 1 or d_model % n_heads:
            raise ValueError(
                f"TransformerEncoder: n_heads must divide d_model, got d_model={d_model}, n_heads={n_heads}"
            )
        if n_layers < 1 or dim_feedforward < 1:
            raise ValueError(
                f"TransformerEncoder: n_layers and dim_feedforward must be >= 1, got {n_layers} and {dim_feedforward}"
            )
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model,
                n_heads,
                dim_feedforward,
                dropout,
                activation=activation,
                batch_first=True,
                norm_first=True,
            )
            for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model) if final_norm else nn.Identity()
        self.d_model = d_model

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encodes the entities.

        Args:
            x: entity features ``[*B, N, d_model]``.
            mask: optional validity mask ``[*B, N]``, bool, true = valid.

        Returns:
            ``[*B, N, d_model]``; zero at masked positions.
        """
        _check_entities("TransformerEncoder", "x", x, self.d_model)
        _check_mask("TransformerEncoder", mask, x)
        flat = x.reshape(-1, *x.shape[-2:]) if x.dim() != 3 else x
        padding = invalid = None
        if mask is not None:
            padding, invalid, _ = _padding_mask(mask.reshape(flat.shape[:-1]))
        for layer in self.layers:
            flat = layer(flat, src_key_padding_mask=padding)
        out = self.norm(flat)
        if invalid is not None:
            out = out.masked_fill(invalid.unsqueeze(-1), 0.0)
        return out.reshape(x.shape) if x.dim() != 3 else out


class _EntityScorer(nn.Module):
    """Scores each entity against one query; subclasses implement :meth:`_scores`."""

    query_dim: int
    key_dim: int
    _scores: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (query, keys) -> raw logits [*B, N]

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits over the entities.

        Args:
            query: ``[*B, query_dim]`` (for example an LSTM output).
            keys: entity embeddings ``[*B, N, key_dim]``.
            mask: optional validity mask ``[*B, N]``, bool, true = valid (selectable) entity.

        Returns:
            logits ``[*B, N]``; masked entities get the dtype's most negative finite value, so a
            softmax gives them probability exactly 0 (without the NaNs ``-inf`` can produce).
        """
        name = type(self).__name__
        if query.dim() < 2 or query.shape[-1] != self.query_dim:
            raise ValueError(f"{name}: query must have shape [*B, {self.query_dim}], got {tuple(query.shape)}")
        _check_entities(name, "keys", keys, self.key_dim)
        if keys.shape[:-2] != query.shape[:-1]:
            raise ValueError(
                f"{name}: keys must have shape [*B, N, {self.key_dim}] with the query's batch dims "
                f"{tuple(query.shape[:-1])}, got {tuple(keys.shape)}"
            )
        _check_mask(name, mask, keys)
        logits = self._scores(query, keys)
        if mask is not None:
            logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
        return logits

    def probs(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Selection probabilities ``[*B, N]``: sum to 1 over the valid entities, exactly 0 at masked
        ones; a row without any valid entity is all zero. Arguments as :meth:`forward`."""
        probs = self(query, keys, mask).softmax(-1)
        return probs if mask is None else probs.masked_fill(~mask, 0.0)

    def dist(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None = None) -> D.Categorical:
        """The selection distribution: :class:`~rl4py.modules.distributions.MaskedCategorical` with a
        mask (every row needs a valid entity), else :class:`~rl4py.modules.distributions.Categorical`.
        Samples are entity indices ``[*B]``. Arguments as :meth:`forward`."""
        logits = self(query, keys, mask)
        return Categorical(logits) if mask is None else MaskedCategorical(logits, mask)


class TargetAttention(_EntityScorer):
    """Scaled dot-product attention of one query against entity keys, for picking a target.

    ``logits = (W_q query) . (W_k keys) / sqrt(hidden_dim)``; :meth:`probs` is their softmax over
    the valid entities and :meth:`dist` a categorical over entity indices.

    Args:
        query_dim: query size (for example the LSTM output, 256).
        key_dim: entity embedding size (for example 128).
        hidden_dim: size both are projected to (default ``key_dim``).

    Shapes:
        ``query [*B, query_dim]``, ``keys [*B, N, key_dim]``, ``mask [*B, N]`` (bool, true = valid)
        -> logits ``[*B, N]``.

    Examples:
        >>> import torch
        >>> attn = TargetAttention(query_dim=256, key_dim=128)
        >>> query, keys = torch.randn(64, 256), torch.randn(64, 30, 128)
        >>> mask = torch.ones(64, 30, dtype=torch.bool)
        >>> mask[:, 20:] = False
        >>> probs = attn.probs(query, keys, mask)
        >>> probs.shape, bool((probs[:, 20:] == 0).all())
        (torch.Size([64, 30]), True)
    """

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int | None = None) -> None:
        super().__init__()
        hidden_dim = key_dim if hidden_dim is None else hidden_dim
        for name, value in (("query_dim", query_dim), ("key_dim", key_dim), ("hidden_dim", hidden_dim)):
            if value < 1:
                raise ValueError(f"TargetAttention: {name} must be >= 1, got {value}")
        self.query_proj = nn.Linear(query_dim, hidden_dim)
        self.key_proj = nn.Linear(key_dim, hidden_dim)
        self.query_dim, self.key_dim, self.hidden_dim = query_dim, key_dim, hidden_dim
        self.scale = 1.0 / math.sqrt(hidden_dim)

    def _scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        q = self.query_proj(query).mul(self.scale).unsqueeze(-1)  # [*B, H, 1]
        return torch.matmul(self.key_proj(keys), q).squeeze(-1)  # [*B, N]


class PointerNetwork(_EntityScorer):
    """Additive (Bahdanau) attention over entities: ``logits = v^T tanh(W_1 query + W_2 keys)``.

    Used to select units (AlphaStar, SCC). :meth:`probs` is the softmax over the valid entities
    and :meth:`dist` a categorical over entity indices.

    Args:
        query_dim: query size (for example 256).
        key_dim: entity embedding size (for example 128).
        hidden_dim: size of the additive attention's hidden layer (for example 64).

    Shapes:
        ``query [*B, query_dim]``, ``keys [*B, N, key_dim]``, ``mask [*B, N]`` (bool, true = valid)
        -> logits ``[*B, N]``.

    Examples:
        >>> import torch
        >>> pointer = PointerNetwork(query_dim=256, key_dim=128, hidden_dim=64)
        >>> query, keys = torch.randn(64, 256), torch.randn(64, 30, 128)
        >>> pointer.dist(query, keys).sample().shape
        torch.Size([64])
    """

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int) -> None:
        super().__init__()
        for name, value in (("query_dim", query_dim), ("key_dim", key_dim), ("hidden_dim", hidden_dim)):
            if value < 1:
                raise ValueError(f"PointerNetwork: {name} must be >= 1, got {value}")
        self.query_proj = nn.Linear(query_dim, hidden_dim)
        self.key_proj = nn.Linear(key_dim, hidden_dim, bias=False)  # one bias (the query's) suffices
        self.v = nn.Linear(hidden_dim, 1, bias=False)
        self.query_dim, self.key_dim, self.hidden_dim = query_dim, key_dim, hidden_dim

    def _scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        hidden = torch.tanh(self.key_proj(keys) + self.query_proj(query).unsqueeze(-2))  # [*B, N, H]
        return self.v(hidden).squeeze(-1)


class AttentionPooling(nn.Module):
    """Pools a variable number of entities into a fixed-size vector with learned queries.

    ``n_queries`` learned query vectors attend to the entities through one
    ``nn.MultiheadAttention``; their outputs are concatenated. Masked entities get no attention;
    a row without any valid entity pools to zeros.

    Args:
        d_model: entity feature size.
        n_queries: number of learned queries.
        n_heads: attention heads; must divide ``d_model``.
        dropout: attention dropout.

    Shapes:
        ``x [*B, N, d_model]``, ``mask [*B, N]`` (bool, true = valid) -> ``[*B, n_queries * d_model]``.

    Examples:
        >>> import torch
        >>> pool = AttentionPooling(d_model=128, n_queries=4, n_heads=2)
        >>> pool(torch.randn(64, 30, 128)).shape
        torch.Size([64, 512])
    """

    def __init__(self, d_model: int, n_queries: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model < 1 or n_heads < 1 or d_model % n_heads:
            raise ValueError(f"AttentionPooling: n_heads must divide d_model, got d_model={d_model}, n_heads={n_heads}")
        if n_queries < 1:
            raise ValueError(f"AttentionPooling: n_queries must be >= 1, got {n_queries}")
        self.queries = nn.Parameter(torch.randn(n_queries, d_model))
        self.attention = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.d_model, self.n_queries = d_model, n_queries
        self.out_features = n_queries * d_model

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Pools the entities.

        Args:
            x: entity features ``[*B, N, d_model]``.
            mask: optional validity mask ``[*B, N]``, bool, true = valid.

        Returns:
            ``[*B, n_queries * d_model]``.
        """
        _check_entities("AttentionPooling", "x", x, self.d_model)
        _check_mask("AttentionPooling", mask, x)
        flat = x.reshape(-1, *x.shape[-2:]) if x.dim() != 3 else x
        queries = self.queries.unsqueeze(0).expand(flat.shape[0], -1, -1)
        padding = any_valid = None
        if mask is not None:
            padding, _, any_valid = _padding_mask(mask.reshape(flat.shape[:-1]))
        pooled, _ = self.attention(queries, flat, flat, key_padding_mask=padding, need_weights=False)
        out = pooled.reshape(flat.shape[0], self.out_features)
        if any_valid is not None:
            out = out.masked_fill(~any_valid, 0.0)
        return out.reshape(*x.shape[:-2], self.out_features) if x.dim() != 3 else out
