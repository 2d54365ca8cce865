"""RunPod through its APIs: GPU prices from GraphQL (``https://api.runpod.io/graphql``), pods
from the REST API (``https://rest.runpod.io/v1``)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rl4py.cloud.client import ApiClient, resolve_api_key
from rl4py.cloud.errors import CloudAuthError, CloudError
from rl4py.cloud.provider import CloudProvider, GpuOffer, Instance, InstanceStatus
from rl4py.cloud.requirements import InstanceRequirements

if TYPE_CHECKING:
    import httpx

__all__ = ["RunPodProvider"]

REST_URL = "https://rest.runpod.io/v1"
GRAPHQL_URL = "https://api.runpod.io/graphql"

#: every GPU type with its lowest on-demand price per GPU in each cloud, for the wanted GPU count
GPU_OFFERS_QUERY = """
query Rl4pyGpuOffers($secure: GpuLowestPriceInput, $community: GpuLowestPriceInput) {
  gpuTypes {
    id
    displayName
    memoryInGb
    secureCloud
    communityCloud
    secure: lowestPrice(input: $secure) { uninterruptablePrice stockStatus }
    community: lowestPrice(input: $community) { uninterruptablePrice stockStatus }
  }
}
""".strip()

_CLOUDS = (("secure", "SECURE", "secureCloud"), ("community", "COMMUNITY", "communityCloud"))
_POD_ID = re.compile(r"[A-Za-z0-9_-]+")


class RunPodProvider(CloudProvider):
    """RunPod on-demand GPU pods, in its Secure Cloud (data centers) or Community Cloud (hosts).

    An offer is a GPU type in one cloud at RunPod's lowest current price for ``num_gpus`` of it;
    the launch asks for that type and cloud, and RunPod picks the machine.

    Args:
        api_key: the API key (``None``: the environment variable ``RUNPOD_API_KEY``).
        base_url: one root for both APIs instead of RunPod's (a test server or a proxy): the REST
            calls go to ``{base_url}/v1``, the GraphQL ones to ``{base_url}/graphql``.
        timeout, max_attempts, sleep, transport: as :class:`~rl4py.cloud.client.ApiClient`.

    Raises:
        CloudAuthError: no API key.

    Examples:
        >>> runpod = RunPodProvider(api_key="k")
        >>> runpod
        RunPodProvider(base_url='https://rest.runpod.io/v1')
        >>> runpod.close()
    """

    name = "runpod"
    key_env = "RUNPOD_API_KEY"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        key = resolve_api_key(api_key, self.key_env, "RunPod")
        root = None if base_url is None else base_url.rstrip("/")
        self.graphql_url = GRAPHQL_URL if root is None else f"{root}/graphql"
        self.api = ApiClient(
            "RunPod",
            REST_URL if root is None else f"{root}/v1",
            key,
            key_env=self.key_env,
            timeout=timeout,
            max_attempts=max_attempts,
            sleep=sleep,
            transport=transport,
        )

    def search_variables(self, requirements: InstanceRequirements) -> dict[str, Any]:
        """The GraphQL variables of :data:`GPU_OFFERS_QUERY`: ``lowestPrice``'s input per cloud."""
        common: dict[str, Any] = {"gpuCount": requirements.num_gpus}
        if requirements.min_ram_gb > 0:
            common["minMemoryInGb"] = int(-(-requirements.min_ram_gb // 1))
        return {name: {**common, "secureCloud": cloud == "SECURE"} for name, cloud, _ in _CLOUDS}

    def search_offers(self, requirements: InstanceRequirements) -> list[GpuOffer]:
        """``POST /graphql`` with :data:`GPU_OFFERS_QUERY`: one offer per GPU type and cloud that
        is in stock and meets ``requirements``; the price is ``uninterruptablePrice`` (per GPU)
        times ``num_gpus``, cheapest first."""
        payload = {"query": GPU_OFFERS_QUERY, "variables": self.search_variables(requirements)}
        data = self._graphql(payload)
        types = data.get("gpuTypes") if isinstance(data, dict) else None
        if not isinstance(types, list):
            raise CloudError(f"RunPod: POST /graphql answered gpuTypes={type(types).__name__}, expected a list")
        offers = []
        for gpu in types:
            if not isinstance(gpu, dict) or not requirements.accepts_gpu(gpu.get("id", ""), gpu.get("displayName", "")):
                continue
            memory = float(gpu.get("memoryInGb") or 0.0)
            if memory < requirements.min_gpu_ram_gb:
                continue
            for alias, cloud, flag in _CLOUDS:
                lowest = gpu.get(alias) or {}
                price = lowest.get("uninterruptablePrice")
                if gpu.get(flag) is False or not lowest.get("stockStatus") or not price:
                    continue  # not offered in this cloud, out of stock, or no price
                total = float(price) * requirements.num_gpus
                if requirements.max_price_per_hour is not None and total > requirements.max_price_per_hour:
                    continue
                offers.append(
                    GpuOffer(
                        provider=self.name,
                        id=str(gpu["id"]),
                        gpu_name=str(gpu.get("displayName") or gpu["id"]),
                        num_gpus=requirements.num_gpus,
                        gpu_ram_gb=memory,
                        price_per_hour=total,
                        location=f"{cloud.lower()} cloud",
                        details={"cloudType": cloud, "stockStatus": lowest["stockStatus"]},
                    )
                )
        return sorted(offers, key=lambda offer: offer.price_per_hour)

    def launch(self, offer: GpuOffer, requirements: InstanceRequirements) -> Instance:
        """``POST /v1/pods``: an on-demand GPU pod of ``offer``'s type and cloud with the image, env
        and a container disk of ``min_disk_gb``. The start command runs as ``bash -c "<command>;
        sleep infinity"``: it replaces the image's own command, and the ``sleep`` keeps the pod
        (and its files) up after the run ends instead of restarting the command.

        Not retried on a 5xx: a repeat could create a second pod."""
        body: dict[str, Any] = {
            "name": "rl4py",
            "imageName": requirements.image,
            "computeType": "GPU",
            "cloudType": offer.details.get("cloudType", "SECURE"),
            "gpuTypeIds": [offer.id],
            "gpuCount": offer.num_gpus,
            "containerDiskInGb": int(-(-requirements.min_disk_gb // 1)),
            "env": dict(requirements.env),
            "interruptible": False,
        }
        if requirements.start_command:
            body["dockerStartCmd"] = ["bash", "-c", f"{requirements.start_command}; sleep infinity"]
        pod = self.api.request("POST", "/pods", json=body, retry_server_errors=False)
        return self._instance(pod, "POST /v1/pods", fallback=offer)

    def status(self, instance_id: str) -> Instance:
        """``GET /v1/pods/{id}``: the pod, its ``desiredStatus`` (``RUNNING``, ``EXITED``,
        ``TERMINATED``) mapped to :data:`~rl4py.cloud.provider.InstanceStatus`."""
        pod_id = _check_id(instance_id)
        return self._instance(self.api.request("GET", f"/pods/{pod_id}"), f"GET /v1/pods/{pod_id}")

    def stop(self, instance_id: str) -> None:
        """``POST /v1/pods/{id}/stop``: GPU billing stops; a volume, if any, is kept and billed."""
        pod_id = _check_id(instance_id)
        self.api.request("POST", f"/pods/{pod_id}/stop")

    def terminate(self, instance_id: str) -> None:
        """``DELETE /v1/pods/{id}``: deletes the pod and its disks."""
        pod_id = _check_id(instance_id)
        self.api.request("DELETE", f"/pods/{pod_id}")

    def _graphql(self, payload: dict[str, Any]) -> Any:
        """The ``data`` of a GraphQL answer; its ``errors`` (sent with HTTP 200) raise."""
        answer = self.api.request("POST", self.graphql_url, json=payload)
        if not isinstance(answer, dict):
            raise CloudError(f"RunPod: POST /graphql answered {type(answer).__name__}, expected a JSON object")
        errors = answer.get("errors")
        if errors:
            messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
            message = self.api.redact(f"RunPod: POST /graphql failed: {messages}")
            if re.search(r"unauthori[sz]ed|api key|forbidden", messages, re.IGNORECASE):
                raise CloudAuthError(f"{message}; check {self.key_env}")
            raise CloudError(message)
        return answer.get("data")

    def _instance(self, pod: Any, call: str, fallback: GpuOffer | None = None) -> Instance:
        if not isinstance(pod, dict) or not pod.get("id"):
            raise CloudError(self.api.redact(f"RunPod: {call} answered without a pod id: {pod!r:.200}"))
        desired = pod.get("desiredStatus")
        gpu = pod.get("gpu") if isinstance(pod.get("gpu"), dict) else {}
        ports = pod.get("portMappings") if isinstance(pod.get("portMappings"), dict) else {}
        ssh = f"ssh -p {ports['22']} root@{pod['publicIp']}" if pod.get("publicIp") and ports.get("22") else None
        price = _float(pod.get("costPerHr"))
        return Instance(
            provider=self.name,
            id=str(pod["id"]),
            status=_status(desired),
            provider_status=None if desired is None else str(desired),
            gpu_name=gpu.get("displayName") or (fallback.gpu_name if fallback else None),
            num_gpus=gpu.get("count") or pod.get("gpuCount") or (fallback.num_gpus if fallback else None),
            price_per_hour=price if price is not None else (fallback.price_per_hour if fallback else None),
            ssh=ssh,
        )


def _status(desired: Any) -> InstanceStatus:
    return {"RUNNING": "running", "CREATED": "starting", "EXITED": "stopped", "TERMINATED": "terminated"}.get(
        str(desired).upper(), "unknown"
    )


def _check_id(value: str) -> str:
    text = str(value).strip()
    if not _POD_ID.fullmatch(text):
        raise ValueError(f"RunPod: a pod id is letters, digits, '-' and '_', got {value!r}")
    return text


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
