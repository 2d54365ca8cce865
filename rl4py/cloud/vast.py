"""Vast.ai through its REST API (``https://console.vast.ai/api/v0``), as the ``vastai`` CLI calls it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rl4py.cloud.client import ApiClient, resolve_api_key
from rl4py.cloud.errors import CloudError
from rl4py.cloud.provider import CloudProvider, GpuOffer, Instance, InstanceStatus
from rl4py.cloud.requirements import InstanceRequirements

if TYPE_CHECKING:
    import httpx

__all__ = ["VastAIProvider"]

#: Vast.ai's query language counts memory in MB, its offers report it in MB
_MB_PER_GB = 1000.0


class VastAIProvider(CloudProvider):
    """Vast.ai, a marketplace of hosts that rent out GPU machines (on-demand rentals).

    Args:
        api_key: the API key (``None``: the environment variable ``VAST_API_KEY``).
        base_url: the API root (a test server or a proxy instead of Vast.ai's).
        timeout, max_attempts, sleep, transport: as :class:`~rl4py.cloud.client.ApiClient`.
        search_limit: offers asked for per search.

    Raises:
        CloudAuthError: no API key.

    Examples:
        >>> vast = VastAIProvider(api_key="k")
        >>> vast
        VastAIProvider(base_url='https://console.vast.ai')
        >>> vast.close()
    """

    name = "vast"
    key_env = "VAST_API_KEY"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str = "https://console.vast.ai",
        timeout: float = 30.0,
        max_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        search_limit: int = 64,
    ) -> None:
        key = resolve_api_key(api_key, self.key_env, "Vast.ai")
        self.api = ApiClient(
            "Vast.ai",
            base_url,
            key,
            key_env=self.key_env,
            timeout=timeout,
            max_attempts=max_attempts,
            sleep=sleep,
            transport=transport,
        )
        self.search_limit = search_limit

    def search_query(self, requirements: InstanceRequirements) -> dict[str, Any]:
        """The JSON body of the search: Vast.ai's query (``{field: {op: value}}``) over rentable,
        verified, unrented offers, ordered by total price per hour."""
        query: dict[str, Any] = {
            "verified": {"eq": True},
            "external": {"eq": False},
            "rentable": {"eq": True},
            "rented": {"eq": False},
            "num_gpus": {"eq": requirements.num_gpus},
            "disk_space": {"gte": requirements.min_disk_gb},
        }
        if requirements.gpu_types:
            # the CLI's spelling rule: underscores in a query value are spaces ("RTX_4090" -> "RTX 4090")
            query["gpu_name"] = {"in": [" ".join(name.replace("_", " ").split()) for name in requirements.gpu_types]}
        if requirements.min_gpu_ram_gb > 0:
            query["gpu_ram"] = {"gte": requirements.min_gpu_ram_gb * _MB_PER_GB}
        if requirements.min_ram_gb > 0:
            query["cpu_ram"] = {"gte": requirements.min_ram_gb * _MB_PER_GB}
        if requirements.max_price_per_hour is not None:
            query["dph_total"] = {"lte": requirements.max_price_per_hour}
        query.update(
            order=[["dph_total", "asc"]],
            type="on-demand",
            allocated_storage=requirements.min_disk_gb,
            limit=self.search_limit,
        )
        return query

    def search_offers(self, requirements: InstanceRequirements) -> list[GpuOffer]:
        """``POST /api/v0/bundles/`` with :meth:`search_query`; the answer's ``offers`` are checked
        against ``requirements`` again and sorted by ``dph_total`` (the price with the disk)."""
        body = self.api.request("POST", "/api/v0/bundles/", json=self.search_query(requirements))
        rows = _field(self.api, body, "offers", "POST /api/v0/bundles/")
        if not isinstance(rows, list):
            raise CloudError(f"Vast.ai: POST /api/v0/bundles/ answered offers={type(rows).__name__}, expected a list")
        offers = [self._offer(row) for row in rows]
        offers = [offer for offer in offers if _meets(offer, requirements)]
        return sorted(offers, key=lambda offer: offer.price_per_hour)

    def launch(self, offer: GpuOffer, requirements: InstanceRequirements) -> Instance:
        """``PUT /api/v0/asks/{offer.id}/``: rents the offer with the image, ``onstart`` = the start
        command (run after the image's SSH setup, ``runtype="ssh"``), the env and ``disk`` GB.

        Not retried on a 5xx: a repeat could rent a second machine."""
        _check_id(offer.id, "offer id")
        body = {
            "client_id": "me",
            "image": requirements.image,
            "disk": requirements.min_disk_gb,
            "env": dict(requirements.env),
            "onstart": requirements.start_command or "",
            "runtype": "ssh",
            "label": "rl4py",
        }
        path = f"/api/v0/asks/{offer.id}/"
        answer = self.api.request("PUT", path, json=body, retry_server_errors=False)
        _check_success(self.api, answer, f"PUT {path}")
        contract = _field(self.api, answer, "new_contract", f"PUT {path}")
        return Instance(
            provider=self.name,
            id=str(contract),
            status="starting",
            provider_status="created",
            gpu_name=offer.gpu_name,
            num_gpus=offer.num_gpus,
            price_per_hour=offer.price_per_hour,
        )

    def status(self, instance_id: str) -> Instance:
        """``GET /api/v0/instances/{id}/?owner=me``: the ``instances`` record, its ``actual_status``
        (``loading``, ``running``, ``exited``, ...) mapped to :data:`~rl4py.cloud.provider.InstanceStatus`."""
        instance_id = _check_id(instance_id, "instance id")
        path = f"/api/v0/instances/{instance_id}/"
        row = _field(self.api, self.api.request("GET", path, params={"owner": "me"}), "instances", f"GET {path}")
        if not isinstance(row, dict) or not row:
            raise CloudError(f"Vast.ai: no instance {instance_id} (GET {path} returned no record)")
        actual, intended = row.get("actual_status"), row.get("intended_status")
        ssh = None
        if row.get("ssh_host") and row.get("ssh_port"):
            ssh = f"ssh -p {row['ssh_port']} root@{row['ssh_host']}"
        return Instance(
            provider=self.name,
            id=str(row.get("id", instance_id)),
            status=_status(actual, intended),
            provider_status=None if actual is None else str(actual),
            gpu_name=row.get("gpu_name"),
            num_gpus=row.get("num_gpus"),
            price_per_hour=_float(row.get("dph_total")),
            ssh=ssh,
        )

    def stop(self, instance_id: str) -> None:
        """``PUT /api/v0/instances/{id}/`` with ``{"state": "stopped"}``: GPU billing stops, storage continues."""
        instance_id = _check_id(instance_id, "instance id")
        path = f"/api/v0/instances/{instance_id}/"
        _check_success(self.api, self.api.request("PUT", path, json={"state": "stopped"}), f"PUT {path}")

    def terminate(self, instance_id: str) -> None:
        """``DELETE /api/v0/instances/{id}/``: destroys the instance and its disk."""
        instance_id = _check_id(instance_id, "instance id")
        path = f"/api/v0/instances/{instance_id}/"
        _check_success(self.api, self.api.request("DELETE", path), f"DELETE {path}")

    def _offer(self, row: Any) -> GpuOffer:
        if not isinstance(row, dict) or "id" not in row or "dph_total" not in row:
            raise CloudError(
                self.api.redact(f"Vast.ai: an offer without id or dph_total in POST /api/v0/bundles/: {row!r:.200}")
            )
        return GpuOffer(
            provider=self.name,
            id=str(row["id"]),
            gpu_name=str(row.get("gpu_name", "")),
            num_gpus=int(row.get("num_gpus") or 0),
            gpu_ram_gb=float(row.get("gpu_ram") or 0.0) / _MB_PER_GB,
            price_per_hour=float(row["dph_total"]),
            disk_gb=_float(row.get("disk_space")),
            location=row.get("geolocation"),
            details={
                "reliability": row.get("reliability2", row.get("reliability")),
                "machine_id": row.get("machine_id"),
            },
        )


def _meets(offer: GpuOffer, requirements: InstanceRequirements) -> bool:
    price_ok = requirements.max_price_per_hour is None or offer.price_per_hour <= requirements.max_price_per_hour
    disk_ok = offer.disk_gb is None or offer.disk_gb >= requirements.min_disk_gb
    return (
        price_ok
        and disk_ok
        and offer.num_gpus == requirements.num_gpus
        and offer.gpu_ram_gb >= requirements.min_gpu_ram_gb
        and requirements.accepts_gpu(offer.gpu_name)
    )


def _status(actual: Any, intended: Any) -> InstanceStatus:
    if actual == "running":
        return "running"
    if actual in ("exited", "stopped") or intended == "stopped":
        return "stopped"
    if actual in (None, "created", "loading", "scheduling"):
        return "starting"
    return "unknown"


def _check_id(value: str, what: str) -> str:
    text = str(value).strip()
    if not text.isdigit():
        raise ValueError(f"Vast.ai: an {what} is a number, got {value!r}")
    return text


def _check_success(api: ApiClient, answer: Any, call: str) -> None:
    if isinstance(answer, dict) and answer.get("success") is False:
        reason = answer.get("msg") or answer.get("error") or answer
        raise CloudError(api.redact(f"Vast.ai: {call} failed: {reason}"))


def _field(api: ApiClient, answer: Any, name: str, call: str) -> Any:
    if not isinstance(answer, dict) or name not in answer:
        raise CloudError(api.redact(f"Vast.ai: {call} answered without {name!r}: {answer!r:.200}"))
    return answer[name]


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
