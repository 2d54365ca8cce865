"""Self-play opponents: frozen snapshots of a policy, and branching a trainable copy with a fresh optimizer."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["SelfPlayPool", "Snapshot", "branch", "freeze"]


def freeze(module: nn.Module) -> nn.Module:
    """A frozen deep copy of ``module``: its own tensors, ``requires_grad`` off, no ``.grad``, eval mode.

    Training the original afterwards leaves the copy bitwise unchanged (no storage is shared).

    Examples:
        >>> layer = nn.Linear(2, 1)
        >>> frozen = freeze(layer)
        >>> frozen.weight.requires_grad, frozen.training, frozen.weight.data_ptr() != layer.weight.data_ptr()
        (False, False, True)
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"freeze: expected an nn.Module, got {type(module).__name__}")
    return _freeze_(copy.deepcopy(module))


def _freeze_(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        p.grad = None
        p.requires_grad_(False)
    return module.eval()


def branch(
    module: nn.Module, make_optimizer: Callable[[nn.Module], torch.optim.Optimizer]
) -> tuple[nn.Module, torch.optim.Optimizer]:
    """A trainable deep copy of ``module`` and a fresh optimizer for it (SCC's agent branching).

    The copy starts from ``module``'s current weights and trains independently of it; the optimizer is
    new (no Adam moments carried over), as the copy's job -- exploiting the agent it came from -- is not
    the original's.

    Args:
        module: the agent to branch from (left unchanged).
        make_optimizer: builds an optimizer for a module, e.g. ``lambda m: torch.optim.Adam(m.parameters())``.

    Returns:
        ``(copy, optimizer)``; the copy has the original's ``requires_grad`` flags and train/eval mode.

    Examples:
        >>> main = nn.Linear(2, 1)
        >>> exploiter, optimizer = branch(main, lambda m: torch.optim.Adam(m.parameters()))
        >>> torch.equal(exploiter.weight, main.weight), len(optimizer.state)
        (True, 0)
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"branch: expected an nn.Module, got {type(module).__name__}")
    copied = copy.deepcopy(module)
    for p in copied.parameters():
        p.grad = None
    optimizer = make_optimizer(copied)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"branch: make_optimizer must return a torch.optim.Optimizer, got {type(optimizer).__name__}")
    return copied, optimizer


@dataclass(frozen=True)
class Snapshot:
    """One frozen opponent of a :class:`SelfPlayPool`.

    Attributes:
        id: the pool's running number of the snapshot (0 for the first ever added; never reused).
        name: a unique name (the id in the payoff table); ``"snapshot_<id>"`` unless given.
        step: the training step of the original when it was taken.
        module: the frozen copy (:func:`freeze`).
        parent: the name of the player it was taken from, if any (AlphaStar's ``Historical.parent``).
    """

    id: int
    name: str
    step: int
    module: nn.Module
    parent: str | None = None


class SelfPlayPool:
    """Frozen snapshots of a policy taken during training, the opponents of self-play.

    :meth:`add` stores a :func:`freeze` copy; with a ``capacity`` the pool keeps the ``capacity`` most
    recent and evicts the oldest. Positions (``pool[0]`` is the oldest kept) shift on eviction; a
    snapshot's ``id`` and ``name`` never do. :meth:`sample` draws uniformly (fictitious self-play);
    see :class:`~rl4py.multiagent.PFSP` for prioritized draws.

    Args:
        capacity: the most snapshots kept (>= 1), or ``None`` to keep all.

    Examples:
        >>> policy = nn.Linear(4, 2)
        >>> pool = SelfPlayPool(capacity=2)
        >>> for step in (0, 100, 200):
        ...     _ = pool.add(policy, step=step)
        >>> pool.names, pool.latest.step, len(pool)
        (['snapshot_1', 'snapshot_2'], 200, 2)
        >>> pool.sample(torch.Generator().manual_seed(0)).name in pool
        True
    """

    def __init__(self, capacity: int | None = None) -> None:
        if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1):
            raise ValueError(f"SelfPlayPool: capacity must be an int >= 1 or None (keep all), got {capacity!r}")
        self.capacity = capacity
        self._snapshots: list[Snapshot] = []
        self._next_id = 0

    def add(self, module: nn.Module, *, step: int = 0, name: str | None = None, parent: str | None = None) -> Snapshot:
        """Stores a frozen deep copy of ``module``; evicts the oldest beyond ``capacity``.

        Args:
            module: the policy to snapshot (left unchanged).
            step: the training step it was taken at (an int).
            name: a name unique in the pool; ``"snapshot_<id>"`` when ``None``.
            parent: the name of the player it comes from, if any.

        Returns:
            The new :class:`Snapshot`.

        Raises:
            ValueError: ``name`` is already in the pool, or empty.
        """
        if isinstance(step, bool) or not isinstance(step, int):
            raise TypeError(f"SelfPlayPool.add: step must be an int, got {type(step).__name__}")
        name = f"snapshot_{self._next_id}" if name is None else name
        if not isinstance(name, str) or not name:
            raise ValueError(f"SelfPlayPool.add: name must be a non-empty str, got {name!r}")
        if name in self:
            raise ValueError(f"SelfPlayPool.add: a snapshot named {name!r} is already in the pool")
        snapshot = Snapshot(id=self._next_id, name=name, step=step, module=freeze(module), parent=parent)
        self._next_id += 1
        self._snapshots.append(snapshot)
        if self.capacity is not None and len(self._snapshots) > self.capacity:
            del self._snapshots[: len(self._snapshots) - self.capacity]
        return snapshot

    def sample(self, generator: torch.Generator) -> Snapshot:
        """A snapshot drawn uniformly from ``generator``.

        Raises:
            ValueError: the pool is empty.
        """
        if not self._snapshots:
            raise ValueError("SelfPlayPool.sample: the pool is empty; add a snapshot first")
        return self._snapshots[int(torch.randint(len(self._snapshots), (1,), generator=generator))]

    @property
    def latest(self) -> Snapshot:
        """The most recently added snapshot."""
        if not self._snapshots:
            raise ValueError("SelfPlayPool.latest: the pool is empty; add a snapshot first")
        return self._snapshots[-1]

    @property
    def names(self) -> list[str]:
        """The names of the kept snapshots, oldest first."""
        return [s.name for s in self._snapshots]

    @property
    def snapshots(self) -> list[Snapshot]:
        """The kept snapshots, oldest first (a new list)."""
        return list(self._snapshots)

    def __len__(self) -> int:
        return len(self._snapshots)

    def __iter__(self) -> Iterator[Snapshot]:
        return iter(list(self._snapshots))

    def __contains__(self, name: object) -> bool:
        return any(s.name == name for s in self._snapshots)

    def __getitem__(self, key: int | str) -> Snapshot:
        """``pool[i]``: the ``i``-th kept snapshot, oldest first (negative from the newest); ``pool[name]``."""
        if isinstance(key, str):
            for s in self._snapshots:
                if s.name == key:
                    return s
            raise KeyError(f"SelfPlayPool: no snapshot named {key!r}; kept: {self.names}")
        if isinstance(key, bool) or not isinstance(key, int):
            raise TypeError(f"SelfPlayPool: index with an int position or a str name, got {type(key).__name__}")
        try:
            return self._snapshots[key]
        except IndexError:
            raise IndexError(f"SelfPlayPool: position {key} out of range for {len(self)} snapshots") from None

    # ---- checkpoints ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Every kept snapshot's weights (its module's ``state_dict``), name, step and parent, and the id counter."""
        return {
            "capacity": self.capacity,
            "next_id": self._next_id,
            "snapshots": [
                {"id": s.id, "name": s.name, "step": s.step, "parent": s.parent, "state_dict": s.module.state_dict()}
                for s in self._snapshots
            ],
        }

    def load_state_dict(self, state: dict[str, Any], factory: Callable[[], nn.Module]) -> None:
        """Restores :meth:`state_dict`, rebuilding each snapshot's module with ``factory()``.

        Args:
            state: a :meth:`state_dict`.
            factory: builds a module of the snapshots' architecture (its weights are overwritten).

        Raises:
            ValueError: the state holds more snapshots than this pool's capacity.
        """
        missing = {"capacity", "next_id", "snapshots"} - set(state)
        if missing:
            raise KeyError(f"SelfPlayPool.load_state_dict: the state lacks {sorted(missing)}")
        entries = state["snapshots"]
        if self.capacity is not None and len(entries) > self.capacity:
            raise ValueError(
                f"SelfPlayPool.load_state_dict: the state holds {len(entries)} snapshots, more than this "
                f"pool's capacity {self.capacity}"
            )
        snapshots = []
        for entry in entries:
            module = factory()
            if not isinstance(module, nn.Module):
                raise TypeError(f"SelfPlayPool.load_state_dict: factory returned {type(module).__name__}, not a module")
            module.load_state_dict(entry["state_dict"])
            snapshots.append(
                Snapshot(entry["id"], entry["name"], entry["step"], _freeze_(module), parent=entry["parent"])
            )
        self._snapshots = snapshots
        self._next_id = int(state["next_id"])

    def __repr__(self) -> str:
        return f"SelfPlayPool(capacity={self.capacity}, snapshots={self.names})"
