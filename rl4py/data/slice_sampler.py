"""``SliceSampler``: contiguous slices ``[B, T]`` of one sub-env's stream, for sequence models (DreamerV3).

Storage layout. A run with ``num_envs`` sub-envs writes one step of every sub-env at a time, so the
buffer keeps the ring *time-major*: storage row ``r`` holds sub-env ``r % num_envs``, and the next
step of the same sub-env is row ``r + num_envs`` (modulo the capacity). Every write is a whole
number of steps (``num_envs`` items each) and the capacity is a multiple of ``num_envs``, so the
write cursor always sits on a step boundary and each sub-env's stream is one strided ring. No
per-item env id is stored and a slice is gathered with one index tensor ``start + t * num_envs``.

Validity. Ages count steps from the oldest stored step. A start is valid when the ``T`` steps of
its slice are all stored and in order (``age + T - 1`` below the number of stored steps per env:
the slice never spans the write head, never mixes old and new data after a wrap-around) and, unless
``cross_episodes``, no step but the last of the slice ends an episode (``end_key`` false at
``t = 0 .. T - 2``), so the slice never crosses an episode boundary. Slices start uniformly among the
valid starts (each window of ``T`` steps equally likely, as DreamerV3's replay), with replacement.
"""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDictBase

from rl4py import keys
from rl4py.data.storages import TensorStorage, _key_str
from rl4py.keys import NestedKey

__all__ = ["SliceSampler"]


