"""Optional ``torch.compile`` of a native env's physics step, with an eager fallback."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

__all__ = ["CompiledStep"]


class CompiledStep:
    """Calls ``fn`` through ``torch.compile`` when ``enabled``, else (or if compiling fails) eagerly.

    Compiling happens at the first call (tens of seconds on a CPU, so native envs make it
    opt-in); if it raises, a warning names the owner and the error and every later call runs
    ``fn`` eagerly, with the same results.

    Args:
        fn: a pure tensor function (no generators, no host syncs).
        owner: named in the warning.
        enabled: compile at all.
    """

    def __init__(self, fn: Callable, owner: str, enabled: bool) -> None:
        self.fn = fn
        self.owner = owner
        self._compiled: Callable | None = torch.compile(fn, dynamic=False) if enabled else None
        self._tried = False

    @property
    def compiled(self) -> bool:
        """Whether calls go through the compiled function (``False`` after a fallback)."""
        return self._compiled is not None

    def __call__(self, *args):
        if self._compiled is None:
            return self.fn(*args)
        if self._tried:
            return self._compiled(*args)
        try:
            out = self._compiled(*args)
        except Exception as error:  # no compiler, unsupported op, ...: eager gives the same results
            warnings.warn(
                f"{self.owner}: torch.compile of the physics step failed ({type(error).__name__}: {error}); "
                "running it eagerly",
                stacklevel=3,
            )
            self._compiled = None
            return self.fn(*args)
        self._tried = True
        return out
