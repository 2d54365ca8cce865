"""What a job asks of a rented GPU machine: :class:`InstanceRequirements`."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["DEFAULT_IMAGE", "InstanceRequirements", "gpu_name_key"]

#: a CUDA image with Python 3.11, pip and torch 2.5 (what ``pip install rl4py`` builds on)
DEFAULT_IMAGE = "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def gpu_name_key(name: str) -> str:
    """The form GPU names are compared in: lower case, ``_`` and ``-`` as spaces, spaces collapsed.

    Examples:
        >>> gpu_name_key("RTX_4090") == gpu_name_key("rtx 4090")
        True
    """
    return " ".join(re.sub(r"[_-]", " ", name).lower().split())


@dataclass(frozen=True)
class InstanceRequirements:
    """The machine to rent and what it runs: filters for the offer search and the launch settings.

    Args:
        gpu_types: acceptable GPU models as the providers name them, with ``_`` for spaces
            (``"RTX_4090"``, ``"A100_SXM4"``, ``"H100_SXM"``); empty: any model.
        num_gpus: GPUs in the machine (exactly this many).
        min_gpu_ram_gb: GPU memory of each GPU, at least (GB).
        max_price_per_hour: the most the whole machine may cost, in US dollars per hour; ``None``:
            no cap (the cheapest offer is still chosen).
        min_disk_gb: disk of the machine, at least (GB); the launch allocates this much.
        min_ram_gb: system memory, at least (GB).
        image: the Docker image the machine runs.
        start_command: a shell command the machine runs once it starts (``None``: nothing).
        env: environment variables of the machine (names are shell identifiers).

    Raises:
        ValueError: a count, size or price out of range, an empty image or GPU name, a bad
            variable name (the message names the field, the expected and the received value).

    Examples:
        >>> requirements = InstanceRequirements(gpu_types=["RTX_4090"], max_price_per_hour=0.5)
        >>> requirements.describe()
        '1x RTX 4090, at most $0.50/h, disk >= 20 GB'
    """

    gpu_types: Sequence[str] = ()
    num_gpus: int = 1
    min_gpu_ram_gb: float = 0.0
    max_price_per_hour: float | None = None
    min_disk_gb: float = 20.0
    min_ram_gb: float = 0.0
    image: str = DEFAULT_IMAGE
    start_command: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.gpu_types, str):
            raise ValueError(
                f"InstanceRequirements: gpu_types must be a list of names, got the string {self.gpu_types!r}"
            )
        gpu_types = tuple(self.gpu_types)
        for name in gpu_types:
            if not isinstance(name, str) or not gpu_name_key(name):
                raise ValueError(f"InstanceRequirements: gpu_types must hold non-empty names, got {name!r}")
        object.__setattr__(self, "gpu_types", gpu_types)
        if isinstance(self.num_gpus, bool) or not isinstance(self.num_gpus, int) or self.num_gpus < 1:
            raise ValueError(f"InstanceRequirements: num_gpus must be an int >= 1, got {self.num_gpus!r}")
        for name in ("min_gpu_ram_gb", "min_ram_gb"):
            _check_number(name, getattr(self, name), lowest=0.0, inclusive=True)
        _check_number("min_disk_gb", self.min_disk_gb, lowest=0.0, inclusive=False)
        if self.max_price_per_hour is not None:
            _check_number("max_price_per_hour", self.max_price_per_hour, lowest=0.0, inclusive=False)
        if not isinstance(self.image, str) or not self.image.strip():
            raise ValueError(f"InstanceRequirements: image must be a Docker image name, got {self.image!r}")
        if self.start_command is not None and not isinstance(self.start_command, str):
            raise ValueError(
                f"InstanceRequirements: start_command must be a string or None, got {self.start_command!r}"
            )
        for key, value in self.env.items():
            if not isinstance(key, str) or not _ENV_NAME.fullmatch(key) or not isinstance(value, str):
                raise ValueError(
                    f"InstanceRequirements: env must map variable names ([A-Za-z_][A-Za-z0-9_]*) to strings, "
                    f"got {key!r}: {type(value).__name__}"
                )
        object.__setattr__(self, "env", dict(self.env))

    def describe(self) -> str:
        """The filters in one line, for messages (``2x RTX 4090 or A100 SXM4, GPU RAM >= 24 GB, ...``)."""
        names = " or ".join(" ".join(name.replace("_", " ").split()) for name in self.gpu_types) or "any GPU"
        parts = [f"{self.num_gpus}x {names}"]
        if self.min_gpu_ram_gb > 0:
            parts.append(f"GPU RAM >= {self.min_gpu_ram_gb:g} GB")
        if self.max_price_per_hour is not None:
            parts.append(f"at most ${self.max_price_per_hour:.2f}/h")
        parts.append(f"disk >= {self.min_disk_gb:g} GB")
        if self.min_ram_gb > 0:
            parts.append(f"RAM >= {self.min_ram_gb:g} GB")
        return ", ".join(parts)

    def accepts_gpu(self, *names: str) -> bool:
        """Whether a GPU known by any of ``names`` (a provider's id, display name) is acceptable."""
        if not self.gpu_types:
            return True
        wanted = {gpu_name_key(name) for name in self.gpu_types}
        return any(gpu_name_key(name) in wanted for name in names if name)


def _check_number(name: str, value: object, *, lowest: float, inclusive: bool) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= lowest if inclusive else value > lowest)
    if not ok:
        bound = ">=" if inclusive else ">"
        raise ValueError(f"InstanceRequirements: {name} must be a finite number {bound} {lowest:g}, got {value!r}")
