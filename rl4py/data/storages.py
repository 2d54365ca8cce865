"""Preallocated storages for replay buffers: a FIFO ring of items in a ``TensorDict[capacity]``.

A storage holds up to ``capacity`` items. Each item is one transition (or any record): a
TensorDict with batch size ``[]`` whose leaves have fixed per-item shapes and dtypes. The
storage is allocated from the first batch it receives (its keys, per-item shapes and dtypes)
and every later batch must match it exactly. Items are written at a write cursor that wraps
around: once the storage is full, the oldest items are overwritten first (FIFO).

Rows ``[0, len(storage))`` always hold valid items: the ring fills rows ``0, 1, ...`` before
it wraps, so a sampler can draw row indices uniformly from ``range(len(storage))``.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import torch
from tensordict import MemoryMappedTensor, TensorDict, TensorDictBase, is_leaf_nontensor

from rl4py.keys import NestedKey

__all__ = ["MemmapStorage", "Storage", "TensorStorage"]

#: per-item shape and dtype of every leaf, keyed by the leaf's key
Spec = dict[NestedKey, tuple[tuple[int, ...], torch.dtype]]


def _key_str(key: NestedKey) -> str:
    return repr(key)


def _keys_str(keys: list[NestedKey]) -> str:
    return "[" + ", ".join(_key_str(k) for k in keys) + "]"


def _spec_str(spec: Spec) -> str:
    return "{" + ", ".join(f"{_key_str(k)}: {tuple(s)} {d}" for k, (s, d) in spec.items()) + "}"


def flatten_batch(td: TensorDictBase, where: str) -> tuple[int, dict[NestedKey, torch.Tensor]]:
    """Flattens the batch dims of ``td`` into one item dim.

    Args:
        td: a TensorDict with batch size ``[N]`` or ``[B, T]`` (any number >= 1 of batch dims).
        where: the caller's name, for error messages.

    Returns:
        ``(n, leaves)``: the number of items ``n = prod(batch_size)`` and every leaf reshaped
        to ``[n, *item_shape]`` (a view where the leaf's layout allows one).

    Raises:
        ValueError: ``td`` is not a TensorDict, has no batch dim, or holds a non-tensor leaf.
    """
    if not isinstance(td, TensorDictBase):
        raise ValueError(f"{where}: expected a TensorDict with batch size [N] or [B, T], got {type(td).__name__}")
    batch_dims = td.batch_dims
    if batch_dims == 0:
        raise ValueError(
            f"{where}: expected a TensorDict with batch size [N] or [B, T], got batch size [] "
            "(a single item: add a batch dim with td.unsqueeze(0))"
        )
    n = math.prod(td.batch_size)
    leaves: dict[NestedKey, torch.Tensor] = {}
    # is_leaf_nontensor lists non-tensor entries too (the default walk skips them): reject, never drop
    for key, value in td.items(include_nested=True, leaves_only=True, is_leaf=is_leaf_nontensor):
        if not isinstance(value, torch.Tensor):
            raise ValueError(
                f"{where}: entry {_key_str(key)} is a {type(value).__name__}, expected a tensor "
                "(non-tensor data cannot be stored in preallocated tensors)"
            )
        leaves[key] = value if batch_dims == 1 else value.reshape(n, *value.shape[batch_dims:])
    return n, leaves


def _nest(flat: dict[NestedKey, torch.Tensor]) -> dict[str, Any]:
    """Turns ``{("next", "reward"): t}`` into ``{"next": {"reward": t}}`` for the TensorDict constructor."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if isinstance(key, str):
            out[key] = value
            continue
        node = out
        for part in key[:-1]:
            node = node.setdefault(part, {})
        node[key[-1]] = value
    return out


class TensorStorage:
    """A preallocated FIFO ring of ``capacity`` items held in tensors ``[capacity, *item_shape]``.

    The tensors are allocated at the first :meth:`write` from that batch's keys, per-item shapes
    and dtypes (on ``device``, or on the batch's device when ``device`` is ``None``). A write
    copies the batch into the rows at the write cursor (one or two slice copies per key, however
    many items); a read gathers rows by index (one ``index_select`` per key).

    Args:
        capacity: the maximum number of items; >= 1.
        device: where the tensors live; ``None`` takes the device of the first batch.

    Raises:
        ValueError: ``capacity < 1``.

    Examples:
        >>> storage = TensorStorage(4)
        >>> td = TensorDict({"x": torch.arange(6.0)}, batch_size=[6])
        >>> storage.write(td[:3]).tolist(), storage.write(td[3:]).tolist()
        ([0, 1, 2], [3, 0, 1])
        >>> storage.get(torch.tensor([0, 3]))["x"].tolist()  # rows 0 and 3: items 4 and 3
        [4.0, 3.0]
    """

    def __init__(self, capacity: int, device: torch.device | str | None = None) -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"{type(self).__name__}: capacity must be an int >= 1, got {capacity!r}")
        self.capacity = capacity
        self.device = torch.device(device) if device is not None else None
        self._data: TensorDictBase | None = None
        self._columns: dict[NestedKey, torch.Tensor] = {}
        self._spec: Spec = {}
        self._cursor = 0
        self._size = 0

    # ------------------------------------------------------------------ state

    def __len__(self) -> int:
        return self._size

    @property
    def cursor(self) -> int:
        """The row the next item is written to."""
        return self._cursor

    @property
    def is_allocated(self) -> bool:
        """Whether the tensors exist (after the first write or a load)."""
        return self._data is not None

    @property
    def spec(self) -> Spec:
        """Per-item shape and dtype of every stored leaf (empty before the first write)."""
        return dict(self._spec)

    @property
    def data(self) -> TensorDictBase:
        """The whole ``TensorDict[capacity]``; rows ``>= len(self)`` hold no item yet.

        Raises:
            ValueError: nothing has been written yet.
        """
        if self._data is None:
            raise ValueError(f"{type(self).__name__}: nothing has been written yet, the storage is not allocated")
        return self._data

    def ordered_indices(self) -> torch.Tensor:
        """Row indices of the stored items, oldest first (insertion order).

        Returns:
            int64 ``[len(self)]`` on the CPU.
        """
        if self._size < self.capacity:
            return torch.arange(self._size)
        return torch.arange(self._cursor, self._cursor + self.capacity) % self.capacity

    # ------------------------------------------------------------------ allocation

    def _allocate_tensors(self, spec: Spec, device: torch.device) -> TensorDictBase:
        return TensorDict(
            _nest({k: torch.zeros((self.capacity, *s), dtype=d, device=device) for k, (s, d) in spec.items()}),
            batch_size=[self.capacity],
            device=device,
        )

    def _allocate(self, spec: Spec, device: torch.device) -> None:
        if not spec:
            raise ValueError(f"{type(self).__name__}: cannot allocate a storage for a TensorDict without entries")
        # ordinary tensors even when the first write happens under torch.inference_mode(): inference
        # tensors could not be written outside inference mode later
        with torch.inference_mode(False):
            self._data = self._allocate_tensors(spec, self.device if self.device is not None else device)
        self._bind(spec)

    def _bind(self, spec: Spec) -> None:
        assert self._data is not None
        self._spec = dict(spec)
        self._columns = {key: self._data.get(key) for key in spec}
        if self.device is None:
            self.device = (
                self._data.device if self._data.device is not None else next(iter(self._columns.values())).device
            )

    def check(self, leaves: dict[NestedKey, torch.Tensor], where: str) -> None:
        """Checks that flattened leaves ``[n, *item_shape]`` match the storage's keys, shapes and dtypes.

        Args:
            leaves: the batch, as returned by :func:`flatten_batch`.
            where: the caller's name, for error messages.

        Raises:
            ValueError: a key is missing or unexpected, or a per-item shape or dtype differs.
        """
        spec = self._spec
        if leaves.keys() != spec.keys():
            missing = _keys_str([k for k in spec if k not in leaves])
            extra = _keys_str([k for k in leaves if k not in spec])
            raise ValueError(
                f"{where}: the TensorDict's entries do not match the storage's: missing {missing}, unexpected "
                f"{extra}; expected exactly the entries {_keys_str(list(spec))} (allocated from the first batch)"
            )
        for key, value in leaves.items():
            shape, dtype = spec[key]
            if value.shape[1:] != shape or value.dtype != dtype:
                raise ValueError(
                    f"{where}: entry {_key_str(key)} has per-item shape {tuple(value.shape[1:])} and dtype "
                    f"{value.dtype}, expected per-item shape {shape} and dtype {dtype} (allocated from the "
                    "first batch; batch dims are the TensorDict's batch_size, the rest is the item)"
                )

    # ------------------------------------------------------------------ write / read

    def write(self, td: TensorDictBase) -> torch.Tensor:
        """Appends the items of ``td`` at the write cursor, overwriting the oldest items once full.

        Args:
            td: a TensorDict with batch size ``[N]`` or ``[B, T]``; its batch dims are flattened
                (row-major: item ``b * T + t``). At most ``capacity`` items per call.

        Returns:
            The rows written, int64 ``[N]`` (``[B * T]``) on the CPU, in the order of the items.

        Raises:
            ValueError: ``td`` has no batch dim, more than ``capacity`` items, or entries whose
                keys, per-item shapes or dtypes differ from the storage's.
        """
        where = f"{type(self).__name__}.write"
        n, leaves = flatten_batch(td, where)
        return self.write_leaves(n, leaves, where)

    def write_leaves(self, n: int, leaves: dict[NestedKey, torch.Tensor], where: str) -> torch.Tensor:
        """:meth:`write` for a batch already flattened by :func:`flatten_batch`."""
        if n > self.capacity:
            raise ValueError(
                f"{where}: a batch of {n} items does not fit a storage of capacity {self.capacity}; "
                "the newest items would overwrite each other. Split the batch or raise the capacity"
            )
        if self._data is None:
            device = next(iter(leaves.values())).device if leaves else torch.device("cpu")
            spec = {key: (tuple(value.shape[1:]), value.dtype) for key, value in leaves.items()}
            self._allocate(spec, device)
        self.check(leaves, where)
        start = self._cursor
        first = min(n, self.capacity - start)
        with torch.no_grad():  # the storage holds data, never an autograd graph
            for key, dst in self._columns.items():
                src = leaves[key]
                dst[start : start + first].copy_(src[:first])
                if first < n:
                    dst[: n - first].copy_(src[first:])
        indices = torch.arange(start, start + n)
        if first < n:
            indices[first:] -= self.capacity
        self._cursor = (start + n) % self.capacity
        self._size = min(self._size + n, self.capacity)
        self._written()
        return indices

    def _written(self) -> None:
        """Hook after each write (the memory-mapped storage persists its counters here)."""

    def get(self, indices: torch.Tensor) -> TensorDict:
        """Gathers the items at ``indices``.

        Args:
            indices: int64 row indices ``[K]`` in ``[0, len(self))``, on any device.

        Returns:
            A new ``TensorDict[K]`` (copies, not views of the storage) on the storage's device.

        Raises:
            ValueError: nothing has been written yet.
        """
        if self._data is None:
            raise ValueError(f"{type(self).__name__}.get: the storage is empty, nothing has been written yet")
        device = self.device
        if indices.device != device:
            indices = indices.to(device)
        # index_select returns plain tensors, also from memory-mapped columns
        out = {key: torch.index_select(column, 0, indices) for key, column in self._columns.items()}
        return TensorDict(_nest(out), batch_size=[indices.shape[0]], device=device)

    def column(self, key: NestedKey) -> torch.Tensor:
        """The storage tensor ``[capacity, *item_shape]`` of one entry (a view, not a copy).

        Raises:
            KeyError: the storage holds no entry ``key``.
        """
        if key not in self._columns:
            stored = _keys_str(list(self._columns))
            raise KeyError(f"{type(self).__name__}: no entry {_key_str(key)} in the storage; it holds {stored}")
        return self._columns[key]

    # ------------------------------------------------------------------ checkpointing

    def state_dict(self) -> dict[str, Any]:
        """The stored items and the ring counters.

        Returns:
            ``{"capacity", "cursor", "size", "contents"}``; ``contents`` maps each key to a
            tensor ``[size, *item_shape]`` (rows ``0 .. size - 1``, copied to the CPU), or is
            ``None`` before the first write. Only tensors and plain Python values, so
            ``torch.load(..., weights_only=True)`` reads it back.
        """
        contents = None
        if self._data is not None:
            contents = {
                key: column[: self._size].as_subclass(torch.Tensor).to("cpu", copy=True)
                for key, column in self._columns.items()
            }
        return {"capacity": self.capacity, "cursor": self._cursor, "size": self._size, "contents": contents}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores the items and counters written by :meth:`state_dict`.

        Args:
            state: a :meth:`state_dict` of a storage with the same capacity.

        Raises:
            ValueError: the capacity differs, the counters are out of range, an entry does not
                hold ``size`` rows, or the storage is already allocated with other keys, per-item
                shapes or dtypes.
        """
        name = f"{type(self).__name__}.load_state_dict"
        if state["capacity"] != self.capacity:
            raise ValueError(f"{name}: the state has capacity {state['capacity']}, this storage {self.capacity}")
        size, cursor, contents = int(state["size"]), int(state["cursor"]), state["contents"]
        if not (0 <= size <= self.capacity and 0 <= cursor < self.capacity):
            raise ValueError(
                f"{name}: the state has size {size} and cursor {cursor}; expected 0 <= size <= {self.capacity} "
                f"and 0 <= cursor < {self.capacity}"
            )
        if contents is not None:
            rows = {key: value.shape[0] if value.dim() else None for key, value in contents.items()}
            wrong = {key: n for key, n in rows.items() if n != size}
            if wrong:
                raise ValueError(f"{name}: the state has size {size} but the entries hold {wrong} rows")
        if contents is None:
            if self._data is not None:
                raise ValueError(f"{name}: the state holds no items, but this storage is allocated with {self.spec}")
            self._cursor, self._size = 0, 0
            self._written()
            return
        spec = {key: (tuple(value.shape[1:]), value.dtype) for key, value in contents.items()}
        if self._data is None:
            self._allocate(spec, torch.device("cpu"))
        elif spec != self._spec:
            raise ValueError(f"{name}: the state holds {_spec_str(spec)}, this storage holds {_spec_str(self._spec)}")
        with torch.no_grad():
            for key, column in self._columns.items():
                column[:size].copy_(contents[key])
        self._cursor, self._size = cursor, size
        self._written()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(capacity={self.capacity}, size={self._size}, device={self.device})"


class MemmapStorage(TensorStorage):
    """A :class:`TensorStorage` whose tensors are memory-mapped files in a directory.

    The tensors are tensordict :class:`~tensordict.MemoryMappedTensor` files created with
    ``TensorDict.memmap_like`` at the first write: the operating system pages them in and out,
    so a buffer larger than the RAM works, and the data survives the process. The directory holds
    ``data/`` (the tensordict memmap), ``counters.memmap`` (write cursor and size, updated at
    each write) and ``rl4py_storage.json`` (capacity and format). A new ``MemmapStorage`` (or
    ``ReplayBuffer(..., storage="memmap", path=...)``) on the same directory reopens the items.

    Args:
        capacity: the maximum number of items; >= 1. Must equal the saved capacity when
            ``path`` holds a storage.
        path: the directory; created if missing. ``None`` makes a temporary directory that is
            deleted with this object.

    Raises:
        ValueError: ``capacity < 1``, ``path`` is a non-empty directory that holds no rl4py
            storage, or holds one of another capacity.

    Examples:
        >>> import tempfile
        >>> path = tempfile.mkdtemp()
        >>> storage = MemmapStorage(8, path)
        >>> _ = storage.write(TensorDict({"x": torch.arange(3.0)}, batch_size=[3]))
        >>> del storage
        >>> reopened = MemmapStorage(8, path)
        >>> len(reopened), reopened.get(torch.arange(3))["x"].tolist()
        (3, [0.0, 1.0, 2.0])
    """

    META_FILE = "rl4py_storage.json"
    COUNTERS_FILE = "counters.memmap"
    DATA_DIR = "data"
    FORMAT = 1

    def __init__(self, capacity: int, path: str | Path | None = None) -> None:
        super().__init__(capacity, device="cpu")
        self._tmpdir: tempfile.TemporaryDirectory | None = None
        if path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="rl4py-memmap-")
            path = self._tmpdir.name
        self.path = Path(path)
        self._counters: torch.Tensor | None = None
        meta_path = self.path / self.META_FILE
        if meta_path.exists():
            self._reopen(meta_path)
        elif self.path.exists() and any(self.path.iterdir()):
            raise ValueError(
                f"MemmapStorage: path {str(self.path)!r} is a non-empty directory without {self.META_FILE}; "
                "expected an empty or missing directory, or one written by a MemmapStorage"
            )

    def _reopen(self, meta_path: Path) -> None:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != self.FORMAT:
            raise ValueError(
                f"MemmapStorage: {str(meta_path)!r} has format {meta.get('format')!r}, expected {self.FORMAT}"
            )
        if meta["capacity"] != self.capacity:
            raise ValueError(
                f"MemmapStorage: the storage at {str(self.path)!r} has capacity {meta['capacity']}, "
                f"got capacity={self.capacity}"
            )
        self._data = TensorDict.load_memmap(self.path / self.DATA_DIR)
        spec = {
            key: (tuple(value.shape[1:]), value.dtype)
            for key, value in self._data.items(include_nested=True, leaves_only=True)
        }
        self._bind(spec)
        self._counters = MemoryMappedTensor.from_filename(
            self.path / self.COUNTERS_FILE, dtype=torch.int64, shape=torch.Size([2])
        )
        self._cursor, self._size = (int(v) for v in self._counters.tolist())

    def _allocate_tensors(self, spec: Spec, device: torch.device) -> TensorDictBase:
        self.path.mkdir(parents=True, exist_ok=True)
        # expanded zeros: the template has the storage's shapes without allocating them
        template = TensorDict(
            _nest({k: torch.zeros((), dtype=d).expand(self.capacity, *s) for k, (s, d) in spec.items()}),
            batch_size=[self.capacity],
        )
        data = template.memmap_like(self.path / self.DATA_DIR, existsok=False)
        self._counters = MemoryMappedTensor.empty(
            torch.Size([2]), dtype=torch.int64, filename=self.path / self.COUNTERS_FILE, existsok=False
        )
        self._counters.zero_()
        # written last: a directory with this file holds a complete storage
        (self.path / self.META_FILE).write_text(json.dumps({"format": self.FORMAT, "capacity": self.capacity}))
        return data

    def _written(self) -> None:
        if self._counters is not None:
            self._counters[0] = self._cursor
            self._counters[1] = self._size

    def __repr__(self) -> str:
        return f"MemmapStorage(capacity={self.capacity}, size={self._size}, path={str(self.path)!r})"


#: what a ReplayBuffer accepts as storage
Storage = TensorStorage