class SliceSampler:
    """Samples ``B`` contiguous slices of ``slice_len`` steps, each from one sub-env, never crossing a done.

    Use it as a :class:`~rl4py.data.ReplayBuffer` sampler; ``buffer.sample(B)`` then returns a
    ``TensorDict[B, slice_len]`` with the stored entries, the storage rows under ``"index"``
    (int64 ``[B, T]``) and ``is_init_key`` (bool ``[B, T, 1]``): true at ``t = 0`` (a sampled slice
    has no carried recurrent state, so a sequence model such as an RSSM starts from its initial state
    there) and, with ``cross_episodes=True``, at every episode start inside the slice.

    Writes (see the module docstring for the layout): ``buffer.extend(td)`` with ``td`` of batch size
    ``[num_envs]`` (one step of every sub-env), ``[num_envs, T]`` (a collector rollout, time last:
    the buffer stores it time-major) or ``[k * num_envs]`` (``k`` steps already time-major, item
    ``t * num_envs + e``; with ``num_envs=1`` a ``[T]`` trajectory). The capacity must be a multiple
    of ``num_envs``. Every write must hold ``end_key`` (bool, per-item shape ``()`` or ``(1,)``).

    Cost: a write of ``k`` steps copies its end flags to a CPU mirror and updates the validity of the
    ``k + T - 1`` starts whose slice it reaches (``O((k + T) * num_envs)``); the first draw after a
    write draws stored rows uniformly and draws the invalid ones again (when at least a quarter of the
    rows may start a slice; else it lists the valid starts with one ``nonzero`` over ``capacity``
    flags, cached until the next write); a batch is one gather of ``B * T`` rows.

    Differs from TorchRL's ``SliceSampler``: slices come from one sub-env's strided stream (TorchRL
    needs each trajectory contiguous in the storage, or a 2-D storage), starts are uniform over steps
    (TorchRL picks a trajectory first), and short episodes are never padded (TorchRL's
    ``strict_length=True`` likewise drops them). DreamerV3's own replay lets a slice run across
    episode ends and resets at ``is_first``: that is ``cross_episodes=True``.

    Args:
        slice_len: ``T``, the steps per slice; >= 1.
        num_envs: the sub-envs written per step; >= 1.
        end_key: the per-step episode-end flag (``("next", "done")``: terminated or truncated).
        cross_episodes: let slices run across episode ends (DreamerV3's replay), marking each
            episode start in ``is_init_key``; the default keeps every slice inside one episode.
        is_init_key: the key of the returned reset flags (overwrites a stored entry of that name;
            a collector's ``"is_init"`` agrees with it except at ``t = 0``).

    Raises:
        ValueError: ``slice_len < 1`` or ``num_envs < 1``.

    Examples:
        >>> from tensordict import TensorDict
        >>> from rl4py.data import ReplayBuffer
        >>> sampler = SliceSampler(slice_len=4, num_envs=2)
        >>> buffer = ReplayBuffer(64, sampler=sampler, seed=0)
        >>> step = lambda t: TensorDict(
        ...     {"t": torch.full((2,), t), ("next", "done"): torch.zeros(2, 1, dtype=torch.bool)}, [2])
        >>> for t in range(10):
        ...     _ = buffer.extend(step(t))  # one step of 2 sub-envs
        >>> batch = buffer.sample(3)
        >>> batch.batch_size, (batch["t"][:, 1:] - batch["t"][:, :-1]).unique().tolist()
        (torch.Size([3, 4]), [1])
    """

    def __init__(
        self,
        slice_len: int,
        num_envs: int = 1,
        end_key: NestedKey = (keys.NEXT, keys.DONE),
        cross_episodes: bool = False,
        is_init_key: NestedKey = keys.IS_INIT,
    ) -> None:
        for name, value in (("slice_len", slice_len), ("num_envs", num_envs)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SliceSampler: {name} must be an int >= 1, got {value!r}")
        self.slice_len = slice_len
        self.num_envs = num_envs
        self.end_key = end_key
        self.cross_episodes = bool(cross_episodes)
        self.is_init_key = is_init_key
        self.capacity = 0
        self._storage: TensorStorage | None = None
        self._end = torch.zeros(0, dtype=torch.bool)  # end flag per storage row (CPU mirror)
        self._valid = torch.zeros(0, dtype=torch.bool)  # per storage row: may a slice start there
        self._count = 0  # number of valid start rows
        self._starts: torch.Tensor | None = None  # the rows of _valid, int64 [M]; None: recompute

    # ------------------------------------------------------------------ buffer hooks

    def bind_storage(self, storage: TensorStorage) -> None:
        """Gives the sampler read access to the buffer's storage (its end flags and write cursor)."""
        self._storage = storage

    def prepare_batch(self, td: TensorDictBase) -> TensorDictBase:
        """Checks a batch before it is written and puts it in time-major order.

        Args:
            td: batch size ``[num_envs]``, ``[k * num_envs]`` (time-major) or ``[num_envs, T]``
                (time last, a collector rollout), with ``end_key``.

        Returns:
            ``td``, or for ``[num_envs, T]`` its ``[T, num_envs]`` transpose (flattened to item
            ``t * num_envs + e``).

        Raises:
            ValueError: another batch shape, or ``end_key`` missing, not bool, or not one flag per step.
        """
        where, n_env = "SliceSampler", self.num_envs
        if not isinstance(td, TensorDictBase):
            raise ValueError(f"{where}: expected a TensorDict, got {type(td).__name__}")
        shape = tuple(td.batch_size)
        if len(shape) == 2:
            if shape[0] != n_env:
                raise ValueError(
                    f"{where}: a 2-D batch must be [num_envs, T] = [{n_env}, T] (a rollout, time last), got "
                    f"batch size {list(shape)}"
                )
            td = td.transpose(0, 1)
        elif len(shape) != 1 or shape[0] % n_env:
            raise ValueError(
                f"{where}: expected batch size [num_envs] = [{n_env}] (one step), [k * {n_env}] (k steps, "
                f"time-major) or [{n_env}, T] (a rollout), got {list(shape)}; every write must hold whole steps "
                "of all sub-envs"
            )
        end = td.get(self.end_key, None)
        if not isinstance(end, torch.Tensor):
            raise ValueError(
                f"{where}: the batch has no entry {_key_str(self.end_key)}; slices need the per-step episode-end "
                "flag (pass end_key= to name another entry)"
            )
        if end.dtype != torch.bool or end.shape[td.batch_dims :] not in (torch.Size([]), torch.Size([1])):
            raise ValueError(
                f"{where}: entry {_key_str(self.end_key)} must be bool with one flag per step (per-item shape () "
                f"or (1,)), got dtype {end.dtype} and per-item shape {tuple(end.shape[td.batch_dims :])}"
            )
        return td

    # ------------------------------------------------------------------ protocol

    def reset(self, capacity: int) -> None:
        """Forgets every item; the capacity must be a multiple of ``num_envs``.

        Raises:
            ValueError: ``capacity`` is not a positive multiple of ``num_envs``.
        """
        if capacity < 1 or capacity % self.num_envs:
            raise ValueError(
                f"SliceSampler: the buffer's capacity must be a multiple of num_envs={self.num_envs} (each "
                f"sub-env owns every num_envs-th row), got capacity {capacity}"
            )
        self.capacity = capacity
        self._end = torch.zeros(capacity, dtype=torch.bool)
        self._valid = torch.zeros(capacity, dtype=torch.bool)
        self._count = 0
        self._starts = None

    def add(self, indices: torch.Tensor) -> None:
        """Copies the end flags of the rows just written into the mirror and updates the valid starts.

        Only the starts whose slice reaches a written row change (``k + T - 1`` slots for ``k``
        written steps), so a write costs ``O((k + T) * num_envs)``, whatever the capacity.

        Raises:
            ValueError: no storage is bound, or the rows are not whole steps starting on a step boundary.
        """
        n = indices.numel()
        if n == 0:
            return
        if self._storage is None or self.capacity == 0:
            raise ValueError("SliceSampler.add: expected bind_storage(storage) and reset(capacity) first")
        indices = indices.to("cpu", torch.int64)
        n_env = self.num_envs
        if n % n_env or int(indices[0]) % n_env:
            raise ValueError(
                f"SliceSampler.add: rows must be whole steps of num_envs={n_env} sub-envs starting on a "
                f"step boundary, got {n} rows from row {int(indices[0])}"
            )
        column = self._storage.column(self.end_key)
        end = torch.index_select(column, 0, indices.to(column.device)).reshape(n).cpu()
        self._end.index_put_((indices,), end)
        slots, written = self.capacity // n_env, n // n_env
        ring = int(indices[0]) // n_env + torch.arange(written)
        if written + self.slice_len - 1 >= slots or not torch.equal(indices[::n_env] // n_env, ring % slots):
            self._update_valid(0, slots)  # a write of (nearly) the whole ring, or not a ring write: everything
        else:  # the starts whose slice holds a written slot: slots [first - (T - 1), first + written)
            self._update_valid(int(indices[0]) // n_env - self.slice_len + 1, written + self.slice_len - 1)
        self._starts = None

    def _update_valid(self, first: int, count: int) -> None:
        """Recomputes whether a slice may start at the slots ``first .. first + count - 1`` (mod the ring)."""
        assert self._storage is not None
        n_env, t_len = self.num_envs, self.slice_len
        slots, steps = self.capacity // n_env, len(self._storage) // n_env  # per sub-env: ring length, stored
        oldest = self._storage.cursor // n_env if steps == slots else 0
        start = (first + torch.arange(count)) % slots  # [count]
        # stored and in order up to t = T - 1: the slice never reaches past the newest step
        valid = ((start - oldest) % slots + t_len - 1 < steps).unsqueeze(1).expand(count, n_env)
        if not self.cross_episodes and t_len > 1:  # no episode end at t = 0 .. T - 2
            window = self._end.view(slots, n_env)[(first + torch.arange(count + t_len - 2)) % slots]
            ends_before = torch.zeros(count + t_len - 1, n_env, dtype=torch.int32)
            torch.cumsum(window, 0, dtype=torch.int32, out=ends_before[1:])
            valid = valid & (ends_before[t_len - 1 :] == ends_before[:count])
        rows = self._valid.view(slots, n_env)
        self._count += int(valid.sum()) - int(rows[start].sum())
        rows[start] = valid

    def valid_starts(self) -> torch.Tensor:
        """The storage rows a slice may start at, int64 ``[M]`` ascending (cached until the next write)."""
        if self._starts is None:
            self._starts = self._valid.nonzero().squeeze(1)
        return self._starts

    def sample(
        self, size: int, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[NestedKey, torch.Tensor]]:
        """Draws ``batch_size`` slices uniformly among the valid starts, with replacement.

        Args:
            size: the number of stored items; >= 1.
            batch_size: ``B``, the number of slices; >= 1.
            generator: the random source (CPU).

        Returns:
            ``(rows, {is_init_key: is_init})``: int64 storage rows ``[B, T]`` (row ``[b, t]`` is step
            ``t`` of slice ``b``) and bool ``is_init`` ``[B, T, 1]``, both on the CPU.

        Raises:
            ValueError: no slice of ``slice_len`` steps fits the stored data (too few steps per
                sub-env, or, without ``cross_episodes``, no stored episode stretch that long).
        """
        if self._count == 0:
            steps = size // self.num_envs
            why = (
                f"each of the {self.num_envs} sub-env streams holds {steps} steps"
                if steps < self.slice_len
                else f"no stored stretch of {self.slice_len} steps lies inside one episode"
            )
            raise ValueError(
                f"SliceSampler.sample: no slice of slice_len={self.slice_len} steps fits the stored data: {why}; "
                "store more steps, use a shorter slice_len"
                + ("" if self.cross_episodes else ", or cross_episodes=True (slices reset at episode starts)")
            )
        t_len, n_env = self.slice_len, self.num_envs
        stored = len(self._storage) if self._storage is not None else size
        if 4 * self._count >= stored:  # most rows start a slice: draw stored rows, keep the valid ones
            first = self._draw_by_rejection(stored, batch_size, generator)
        else:  # few do: list them (one nonzero over the flags, cached until the next write)
            starts = self.valid_starts()
            first = torch.index_select(starts, 0, torch.randint(starts.numel(), (batch_size,), generator=generator))
        rows = (first.unsqueeze(1) + torch.arange(t_len) * n_env) % self.capacity  # [B, T]
        is_init = torch.zeros(batch_size, t_len, 1, dtype=torch.bool)
        is_init[:, 0] = True
        if self.cross_episodes and t_len > 1:
            is_init[:, 1:, 0] = self._end[rows[:, :-1]]  # the step after an episode end starts one
        return rows, {self.is_init_key: is_init}

    def _draw_by_rejection(self, stored: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """``batch_size`` valid rows, uniform: uniform stored rows with the invalid ones drawn again.

        At least a quarter of the stored rows are valid, so each round keeps >= 1/4 of its draws; a
        round draws twice the expected need, so a batch takes one or two rounds.
        """
        out = torch.empty(batch_size, dtype=torch.int64)
        filled, per_valid = 0, -(-stored // self._count)  # draws per valid row expected, rounded up
        while filled < batch_size:
            candidates = torch.randint(stored, (2 * (batch_size - filled) * per_valid,), generator=generator)
            kept = candidates[self._valid[candidates]][: batch_size - filled]
            out[filled : filled + kept.numel()] = kept
            filled += kept.numel()
        return out

    def update_priority(self, index: torch.Tensor, priority: torch.Tensor) -> None:
        """Slices are drawn uniformly: no priorities.

        Raises:
            ValueError: always.
        """
        raise ValueError("SliceSampler.update_priority: slices are drawn uniformly and have no priorities")

    def state_dict(self) -> dict[str, Any]:
        """The settings (the end flags are rebuilt from the storage, the generator is the buffer's)."""
        return {
            "slice_len": self.slice_len,
            "num_envs": self.num_envs,
            "end_key": self.end_key,
            "cross_episodes": self.cross_episodes,
            "capacity": self.capacity,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Checks the settings and rebuilds the end-flag mirror from the (already restored) storage.

        Raises:
            ValueError: the state's ``slice_len``, ``num_envs``, ``end_key``, ``cross_episodes`` or
                capacity differ from this sampler's.
        """
        mine = self.state_dict()
        differ = {k: (state[k], mine[k]) for k in mine if state[k] != mine[k]}
        if differ:
            detail = ", ".join(f"{k}: saved {a!r}, here {b!r}" for k, (a, b) in differ.items())
            raise ValueError(f"SliceSampler.load_state_dict: the state has other settings ({detail})")
        self.reset(self.capacity)
        if self._storage is not None and len(self._storage):
            self.add(self._storage.ordered_indices())

    def __repr__(self) -> str:
        return (
            f"SliceSampler(slice_len={self.slice_len}, num_envs={self.num_envs}, end_key={self.end_key!r}, "
            f"cross_episodes={self.cross_episodes})"
        )
