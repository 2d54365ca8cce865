"""RunPodProvider against a loopback server playing RunPod's GraphQL and REST APIs."""

from __future__ import annotations

import pytest
from cloud_fakes import KEY, api, runpod_gpu, runpod_pod, sleeps

from rl4py.cloud import (
    CloudAuthError,
    CloudError,
    GpuOffer,
    InstanceRequirements,
    NoMatchingOfferError,
    RunPodProvider,
)

GPU_TYPES = {
    "data": {
        "gpuTypes": [
            runpod_gpu("NVIDIA GeForce RTX 4090", "RTX 4090", 24, secure=0.69, community=0.34),
            runpod_gpu("NVIDIA GeForce RTX 3090", "RTX 3090", 24, secure=None, community=0.22),
            runpod_gpu("NVIDIA A100 80GB PCIe", "A100 PCIe", 80, secure=1.64, community=1.19),
            runpod_gpu("NVIDIA RTX A4000", "RTX A4000", 16, secure=0.17, community=0.09),
        ]
    }
}


@pytest.fixture
def runpod(api, sleeps):
    with RunPodProvider(api_key=KEY, base_url=api.url, sleep=sleeps) as provider:
        yield provider


def test_search_asks_graphql_for_lowest_prices_per_cloud_and_filters_the_types(api, runpod):
    api.reply(body=GPU_TYPES)
    requirements = InstanceRequirements(
        gpu_types=["RTX_4090", "NVIDIA A100 80GB PCIe", "RTX_3090"],
        num_gpus=2,
        min_gpu_ram_gb=20,
        max_price_per_hour=2.5,
    )
    offers = runpod.search_offers(requirements)

    # per-GPU prices times 2 GPUs; over $2.50: A100 secure (3.28); A100 community is 2.38
    assert [(o.id, o.details["cloudType"], round(o.price_per_hour, 2)) for o in offers] == [
        ("NVIDIA GeForce RTX 3090", "COMMUNITY", 0.44),
        ("NVIDIA GeForce RTX 4090", "COMMUNITY", 0.68),
        ("NVIDIA GeForce RTX 4090", "SECURE", 1.38),
        ("NVIDIA A100 80GB PCIe", "COMMUNITY", 2.38),
    ]
    assert offers[0].gpu_name == "RTX 3090" and offers[0].num_gpus == 2 and offers[0].gpu_ram_gb == 24
    (request,) = api.requests
    assert (request.method, request.path) == ("POST", "/graphql")
    assert request.headers["authorization"] == f"Bearer {KEY}" and "api_key" not in request.query
    assert "gpuTypes" in request.body["query"] and "lowestPrice(input: $secure)" in request.body["query"]
    assert request.body["variables"] == {
        "secure": {"gpuCount": 2, "secureCloud": True},
        "community": {"gpuCount": 2, "secureCloud": False},
    }


def test_search_passes_the_ram_floor_and_finds_nothing_under_a_low_cap(api, runpod):
    api.reply(body=GPU_TYPES)
    requirements = InstanceRequirements(gpu_types=["RTX_4090"], max_price_per_hour=0.3, min_ram_gb=31.5)
    with pytest.raises(NoMatchingOfferError, match=r"RunPod: no offer matches 1x RTX 4090, at most \$0.30/h"):
        runpod.cheapest_offer(requirements)
    assert api.requests[0].body["variables"]["secure"] == {"gpuCount": 1, "minMemoryInGb": 32, "secureCloud": True}


def test_graphql_errors_in_a_200_answer_raise(api, runpod):
    api.reply(body={"errors": [{"message": "Something went wrong", "path": ["gpuTypes"]}], "data": None})
    with pytest.raises(CloudError, match="POST /graphql failed: Something went wrong"):
        runpod.search_offers(InstanceRequirements())
    api.reply(body={"errors": [{"message": "Unauthorized request, please check your API key."}]})
    with pytest.raises(CloudAuthError, match="RUNPOD_API_KEY"):
        runpod.search_offers(InstanceRequirements())


