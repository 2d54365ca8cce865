"""Samplers: which stored items a replay buffer returns, uniform or prioritized.

A sampler draws row indices of a storage. The buffer tells it which rows were written
(:meth:`~Sampler.add`) and asks it for ``batch_size`` rows among the first ``size``
(:meth:`~Sampler.sample`); the buffer owns the ``torch.Generator`` and passes it in, so the
whole sampling stream is reproducible from one seed and checkpointed in one place.
"""

from __future__ import annotations

import math
from typing import Any, Literal, Protocol, runtime_checkable

import torch

__all__ = ["MULTINOMIAL_MAX_CAPACITY", "PrioritizedSampler", "RandomSampler", "Sampler", "SumMinTree"]

#: the largest capacity for which ``PrioritizedSampler(method="auto")`` draws with ``torch.multinomial``
#: over the priority vector; above it, the sum tree is faster. Measured by ``bench/replay_buffer.py``
#: (one draw + one update of 256, one thread): multinomial 0.08 / 0.11 / 0.29 / 1.65 ms, tree
#: 0.18 / 0.21 / 0.22 / 0.28 ms at 1e3 / 1e4 / 1e5 / 1e6 items: the curves cross between 1e4 and 1e5
MULTINOMIAL_MAX_CAPACITY = 1 << 16


