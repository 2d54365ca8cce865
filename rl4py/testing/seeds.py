"""Seeds for learning tests: every test seed is shifted by ``RL4PY_TEST_SEED_OFFSET``.

A learning test that holds for one seed on one CPU is not robust. Running the suite with
``RL4PY_TEST_SEED_OFFSET=1`` (and with ``OMP_NUM_THREADS=1``) shows that its assertions hold with
other random draws too.
"""

from __future__ import annotations

import os

__all__ = ["SEED_OFFSET_VARIABLE", "seed_offset", "shift_seed"]

SEED_OFFSET_VARIABLE = "RL4PY_TEST_SEED_OFFSET"
"""The environment variable read by :func:`seed_offset`."""


def seed_offset() -> int:
    """The integer in ``RL4PY_TEST_SEED_OFFSET`` (0 when unset).

    Raises:
        ValueError: the variable is set to something that is not an integer.
    """
    raw = os.environ.get(SEED_OFFSET_VARIABLE, "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{SEED_OFFSET_VARIABLE} must be an integer, got {raw!r}") from None


def shift_seed(seed: int) -> int:
    """``seed`` plus the test seed offset.

    Examples:
        >>> shift_seed(3) == 3 + seed_offset()
        True
    """
    return seed + seed_offset()
