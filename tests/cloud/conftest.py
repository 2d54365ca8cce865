"""Fixtures of the cloud tests: a loopback HTTP server playing a provider's API (``cloud_fakes.FakeAPI``)
and an injected ``sleep`` that records the waits."""

from __future__ import annotations

import pytest
from cloud_fakes import FakeAPI, Sleeps


@pytest.fixture
def api():
    server = FakeAPI()
    yield server
    server.close()
    assert server.unused_replies == 0, "a queued reply was never asked for"


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
