"""A real HTTP server on loopback that plays a provider's API: it records every request and answers
from a queue of replies, so tests check what rl4py sends (method, path, auth header, JSON body)."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

KEY = "sk-test-Zq8vW3pLr5Tn0Yx"  # a made-up key; the tests check it never leaks


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: Any  # the parsed JSON, or None


class FakeAPI:
    """``reply(...)`` queues answers in order; ``requests`` holds what arrived."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._replies: deque[tuple[int, Any, dict[str, str]]] = deque()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                api.requests.append(
                    Recorded(
                        method=self.command,
                        path=url.path,
                        query=parse_qs(url.query),
                        headers={name.lower(): value for name, value in self.headers.items()},
                        body=json.loads(raw) if raw else None,
                    )
                )
                if api._replies:
                    status, body, headers = api._replies.popleft()
                else:
                    status, body, headers = (
                        400,
                        {"error": f"fake API: no reply queued for {self.command} {url.path}"},
                        {},
                    )
                data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def reply(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self._replies.append((status, body, headers or {}))

    @property
    def unused_replies(self) -> int:
        return len(self._replies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class Sleeps(list):
    """An injected ``sleep`` that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# recorded shapes of the providers' answers (abridged to the fields rl4py reads, plus a few more)
def vast_offer(
    offer_id: int, gpu: str, price: float, *, num_gpus: int = 1, gpu_ram: float = 24564, disk: float = 120.5
):
    return {
        "id": offer_id,
        "ask_contract_id": offer_id,
        "machine_id": offer_id // 10,
        "gpu_name": gpu,
        "num_gpus": num_gpus,
        "gpu_ram": gpu_ram,
        "gpu_total_ram": gpu_ram * num_gpus,
        "cpu_ram": 64301,
        "disk_space": disk,
        "dph_base": round(price - 0.012, 4),
        "dph_total": price,
        "geolocation": "Sweden, SE",
        "reliability2": 0.9951,
        "rentable": True,
        "rented": False,
        "verified": True,
        "cuda_max_good": 12.4,
        "inet_down": 850.2,
    }


def vast_instance(instance_id: int, actual: str | None, *, intended: str = "running") -> dict:
    return {
        "instances": {
            "id": instance_id,
            "actual_status": actual,
            "intended_status": intended,
            "cur_state": "running" if intended == "running" else "stopped",
            "gpu_name": "RTX 4090",
            "num_gpus": 1,
            "dph_total": 0.412,
            "ssh_host": "ssh4.vast.ai",
            "ssh_port": 41022,
            "public_ipaddr": "203.0.113.7",
            "image_uuid": "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
            "status_msg": "success, running pytorch/pytorch_2.5.1",
            "label": "rl4py",
        }
    }


def runpod_gpu(gpu_id: str, name: str, memory: int, secure: float | None, community: float | None) -> dict:
    def lowest(price: float | None) -> dict:
        return {"uninterruptablePrice": price, "stockStatus": None if price is None else "High"}

    return {
        "id": gpu_id,
        "displayName": name,
        "memoryInGb": memory,
        "secureCloud": secure is not None,
        "communityCloud": community is not None,
        "secure": lowest(secure),
        "community": lowest(community),
    }


def runpod_pod(pod_id: str, desired: str = "RUNNING", *, ssh: bool = True) -> dict:
    pod = {
        "id": pod_id,
        "name": "rl4py",
        "desiredStatus": desired,
        "costPerHr": "0.74",
        "adjustedCostPerHr": 0.69,
        "gpuCount": 1,
        "gpu": {"id": "NVIDIA GeForce RTX 4090", "count": 1, "displayName": "RTX 4090", "securePrice": 0.69},
        "imageName": "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
        "containerDiskInGb": 20,
        "machineId": "s194cr8pls2z",
        "lastStatusChange": "Rented by User: Tue Aug 05 2025 10:00:00 GMT+0000",
    }
    if ssh:
        pod.update(publicIp="198.51.100.4", portMappings={"22": 10341})
    return pod


@pytest.fixture
def api():
    """A loopback HTTP server playing a provider's API; every queued reply must be asked for."""
    server = FakeAPI()
    yield server
    server.close()
    assert server.unused_replies == 0, "a queued reply was never asked for"


@pytest.fixture
def sleeps() -> Sleeps:
    """An injected ``sleep`` that records the waits."""
    return Sleeps()
