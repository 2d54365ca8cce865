"""Shared test settings: one torch thread per process (CI runs tests in parallel on 2 cores)."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
