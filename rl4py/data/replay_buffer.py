"""``ReplayBuffer``: a FIFO store of transitions with uniform or prioritized sampling."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Union

import torch
from tensordict import TensorDict, TensorDictBase

from rl4py import keys
from rl4py.data.samplers import PrioritizedSampler, RandomSampler, Sampler
from rl4py.data.slice_sampler import SliceSampler
from rl4py.data.storages import MemmapStorage, TensorStorage, _key_str, flatten_batch
from rl4py.keys import NestedKey

__all__ = ["INDEX", "WEIGHT", "ReplayBuffer"]

#: key of the sampled rows' storage indices (written by prioritized sampling)
INDEX = keys.INDEX
#: key of the importance-sampling weights ``[batch_size, 1]`` (written by prioritized sampling)
WEIGHT = keys.WEIGHT

StorageArg = Union[Literal["memory", "memmap"], TensorStorage]


class ReplayBuffer:
    """A replay buffer of transitions: preallocated FIFO storage, uniform or prioritized sampling.

    Items are TensorDicts with batch size ``[]``; :meth:`extend` takes a batch ``[N]`` or a
    rollout ``[B, T]`` (its batch dims are flattened, item ``b * T + t``) and :meth:`sample`
    returns a ``TensorDict[batch_size]`` of copies. The storage is allocated from the first
    batch (keys, per-item shapes, dtypes); every later batch must match it. Once ``capacity``
    items are stored, each new item overwrites the oldest one (FIFO).

    Args:
        capacity: the maximum number of items; >= 1.
        storage: ``"memory"`` (a :class:`~rl4py.data.TensorStorage`: tensors in RAM or on
            ``device``), ``"memmap"`` (a :class:`~rl4py.data.MemmapStorage`: memory-mapped files
            in ``path``), or a storage object of this capacity.
        sampler: ``None`` (uniform, :class:`~rl4py.data.RandomSampler`) or a sampler, e.g.
            :class:`~rl4py.data.PrioritizedSampler`, or :class:`~rl4py.data.SliceSampler` for
            contiguous slices ``[B, T]`` of one sub-env's stream (sequence models).
        generator: the CPU random source of sampling. Give this or ``seed``, not both; with
            neither, a generator is seeded from torch's global RNG (so ``torch.manual_seed``
            makes the buffer reproducible).
        seed: seed of a new generator.
        path: the directory of a ``"memmap"`` storage (``None``: a temporary directory). If it
            holds a storage written before, the buffer reopens its items.
        device: the device of a ``"memory"`` storage (``None``: the first batch's device).
        index_key: the key of the sampled rows' storage indices (prioritized sampling).
        weight_key: the key of the importance weights (prioritized sampling).

    Raises:
        ValueError: ``capacity < 1``; an unknown ``storage``; a storage object of another
            capacity; ``path`` without ``storage="memmap"``; both ``generator`` and ``seed``;
            a non-CPU generator.

    Examples:
        >>> buffer = ReplayBuffer(1000, seed=0)
        >>> td = TensorDict({"observation": torch.randn(8, 16, 4)}, batch_size=[8, 16])  # [B, T]
        >>> buffer.extend(td).shape
        torch.Size([128])
        >>> len(buffer), buffer.sample(32).batch_size
        (128, torch.Size([32]))
    """

    def __init__(
        self,
        capacity: int,
        storage: StorageArg = "memory",
        sampler: Sampler | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        path: str | Path | None = None,
        device: torch.device | str | None = None,
        index_key: NestedKey = INDEX,
        weight_key: NestedKey = WEIGHT,
    ) -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"ReplayBuffer: capacity must be an int >= 1, got {capacity!r}")
        if path is not None and storage != "memmap":
            raise ValueError(f"ReplayBuffer: path is only used with storage='memmap', got storage={storage!r}")
        if device is not None and storage != "memory":
            raise ValueError(f"ReplayBuffer: device is only used with storage='memory', got storage={storage!r}")
        if isinstance(storage, TensorStorage):
            if storage.capacity != capacity:
                raise ValueError(
                    f"ReplayBuffer: the storage has capacity {storage.capacity}, expected capacity={capacity}"
                )
            self.storage = storage
        elif storage == "memory":
            self.storage = TensorStorage(capacity, device=device)
        elif storage == "memmap":
            self.storage = MemmapStorage(capacity, path=path)
        else:
            raise ValueError(f"ReplayBuffer: storage must be 'memory', 'memmap' or a TensorStorage, got {storage!r}")
        self.sampler: Sampler = RandomSampler() if sampler is None else sampler
        if not isinstance(self.sampler, Sampler):
            raise ValueError(
                "ReplayBuffer: sampler must be None, a RandomSampler, a PrioritizedSampler or implement "
                f"the Sampler protocol, got {type(self.sampler).__name__}"
            )
        if generator is not None and seed is not None:
            raise ValueError(f"ReplayBuffer: pass generator or seed, not both (got seed={seed})")
        if generator is None:
            if seed is None:
                seed = int(torch.randint(2**62, (), dtype=torch.int64))
            generator = torch.Generator().manual_seed(seed)
        elif generator.device.type != "cpu":
            raise ValueError(f"ReplayBuffer: generator must be a CPU torch.Generator, got one on {generator.device}")
        self.generator = generator
        self.index_key = index_key
        self.weight_key = weight_key
        bind = getattr(self.sampler, "bind_storage", None)  # samplers that read stored entries (SliceSampler)
        if bind is not None:
            bind(self.storage)
        self.sampler.reset(capacity)
        if len(self.storage):  # a reopened memory-mapped storage: register its items
            self.sampler.add(self.storage.ordered_indices())

    @property
    def capacity(self) -> int:
        """The maximum number of items."""
        return self.storage.capacity

    def __len__(self) -> int:
        return len(self.storage)

    def __repr__(self) -> str:
        return f"ReplayBuffer(size={len(self)}, storage={self.storage!r}, sampler={self.sampler!r})"

    # ------------------------------------------------------------------ write / read

    def extend(self, td: TensorDictBase) -> torch.Tensor:
        """Appends the items of ``td``; once full, the oldest items are overwritten first.

        Args:
            td: a TensorDict with batch size ``[N]`` or ``[B, T]`` (a collector rollout); its
                batch dims are flattened row-major (item ``b * T + t``). The first call fixes the
                entries, per-item shapes and dtypes; later calls must match them exactly. At
                most ``capacity`` items per call.

        Returns:
            The storage rows written, int64 ``[N]`` (``[B * T]``) on the CPU, in item order.

        Raises:
            ValueError: ``td`` has batch size ``[]``, more than ``capacity`` items, entries that
                differ from the storage's (missing or extra keys, per-item shape, dtype), or (with
                a prioritized sampler, at the first call) an entry named like ``index_key`` /
                ``weight_key``. A :class:`~rl4py.data.SliceSampler` also requires whole steps of
                its ``num_envs`` sub-envs (``[num_envs]``, ``[k * num_envs]`` or ``[num_envs, T]``,
                the last stored time-major) and its ``end_key`` entry.
        """
        where = "ReplayBuffer.extend"
        prepare = getattr(self.sampler, "prepare_batch", None)  # a sampler's layout checks (SliceSampler)
        if prepare is not None:
            td = prepare(td)
        n, leaves = flatten_batch(td, where)
        if not self.storage.is_allocated and isinstance(self.sampler, (PrioritizedSampler, SliceSampler)):
            for key in (self.index_key, self.weight_key):
                if key in leaves:
                    raise ValueError(
                        f"{where}: the TensorDict has an entry {_key_str(key)}, which prioritized sampling writes "
                        "into sampled batches; rename the entry or pass index_key/weight_key"
                    )
        indices = self.storage.write_leaves(n, leaves, where)
        self.sampler.add(indices)
        return indices

    def sample(self, batch_size: int) -> TensorDict:
        """Draws ``batch_size`` items (or slices), with replacement.

        Args:
            batch_size: the number of items; >= 1 (may exceed ``len(self)``: draws repeat). With a
                :class:`~rl4py.data.SliceSampler`, the number of slices ``B``.

        Returns:
            ``TensorDict[batch_size]`` with every stored entry (copies), on the storage's device.
            A :class:`~rl4py.data.PrioritizedSampler` adds ``index_key`` (int64 ``[batch_size]``,
            the storage rows, for :meth:`update_priority`) and ``weight_key`` (float32
            ``[batch_size, 1]``, the importance weights). A :class:`~rl4py.data.SliceSampler`
            returns ``TensorDict[B, T]`` with ``index_key`` (int64 ``[B, T]``) and its
            ``is_init_key`` (bool ``[B, T, 1]``, true at ``t = 0`` and at episode starts).

        Raises:
            ValueError: the buffer is empty, ``batch_size < 1``, or the sampler finds nothing to
                draw (a :class:`~rl4py.data.SliceSampler` with no slice that fits).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"ReplayBuffer.sample: batch_size must be an int >= 1, got {batch_size!r}")
        size = len(self.storage)
        if size == 0:
            raise ValueError("ReplayBuffer.sample: the buffer is empty (0 items); extend it before sampling")
        indices, extras = self.sampler.sample(size, batch_size, self.generator)
        batch = self.storage.get(indices.reshape(-1))
        if indices.dim() > 1:  # slices: rows [B, T]
            batch = batch.reshape(indices.shape)
        if extras:
            device = batch.device
            batch.set(self.index_key, indices.to(device))
            for name, value in extras.items():  # "weight" goes to weight_key, other extras under their own key
                batch.set(self.weight_key if name == "weight" else name, value.to(device))
        return batch

    def update_priority(self, index: torch.Tensor, priority: torch.Tensor) -> None:
        """Sets the priorities of the items at storage rows ``index`` (prioritized sampling).

        Args:
            index: int64 ``[K]``: the ``index_key`` entry of a sampled batch.
            priority: ``[K]`` or ``[K, 1]``, finite, >= 0 (e.g. ``td_error.abs().detach()``).

        Raises:
            ValueError: the sampler has no priorities (uniform), or the sampler rejects the
                arguments (shapes, rows without item, negative or non-finite priorities).
        """
        self.sampler.update_priority(index, priority)

    def group_by(self, key: NestedKey) -> dict[Any, TensorDict]:
        """Gathers the stored items that share a value of ``key`` (e.g. a trajectory id).

        Args:
            key: an entry with one value per item (per-item shape ``()`` or ``(1,)``).

        Returns:
            ``{value: TensorDict[n_value]}`` with Python scalars as keys in ascending order; each
            group holds its items in insertion order (oldest first). Empty for an empty buffer.

        Raises:
            KeyError: the buffer holds no entry ``key``.
            ValueError: the entry has more than one value per item.
        """
        size = len(self.storage)
        if size == 0:
            return {}
        column = self.storage.column(key)
        if column.shape[1:] not in (torch.Size([]), torch.Size([1])):
            raise ValueError(
                f"ReplayBuffer.group_by: entry {_key_str(key)} must hold one value per item (per-item shape () or "
                f"(1,)), got per-item shape {tuple(column.shape[1:])}"
            )
        ordered = self.storage.ordered_indices()
        values = torch.index_select(column, 0, ordered.to(column.device)).reshape(size).cpu()
        unique, inverse, counts = torch.unique(values, sorted=True, return_inverse=True, return_counts=True)
        order = torch.argsort(inverse, stable=True)  # by group, insertion order inside each group
        groups = torch.split(ordered[order], counts.tolist())
        return {value: self.storage.get(rows) for value, rows in zip(unique.tolist(), groups)}

    # ------------------------------------------------------------------ checkpointing

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue with the same contents and the same samples.

        Returns:
            ``{"capacity", "storage", "sampler", "sampler_type", "generator"}``: the storage's
            items and ring counters, the sampler's state (priorities), and the generator state.
            Tensors and plain Python values only (``torch.load(..., weights_only=True)`` works).
        """
        return {
            "capacity": self.capacity,
            "storage": self.storage.state_dict(),
            "sampler_type": type(self.sampler).__name__,
            "sampler": self.sampler.state_dict(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`: contents, write cursor, size, priorities, generator.

        Args:
            state: the :meth:`state_dict` of a buffer with the same capacity and sampler type.

        Raises:
            ValueError: the capacity or the sampler type differ, or the storage is already
                allocated with other entries.
        """
        name = "ReplayBuffer.load_state_dict"
        if state["capacity"] != self.capacity:
            raise ValueError(f"{name}: the state has capacity {state['capacity']}, this buffer {self.capacity}")
        if state["sampler_type"] != type(self.sampler).__name__:
            raise ValueError(
                f"{name}: the state was saved with sampler {state['sampler_type']}, this buffer has "
                f"{type(self.sampler).__name__}"
            )
        self.storage.load_state_dict(state["storage"])
        self.sampler.reset(self.capacity)
        self.sampler.load_state_dict(state["sampler"])
        self.generator.set_state(state["generator"])
