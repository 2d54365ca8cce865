"""Shared test settings: one torch thread per process (CI runs tests in parallel on 2 cores;
``RL4PY_TEST_THREADS`` changes it); the
global seed of each test is shifted by ``RL4PY_TEST_SEED_OFFSET`` (see :mod:`rl4py.testing.seeds`)."""

from __future__ import annotations

import os

import pytest
import torch

from rl4py.testing import shift_seed

# RL4PY_TEST_THREADS=2 runs the suite with two torch threads per process (learning tests must
# pass under either: floating-point sums differ between thread counts)
torch.set_num_threads(int(os.environ.get("RL4PY_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(shift_seed(0))