@runtime_checkable
class Sampler(Protocol):
    """What a :class:`~rl4py.data.ReplayBuffer` needs from a sampler.

    ``sample`` may return 2-D ``indices`` ``[B, T]`` (the batch is then ``TensorDict[B, T]``); the
    extras ``"weight"`` go to the buffer's ``weight_key``, others under their own key. Two optional
    hooks, called by the buffer when a sampler defines them (:class:`~rl4py.data.SliceSampler` does):
    ``bind_storage(storage)`` before ``reset`` (read access to the stored entries) and
    ``prepare_batch(td) -> td`` at each ``extend`` before the write (layout checks and reordering).
    """

    def reset(self, capacity: int) -> None:
        """Forgets every item and prepares for a storage of ``capacity`` rows."""

    def add(self, indices: torch.Tensor) -> None:
        """Registers the rows just written (int64 ``[N]``, CPU)."""

    def sample(
        self, size: int, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Draws ``batch_size`` rows among ``[0, size)``; returns ``(indices [batch_size], extras)``."""

    def update_priority(self, index: torch.Tensor, priority: torch.Tensor) -> None:
        """Sets the priority of rows ``index``."""

    def state_dict(self) -> dict[str, Any]:
        """The sampler's state (priorities, ...): tensors and plain Python values."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`."""


class RandomSampler:
    """Uniform sampling with replacement: each stored item has probability ``1 / size``.

    One ``torch.randint`` per batch from the generator the buffer passes in.

    Examples:
        >>> sampler = RandomSampler()
        >>> indices, extras = sampler.sample(10, 4, torch.Generator().manual_seed(0))
        >>> indices.shape, extras
        (torch.Size([4]), {})
    """

    def reset(self, capacity: int) -> None:
        """Nothing to forget: uniform sampling keeps no per-item state."""

    def add(self, indices: torch.Tensor) -> None:
        """Nothing to register: uniform sampling keeps no per-item state."""

    def sample(
        self, size: int, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Draws ``batch_size`` rows uniformly from ``[0, size)``, with replacement.

        Args:
            size: the number of stored items (rows ``0 .. size - 1``); >= 1.
            batch_size: the number of rows to draw; >= 1.
            generator: the random source (CPU).

        Returns:
            ``(indices, {})`` with int64 ``indices`` ``[batch_size]`` on the CPU.
        """
        return torch.randint(size, (batch_size,), generator=generator), {}

    def update_priority(self, index: torch.Tensor, priority: torch.Tensor) -> None:
        """Uniform sampling has no priorities.

        Raises:
            ValueError: always; use a :class:`PrioritizedSampler` for prioritized replay.
        """
        raise ValueError(
            "RandomSampler.update_priority: uniform sampling has no priorities; build the buffer with "
            "sampler=PrioritizedSampler(...) to use update_priority"
        )

    def state_dict(self) -> dict[str, Any]:
        """Empty: uniform sampling keeps no state (the generator belongs to the buffer)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""

    def __repr__(self) -> str:
        return "RandomSampler()"


class SumMinTree:
    """A two-level sum and min tree over ``size`` non-negative float64 leaves, for proportional sampling.

    The leaves are cut into blocks of ``block_size``; each block keeps the sum and the min of its
    leaves. A draw searches the block sums flat (one ``cumsum`` and one ``searchsorted`` over
    ``size / block_size`` values), then the leaves of the chosen block (one gathered row of
    ``block_size`` per draw); an update rewrites the leaves and recomputes their blocks. So a
    batch costs about a dozen tensor ops whatever the size: a deeper tree (a binary one has 20
    levels for a million leaves) pays the per-op overhead at every level, and ``torch.multinomial``
    over the whole priority vector is ``O(size)`` per draw (see ``bench/replay_buffer.py``).

    Args:
        size: the number of leaves; >= 1.
        block_size: leaves per block; ``None`` picks the power of two (>= 16) nearest above
            ``sqrt(size / 256)``, which balances the two searches for batches of 256.
    """

    def __init__(self, size: int, block_size: int | None = None) -> None:
        if block_size is None:
            block_size = max(16, 1 << max(0, math.ceil(math.log2(math.sqrt(size / 256)))))
        self.size = size
        self.block_size = k = block_size
        self.num_blocks = -(-size // k)
        self.sum_leaves = torch.zeros(self.num_blocks * k, dtype=torch.float64)
        self.min_leaves = torch.full((self.num_blocks * k,), math.inf, dtype=torch.float64)  # inf: no leaf set
        self.block_sums = torch.zeros(self.num_blocks, dtype=torch.float64)
        self.block_mins = torch.full((self.num_blocks,), math.inf, dtype=torch.float64)

    @property
    def total(self) -> float:
        """The sum of all leaves."""
        return float(self.block_sums.sum())

    @property
    def min(self) -> float:
        """The smallest leaf that was set (``inf`` before any)."""
        return float(self.block_mins.min())

    @property
    def leaves(self) -> torch.Tensor:
        """The leaf values ``[size]`` (a view; 0 where no leaf is set)."""
        return self.sum_leaves[: self.size]

    def set(self, indices: torch.Tensor, values: torch.Tensor) -> None:
        """Sets leaves ``indices`` (int64 ``[K]``) to ``values`` (float64 ``[K]``) and recomputes their blocks.

        Duplicated indices keep one of their values; blocks are recomputed from their leaves
        (never updated by deltas), so the sums do not drift.
        """
        k = self.block_size
        self.sum_leaves.index_put_((indices,), values)
        self.min_leaves.index_put_((indices,), values)
        blocks = torch.div(indices, k, rounding_mode="floor")
        self.block_sums.index_put_((blocks,), torch.index_select(self.sum_leaves.view(-1, k), 0, blocks).sum(1))
        self.block_mins.index_put_((blocks,), torch.index_select(self.min_leaves.view(-1, k), 0, blocks).amin(1))

    def fill(self, start: int, stop: int, value: float) -> None:
        """Sets the contiguous leaves ``[start, stop)`` to ``value`` (a ring write: slices, no index tensors)."""
        k = self.block_size
        self.sum_leaves[start:stop] = value
        self.min_leaves[start:stop] = value
        first, last = start // k, (stop - 1) // k + 1
        torch.sum(self.sum_leaves.view(-1, k)[first:last], 1, out=self.block_sums[first:last])
        torch.amin(self.min_leaves.view(-1, k)[first:last], 1, out=self.block_mins[first:last])

    def find(self, uniform: torch.Tensor) -> torch.Tensor:
        """Maps uniform numbers to leaves, each leaf with probability ``leaf / total``.

        Args:
            uniform: float64 ``[B]`` in ``[0, 1)``.

        Returns:
            int64 ``[B]``: for ``u = uniform * total``, the leaf ``i`` with ``sum(leaves[:i]) <= u <
            sum(leaves[:i + 1])``. Round-off (``u`` at a block's total) can end on a zero leaf:
            the caller checks (see :meth:`PrioritizedSampler.sample`).
        """
        k = self.block_size
        cumulative = self.block_sums.cumsum(0)
        u = uniform * cumulative[-1]
        block = torch.searchsorted(cumulative, u, right=True).clamp_(max=self.num_blocks - 1)
        # the mass before the block, exactly the prefix searchsorted compared (so u stays >= 0)
        before = torch.cat((cumulative.new_zeros(1), cumulative[:-1]))
        u = (u - torch.index_select(before, 0, block)).unsqueeze(1)
        rows = torch.index_select(self.sum_leaves.view(-1, k), 0, block)  # [B, k]
        choice = torch.searchsorted(rows.cumsum(1), u, right=True).clamp_(max=k - 1)
        return choice.squeeze(1).add_(block, alpha=k)


class PrioritizedSampler:
    r"""Proportional prioritized replay (Schaul et al., 2016, "Prioritized Experience Replay").

    Item ``i`` with priority :math:`p_i` is drawn with probability
    :math:`P(i) = p_i^\alpha / \sum_k p_k^\alpha` and gets the importance-sampling weight
    :math:`w_i = (N P(i))^{-\beta} / \max_j w_j`, where :math:`N` is the number of stored items
    and the max runs over all of them (so weights lie in ``(0, 1]``). The stored priority of an
    update is ``priority + eps`` (so no item has zero probability); new items get the largest
    priority seen so far (1 before any update), so each is likely drawn at least once.

    Two ways to draw, the same distribution, both batched tensor ops without a loop over items
    (float64, on the CPU): ``"multinomial"`` keeps the ``p^alpha`` vector and draws with
    ``torch.multinomial`` (``O(size)`` per batch, a few ops), ``"tree"`` keeps a two-level
    :class:`SumMinTree` (about a dozen ops per batch at any size). ``"auto"`` takes
    ``"multinomial"`` up to :data:`MULTINOMIAL_MAX_CAPACITY` items and ``"tree"`` above, the
    faster of the two as measured by ``bench/replay_buffer.py`` (see
    ``docs/guide/replay_buffer.md``). The random streams of the two differ.

    Args:
        alpha: how strongly priorities shape the distribution; 0 is uniform. >= 0.
        beta: importance-sampling correction; 1 fully compensates the non-uniform sampling.
            >= 0. An attribute: anneal it by assigning ``sampler.beta``.
        eps: added to every updated priority; > 0.
        method: ``"auto"``, ``"tree"`` or ``"multinomial"``.

    Raises:
        ValueError: ``alpha < 0``, ``beta < 0`` or ``eps <= 0`` (or a non-finite value), or an
            unknown ``method``.
    """

    def __init__(
        self,
        alpha: float = 0.6,
        beta: float = 0.4,
        eps: float = 1e-6,
        method: Literal["auto", "tree", "multinomial"] = "auto",
    ) -> None:
        for name, value, low_ok in (("alpha", alpha, True), ("beta", beta, True), ("eps", eps, False)):
            if not math.isfinite(value) or value < 0 or (value == 0 and not low_ok):
                bound = ">= 0" if low_ok else "> 0"
                raise ValueError(f"PrioritizedSampler: {name} must be finite and {bound}, got {value!r}")
        if method not in ("auto", "tree", "multinomial"):
            raise ValueError(f"PrioritizedSampler: method must be 'auto', 'tree' or 'multinomial', got {method!r}")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.eps = float(eps)
        self.method = method
        self.capacity = 0
        self.max_priority = 1.0
        self._priority = torch.zeros(0, dtype=torch.float64)  # p_i per row, 0 without item
        self._p_alpha = torch.zeros(0, dtype=torch.float64)  # p_i^alpha per row ("multinomial")
        self._tree: SumMinTree | None = None  # p_i^alpha in a sum/min tree ("tree")

    # ------------------------------------------------------------------ tree

    def reset(self, capacity: int) -> None:
        """Forgets every priority and sizes the trees for ``capacity`` rows.

        Args:
            capacity: the storage's capacity; >= 1.
        """
        if capacity < 1:
            raise ValueError(f"PrioritizedSampler.reset: capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._priority = torch.zeros(capacity, dtype=torch.float64)
        if self.uses_tree:
            self._tree, self._p_alpha = SumMinTree(capacity), torch.zeros(0, dtype=torch.float64)
        else:
            self._tree, self._p_alpha = None, torch.zeros(capacity, dtype=torch.float64)
        self.max_priority = 1.0

    @property
    def uses_tree(self) -> bool:
        """Whether draws go through the sum tree (else ``torch.multinomial``), given ``method`` and the capacity."""
        return self.method == "tree" or (self.method == "auto" and self.capacity > MULTINOMIAL_MAX_CAPACITY)

    def _set(self, indices: torch.Tensor, priority: torch.Tensor) -> None:
        """Stores priorities ``p`` at rows ``indices``, their ``p^alpha`` at the leaves, and updates the ancestors."""
        self._priority.index_put_((indices,), priority)
        if self._tree is not None:
            self._tree.set(indices, priority.pow(self.alpha))
        else:
            self._p_alpha.index_put_((indices,), priority.pow(self.alpha))

    def _fill(self, start: int, stop: int, priority: float) -> None:
        """Stores one priority at the contiguous rows ``[start, stop)``."""
        self._priority[start:stop] = priority
        if self._tree is not None:
            self._tree.fill(start, stop, priority**self.alpha)
        else:
            self._p_alpha[start:stop] = priority**self.alpha

    @property
    def priorities(self) -> torch.Tensor:
        """The stored priorities ``p_i`` (``priority + eps``; 0 for rows without item), float64 ``[capacity]``."""
        return self._priority.clone()

    def probabilities(self) -> torch.Tensor:
        r"""The sampling probabilities :math:`P(i)` of every row, float64 ``[capacity]`` (0 for rows without item)."""
        p_alpha = self._tree.leaves if self._tree is not None else self._p_alpha
        total = float(p_alpha.sum())
        return p_alpha / total if total > 0 else p_alpha.clone()

    # ------------------------------------------------------------------ protocol

    def add(self, indices: torch.Tensor) -> None:
        """Gives the rows just written the largest priority seen so far.

        Args:
            indices: int64 row indices ``[N]``.
        """
        n = indices.numel()
        if n == 0:
            return
        if self.capacity == 0:
            raise ValueError("PrioritizedSampler.add: the sampler has capacity 0; expected reset(capacity) first")
        indices = indices.to("cpu", torch.int64)
        first = int(indices[0])
        ring = (torch.arange(first, first + n) % self.capacity) if n > 1 else indices
        if 0 <= first < self.capacity and torch.equal(indices, ring):  # a ring write: one or two slices
            for start, stop in ((first, min(first + n, self.capacity)), (0, first + n - self.capacity)):
                if stop > start:
                    self._fill(start, stop, self.max_priority)
        else:
            self._set(indices, torch.full((n,), self.max_priority, dtype=torch.float64))

    def sample(
        self, size: int, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Draws ``batch_size`` rows with probability ``P(i)``, with replacement.

        Args:
            size: the number of stored items, rows ``0 .. size - 1`` (registered with :meth:`add`); >= 1.
            batch_size: the number of rows to draw; >= 1.
            generator: the random source (CPU).

        Returns:
            ``(indices, {"weight": weights})``: int64 ``indices`` ``[batch_size]`` and float32
            importance weights ``[batch_size, 1]`` in ``(0, 1]``, both on the CPU.
        """
        if self.capacity == 0 or size < 1:
            raise ValueError(
                f"PrioritizedSampler.sample: nothing to sample (capacity {self.capacity}, size {size}); "
                "expected reset(capacity) and add(indices) first"
            )
        tree = self._tree
        if tree is None:
            p_alpha = self._p_alpha[:size]
            indices = torch.multinomial(p_alpha, batch_size, replacement=True, generator=generator)
            values, p_alpha_min = torch.index_select(p_alpha, 0, indices), p_alpha.min()
        else:
            indices = tree.find(torch.rand(batch_size, dtype=torch.float64, generator=generator))
            values, p_alpha_min = torch.index_select(tree.leaves, 0, indices), tree.min
            empty = values == 0
            if bool(empty.any()):  # round-off ended on an empty leaf (~1e-16 per draw): redraw those exactly
                redraw = torch.multinomial(tree.leaves, int(empty.sum()), replacement=True, generator=generator)
                indices[empty] = redraw
                values[empty] = tree.leaves[redraw]
        # w_i / max_j w_j = (N P(i))^-beta / (N P_min)^-beta = (p_i^alpha / p_min^alpha)^-beta
        weights = (values / p_alpha_min).pow_(-self.beta).to(torch.float32).unsqueeze(-1)
        return indices, {"weight": weights}

    def update_priority(self, index: torch.Tensor, priority: torch.Tensor) -> None:
        """Sets the priority of rows ``index`` to ``priority + eps``.

        Args:
            index: int64 row indices ``[K]`` (e.g. the ``"index"`` entry of a sampled batch),
                on any device. With duplicates, one of their priorities is kept.
            priority: ``[K]`` or ``[K, 1]``, finite and >= 0, on any device (typically
                ``|TD error|``, detached).

        Raises:
            ValueError: shapes differ, an index holds no item or is out of range, or a priority
                is negative or not finite.
        """
        index, priority = _check_priority_args("PrioritizedSampler.update_priority", index, priority)
        if index.numel() == 0:
            return
        low, high = (int(v) for v in torch.aminmax(index))
        if low < 0 or high >= self.capacity:
            raise ValueError(
                "PrioritizedSampler.update_priority: index must lie in [0, capacity) = "
                f"[0, {self.capacity}), got values in [{low}, {high}]"
            )
        empty = torch.index_select(self._priority, 0, index) == 0
        if bool(empty.any()):
            raise ValueError(
                "PrioritizedSampler.update_priority: rows "
                f"{index[empty][:8].tolist()} hold no item yet; expected rows written by extend"
            )
        p = priority + self.eps
        self.max_priority = max(self.max_priority, float(p.max()))
        self._set(index, p)

    def state_dict(self) -> dict[str, Any]:
        """The priorities and the running max priority.

        Returns:
            ``{"alpha", "beta", "eps", "method", "capacity", "max_priority", "priority"}``;
            ``priority`` holds the stored priorities float64 ``[capacity]`` (0 for rows without item).
        """
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "eps": self.eps,
            "method": self.method,
            "capacity": self.capacity,
            "max_priority": self.max_priority,
            "priority": self._priority.clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`: priorities, max priority, ``alpha``, ``beta``, ``eps``, ``method``.

        The hyperparameters come from the state, as a torch optimizer restores its learning rate,
        so a resumed run samples exactly as the saved one would have.

        Raises:
            ValueError: the state's capacity differs.
        """
        name = "PrioritizedSampler.load_state_dict"
        if state["capacity"] != self.capacity:
            raise ValueError(f"{name}: the state has capacity {state['capacity']}, this sampler {self.capacity}")
        self.alpha = float(state["alpha"])
        self.beta = float(state["beta"])
        self.eps = float(state["eps"])
        self.method = state["method"]
        self.reset(self.capacity)
        self.max_priority = float(state["max_priority"])
        priority = state["priority"].to(torch.float64)
        filled = torch.nonzero(priority > 0).squeeze(-1)
        if filled.numel():
            self._set(filled, priority[filled])

    def __repr__(self) -> str:
        return f"PrioritizedSampler(alpha={self.alpha}, beta={self.beta}, eps={self.eps}, method={self.method!r})"


def _check_priority_args(where: str, index: torch.Tensor, priority: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validates and normalizes ``update_priority`` arguments to CPU int64 / float64 ``[K]``."""
    if not isinstance(index, torch.Tensor):
        index = torch.as_tensor(index)
    if not isinstance(priority, torch.Tensor):
        priority = torch.as_tensor(priority)
    if index.dim() != 1 or index.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f"{where}: index must be an integer tensor [K], got shape {tuple(index.shape)} {index.dtype}")
    k = index.shape[0]
    if priority.shape not in (torch.Size([k]), torch.Size([k, 1])):
        raise ValueError(
            f"{where}: priority must have shape [K] or [K, 1] with K = len(index) = {k}, "
            f"got shape {tuple(priority.shape)}"
        )
    if priority.is_complex() or priority.dtype == torch.bool:
        raise ValueError(f"{where}: priority must be a real tensor, got dtype {priority.dtype}")
    index = index.to("cpu", torch.int64)
    priority = priority.detach().to("cpu", torch.float64).reshape(k)
    ok = (priority >= 0) & (priority < math.inf)  # NaN compares False
    if not bool(ok.all()):
        bad = ~ok
        raise ValueError(
            f"{where}: priorities must be finite and >= 0, got {priority[bad][:8].tolist()} "
            f"at rows {index[bad][:8].tolist()}"
        )
    return index, priority
