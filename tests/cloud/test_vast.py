"""VastAIProvider against a loopback server playing Vast.ai's REST API: the requests it sends and
what it makes of the answers, errors included."""

from __future__ import annotations

import pytest
from cloud_fakes import KEY, api, sleeps, vast_instance, vast_offer

from rl4py.cloud import (
    CloudAuthError,
    CloudError,
    GpuOffer,
    InstanceRequirements,
    NoMatchingOfferError,
    VastAIProvider,
)

REQUIREMENTS = InstanceRequirements(
    gpu_types=["RTX_4090", "RTX_3090"], min_gpu_ram_gb=16, max_price_per_hour=0.5, min_disk_gb=40
)


@pytest.fixture
def vast(api, sleeps):
    with VastAIProvider(api_key=KEY, base_url=api.url, sleep=sleeps) as provider:
        yield provider


def test_search_sends_the_query_with_the_key_and_returns_matching_offers_cheapest_first(api, vast):
    api.reply(
        body={
            "offers": [
                vast_offer(2001, "RTX 4090", 0.45),
                vast_offer(2002, "RTX 3090", 0.21),
                vast_offer(2003, "RTX 4090", 0.62),  # over the cap: the server's filter is checked again
                vast_offer(2004, "RTX A6000", 0.30),  # not an accepted GPU
                vast_offer(2005, "RTX 3090", 0.19, gpu_ram=12000),  # too little GPU memory
            ]
        }
    )
    offers = vast.search_offers(REQUIREMENTS)

    assert [offer.id for offer in offers] == ["2002", "2001"]
    cheapest = offers[0]
    assert cheapest == GpuOffer("vast", "2002", "RTX 3090", 1, 24.564, 0.21, 120.5, "Sweden, SE")
    (request,) = api.requests
    assert (request.method, request.path) == ("POST", "/api/v0/bundles/")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in str(request.query)  # the key travels in the header only
    body = request.body
    assert body["gpu_name"] == {"in": ["RTX 4090", "RTX 3090"]}
    assert body["num_gpus"] == {"eq": 1}
    assert body["gpu_ram"] == {"gte": 16000.0}  # Vast.ai counts MB
    assert body["dph_total"] == {"lte": 0.5}
    assert body["disk_space"] == {"gte": 40}
    assert body["rentable"] == {"eq": True} and body["rented"] == {"eq": False} and body["verified"] == {"eq": True}
    assert body["order"] == [["dph_total", "asc"]]
    assert body["type"] == "on-demand" and body["allocated_storage"] == 40
    assert "cpu_ram" not in body  # no RAM floor asked


def test_no_matching_offer_names_the_provider_and_the_requirements(api, vast):
    api.reply(body={"offers": []})
    with pytest.raises(NoMatchingOfferError) as caught:
        vast.cheapest_offer(REQUIREMENTS)
    message = str(caught.value)
    assert "Vast.ai" in message
    assert "1x RTX 4090 or RTX 3090, GPU RAM >= 16 GB, at most $0.50/h, disk >= 40 GB" in message


def test_launch_rents_the_offer_with_the_image_command_and_env(api, vast):
    api.reply(body={"success": True, "new_contract": 7835610})
    requirements = InstanceRequirements(
        gpu_types=["RTX_4090"], min_disk_gb=40, image="my/image:1", start_command="echo hi", env={"A": "1"}
    )
    offer = GpuOffer("vast", "2001", "RTX 4090", 1, 24.5, 0.45)
    instance = vast.launch(offer, requirements)

    assert (instance.id, instance.status, instance.price_per_hour, instance.gpu_name) == (
        "7835610",
        "starting",
        0.45,
        "RTX 4090",
    )
    (request,) = api.requests
    assert (request.method, request.path) == ("PUT", "/api/v0/asks/2001/")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body == {
        "client_id": "me",
        "image": "my/image:1",
        "disk": 40,
        "env": {"A": "1"},
        "onstart": "echo hi",
        "runtype": "ssh",
        "label": "rl4py",
    }


def test_a_refused_launch_raises_with_the_providers_reason(api, vast):
    api.reply(body={"success": False, "error": "invalid_args", "msg": "offer 2001 is no longer available"})
    with pytest.raises(CloudError, match="offer 2001 is no longer available"):
        vast.launch(GpuOffer("vast", "2001", "RTX 4090", 1, 24.5, 0.45), REQUIREMENTS)