def test_launch_creates_a_pod_of_the_offers_type_and_cloud(api, runpod):
    api.reply(201, runpod_pod("xedezhzb9la3ye", ssh=False))
    offer = GpuOffer("runpod", "NVIDIA GeForce RTX 4090", "RTX 4090", 1, 24, 0.34, details={"cloudType": "COMMUNITY"})
    requirements = InstanceRequirements(min_disk_gb=40.5, image="my/image:1", start_command="echo hi", env={"A": "1"})
    instance = runpod.launch(offer, requirements)

    assert (instance.id, instance.status, instance.provider_status) == ("xedezhzb9la3ye", "running", "RUNNING")
    assert instance.price_per_hour == 0.74 and instance.ssh is None  # costPerHr is sent as a string
    (request,) = api.requests
    assert (request.method, request.path) == ("POST", "/v1/pods")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body == {
        "name": "rl4py",
        "imageName": "my/image:1",
        "computeType": "GPU",
        "cloudType": "COMMUNITY",
        "gpuTypeIds": ["NVIDIA GeForce RTX 4090"],
        "gpuCount": 1,
        "containerDiskInGb": 41,
        "env": {"A": "1"},
        "interruptible": False,
        "dockerStartCmd": ["bash", "-c", "echo hi; sleep infinity"],
    }


def test_a_launch_is_not_repeated_after_a_server_error(api, runpod, sleeps):
    api.reply(500, {"error": "create pod: internal error"})
    offer = GpuOffer("runpod", "NVIDIA GeForce RTX 4090", "RTX 4090", 1, 24, 0.34, details={"cloudType": "SECURE"})
    with pytest.raises(CloudError, match="HTTP 500"):
        runpod.launch(offer, InstanceRequirements())
    assert len(api.requests) == 1 and sleeps == []


@pytest.mark.parametrize(
    "desired, status", [("RUNNING", "running"), ("EXITED", "stopped"), ("TERMINATED", "terminated")]
)
def test_status_reads_the_pod(api, runpod, desired, status):
    api.reply(body=runpod_pod("xedezhzb9la3ye", desired))
    instance = runpod.status("xedezhzb9la3ye")
    assert instance.status == status and instance.provider_status == desired
    assert instance.ssh == "ssh -p 10341 root@198.51.100.4"
    assert (instance.gpu_name, instance.num_gpus, instance.price_per_hour) == ("RTX 4090", 1, 0.74)
    (request,) = api.requests
    assert (request.method, request.path) == ("GET", "/v1/pods/xedezhzb9la3ye")


def test_stop_and_terminate_send_their_calls(api, runpod):
    api.reply(body=runpod_pod("xedezhzb9la3ye", "EXITED"))
    api.reply(204)
    runpod.stop("xedezhzb9la3ye")
    runpod.terminate("xedezhzb9la3ye")
    assert [(r.method, r.path) for r in api.requests] == [
        ("POST", "/v1/pods/xedezhzb9la3ye/stop"),
        ("DELETE", "/v1/pods/xedezhzb9la3ye"),
    ]


def test_401_on_rest_raises_an_auth_error(api, runpod):
    api.reply(401, {"error": "unauthorized"})
    with pytest.raises(CloudAuthError, match=r"GET .*/v1/pods/abc -> HTTP 401: .*RUNPOD_API_KEY"):
        runpod.status("abc")


def test_429_then_success_waits_as_asked(api, runpod, sleeps):
    api.reply(429, {"error": "rate limited"}, headers={"Retry-After": "3"})
    api.reply(body=GPU_TYPES)
    assert runpod.cheapest_offer(InstanceRequirements(gpu_types=["RTX_A4000"])).price_per_hour == 0.09
    assert sleeps == [3.0] and len(api.requests) == 2


def test_a_pod_id_with_a_slash_is_refused(api, runpod):
    with pytest.raises(ValueError, match="pod id is letters, digits"):
        runpod.terminate("abc/../../pods")
    assert api.requests == []
