"""ApiClient: the key stays out of messages, reprs, tracebacks and logs; Retry-After and backoff."""

from __future__ import annotations

import logging
import socket
import traceback
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from cloud_fakes import KEY, api, sleeps

from rl4py.cloud import ApiClient, CloudAuthError, CloudError, InstanceRequirements, RunPodProvider, VastAIProvider


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _fail(kind: str, api, provider_cls, sleeps) -> tuple[BaseException, object]:
    """Makes a provider fail one way; returns the error and the provider."""
    base_url = _closed_port_url() if kind == "no connection" else api.url
    provider = provider_cls(api_key=KEY, base_url=base_url, sleep=sleeps, max_attempts=2)
    if kind == "401":
        api.reply(401, {"error": f"invalid key {KEY}"})  # an API that echoes the key back
    elif kind == "400 echo":
        api.reply(400, {"error": "bad request", "headers": {"Authorization": f"Bearer {KEY}"}})
    elif kind == "500 exhausted":
        api.reply(500, {"detail": f"trace ... api_key={KEY}"})
        api.reply(500, {"detail": f"trace ... api_key={KEY}"})
    elif kind == "graphql error" and provider_cls is RunPodProvider:
        api.reply(200, {"errors": [{"message": f"Unauthorized: key {KEY} is revoked"}]})
    elif kind == "graphql error":
        api.reply(200, {"offers": [{"id": 1, "note": KEY}]})  # Vast: an offer without a price
    with pytest.raises(CloudError) as caught:
        provider.search_offers(InstanceRequirements())
    return caught.value, provider


@pytest.mark.parametrize("provider_cls", [VastAIProvider, RunPodProvider])
@pytest.mark.parametrize("kind", ["401", "400 echo", "500 exhausted", "no connection", "graphql error"])
def test_the_key_never_appears_in_errors_reprs_tracebacks_or_logs(api, sleeps, caplog, provider_cls, kind):
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log every request at INFO / DEBUG
    error, provider = _fail(kind, api, provider_cls, sleeps)
    shown = [
        str(error),
        repr(error),
        "".join(traceback.format_exception(type(error), error, error.__traceback__)),
        repr(provider),
        repr(provider.api),
        caplog.text,
    ]
    assert all(KEY not in text for text in shown)
    if kind in ("401", "400 echo", "500 exhausted", "graphql error"):
        assert "***" in str(error)  # what the API echoed is quoted, with the key blanked
    if kind == "401":
        assert isinstance(error, CloudAuthError)
    provider.close()


def test_connection_failures_are_retried_then_reported(sleeps):
    client = ApiClient("Test", _closed_port_url(), KEY, key_env="TEST_KEY", sleep=sleeps, max_attempts=3, backoff=0.5)
    with pytest.raises(CloudError, match=r"Test: GET .*/x failed after 3 attempt\(s\): ConnectError"):
        client.request("GET", "/x")
    assert sleeps == [0.5, 1.0]
    client.close()


def test_retry_after_as_an_http_date_and_the_backoff_cap(api, sleeps):
    client = ApiClient("Test", api.url, KEY, key_env="TEST_KEY", sleep=sleeps, max_attempts=4, backoff=5, max_delay=15)
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=9), usegmt=True)
    api.reply(429, headers={"Retry-After": later})
    api.reply(503)  # no Retry-After: 5 s doubled for the second retry, then 20 s capped at 15 s
    api.reply(502)
    api.reply(200, {"ok": True})
    assert client.request("GET", "/x") == {"ok": True}
    assert 7.0 < sleeps[0] <= 9.0 and sleeps[1:] == [10.0, 15.0]
    client.close()


def test_a_retry_after_beyond_max_delay_stops_at_once(api, sleeps):
    client = ApiClient("Test", api.url, KEY, key_env="TEST_KEY", sleep=sleeps, max_delay=60)
    api.reply(429, {"error": "quota"}, headers={"Retry-After": "3600"})
    with pytest.raises(CloudError, match="asks to retry after 3600 s, longer than max_delay=60 s") as caught:
        client.request("GET", "/x")
    assert caught.value.status == 429 and sleeps == [] and len(api.requests) == 1
    client.close()


def test_a_body_that_is_not_json_and_an_empty_one(api):
    client = ApiClient("Test", api.url, KEY, key_env="TEST_KEY")
    api.reply(200, b"<html>maintenance</html>")
    with pytest.raises(CloudError, match="not JSON: <html>maintenance</html>"):
        client.request("GET", "/x")
    api.reply(204)
    assert client.request("DELETE", "/x") is None
    client.close()


@pytest.mark.parametrize("kwargs, message", [({"max_attempts": 0}, "max_attempts must be an int >= 1"),
                                             ({"backoff": -1.0}, "backoff and max_delay must be >= 0")])  # fmt: skip
def test_bad_retry_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ApiClient("Test", "http://127.0.0.1:9", KEY, key_env="TEST_KEY", **kwargs)


def test_a_blank_key_is_no_key(monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", "  ")
    with pytest.raises(CloudAuthError, match="RunPod: no API key; set the environment variable RUNPOD_API_KEY"):
        RunPodProvider()