@pytest.mark.parametrize(
    "actual, intended, status",
    [("running", "running", "running"), ("loading", "running", "starting"), (None, "running", "starting"),
     ("exited", "stopped", "stopped"), ("offline", "running", "unknown")],
)  # fmt: skip
def test_status_reads_the_instance_record(api, vast, actual, intended, status):
    api.reply(body=vast_instance(7835610, actual, intended=intended))
    instance = vast.status("7835610")

    assert instance.status == status and instance.provider_status == actual
    assert instance.ssh == "ssh -p 41022 root@ssh4.vast.ai"
    assert (instance.id, instance.gpu_name, instance.num_gpus, instance.price_per_hour) == (
        "7835610",
        "RTX 4090",
        1,
        0.412,
    )
    (request,) = api.requests
    assert (request.method, request.path, request.query) == ("GET", "/api/v0/instances/7835610/", {"owner": ["me"]})


def test_stop_and_terminate_send_their_calls(api, vast):
    api.reply(body={"success": True})
    api.reply(body={"success": True})
    vast.stop("7835610")
    vast.terminate(7835610)
    stop, terminate = api.requests
    assert (stop.method, stop.path, stop.body) == ("PUT", "/api/v0/instances/7835610/", {"state": "stopped"})
    assert (terminate.method, terminate.path) == ("DELETE", "/api/v0/instances/7835610/")
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in api.requests)


def test_an_id_that_is_not_a_number_is_refused_before_any_request(api, vast):
    with pytest.raises(ValueError, match=r"instance id is a number, got '\.\./1'"):
        vast.status("../1")
    assert api.requests == []


def test_401_raises_an_auth_error_naming_the_variable_and_is_not_retried(api, vast, sleeps):
    api.reply(401, {"error": "invalid_user_key", "msg": "Invalid user key"})
    with pytest.raises(CloudAuthError) as caught:
        vast.search_offers(REQUIREMENTS)
    assert caught.value.status == 401
    assert "HTTP 401" in str(caught.value) and "VAST_API_KEY" in str(caught.value)
    assert len(api.requests) == 1 and sleeps == []


def test_429_then_5xx_are_retried_honoring_retry_after(api, vast, sleeps):
    api.reply(429, {"error": "too many requests"}, headers={"Retry-After": "7"})
    api.reply(503, {"error": "busy"})  # no Retry-After: the backoff, 1 s doubled on the second retry
    api.reply(body={"offers": [vast_offer(2002, "RTX 3090", 0.21)]})
    offers = vast.search_offers(REQUIREMENTS)
    assert [offer.id for offer in offers] == ["2002"]
    assert sleeps == [7.0, 2.0]
    assert len(api.requests) == 3


def test_retries_are_bounded(api, sleeps):
    vast = VastAIProvider(api_key=KEY, base_url=api.url, sleep=sleeps, max_attempts=3)
    for _ in range(3):
        api.reply(500, {"error": "internal"})
    with pytest.raises(CloudError, match=r"HTTP 500 after 3 attempt\(s\), giving up") as caught:
        vast.search_offers(REQUIREMENTS)
    assert caught.value.status == 500
    assert sleeps == [1.0, 2.0] and len(api.requests) == 3
    vast.close()


def test_a_launch_is_retried_after_429_but_not_after_a_server_error(api, vast, sleeps):
    offer = GpuOffer("vast", "2001", "RTX 4090", 1, 24.5, 0.45)
    api.reply(429, {"error": "slow down"}, headers={"Retry-After": "1"})
    api.reply(body={"success": True, "new_contract": 11})
    assert vast.launch(offer, REQUIREMENTS).id == "11"
    api.reply(502, {"error": "bad gateway"})  # the rental may have happened: not repeated
    with pytest.raises(CloudError, match="HTTP 502"):
        vast.launch(offer, REQUIREMENTS)
    assert [r.method for r in api.requests] == ["PUT", "PUT", "PUT"] and sleeps == [1.0]


def test_a_key_comes_from_the_environment_or_its_absence_is_named(api, monkeypatch):
    monkeypatch.setenv("VAST_API_KEY", KEY)
    api.reply(body={"offers": []})
    with VastAIProvider(base_url=api.url) as vast:
        assert vast.search_offers(REQUIREMENTS) == []
    assert api.requests[0].headers["authorization"] == f"Bearer {KEY}"
    monkeypatch.delenv("VAST_API_KEY")
    with pytest.raises(CloudAuthError, match="set the environment variable VAST_API_KEY"):
        VastAIProvider(base_url=api.url)
