"""The provider interface: search offers, launch one, watch it, stop it (rl4burn's ``CloudProvider``)."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from rl4py.cloud.client import ApiClient
from rl4py.cloud.errors import NoMatchingOfferError
from rl4py.cloud.requirements import InstanceRequirements

__all__ = ["CloudProvider", "GpuOffer", "Instance", "InstanceStatus"]

#: an instance's state in every provider's terms; ``provider_status`` keeps the provider's own word
InstanceStatus = Literal["starting", "running", "stopped", "terminated", "unknown"]


@dataclass(frozen=True)
class GpuOffer:
    """A machine a provider would rent now.

    Args:
        provider: the provider's short name (``"vast"``, ``"runpod"``).
        id: what :meth:`CloudProvider.launch` rents (a Vast.ai offer id, a RunPod GPU type id).
        gpu_name: the GPU model as the provider names it.
        num_gpus: GPUs in the machine.
        gpu_ram_gb: memory of each GPU (GB).
        price_per_hour: the price of the whole machine, US dollars per hour.
        disk_gb: disk available (GB), where the provider says.
        location: where the machine is, where the provider says.
        details: provider-specific fields the launch needs (RunPod's cloud type, ...).
    """

    provider: str
    id: str
    gpu_name: str
    num_gpus: int
    gpu_ram_gb: float
    price_per_hour: float
    disk_gb: float | None = None
    location: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Instance:
    """A rented machine as the provider last reported it.

    Args:
        provider: the provider's short name.
        id: the id :meth:`CloudProvider.status`, ``stop`` and ``terminate`` take.
        status: ``"starting"``, ``"running"``, ``"stopped"``, ``"terminated"`` or ``"unknown"``.
        provider_status: the provider's own status word.
        gpu_name, num_gpus: the GPUs, where reported.
        price_per_hour: what it costs while it runs (US dollars per hour), where reported.
        ssh: an ``ssh`` command line that reaches it, once the provider has one.
    """

    provider: str
    id: str
    status: InstanceStatus
    provider_status: str | None = None
    gpu_name: str | None = None
    num_gpus: int | None = None
    price_per_hour: float | None = None
    ssh: str | None = None


class CloudProvider(abc.ABC):
    """A GPU marketplace: find offers that meet :class:`InstanceRequirements`, rent one, manage it.

    Subclasses talk to one provider's API through an :class:`~rl4py.cloud.client.ApiClient`
    (``self.api``). A provider is a context manager that closes its connections on exit.
    """

    #: the short name the CLI uses (``rl4py launch --provider NAME``)
    name: ClassVar[str]
    #: the environment variable the API key is read from
    key_env: ClassVar[str]

    api: ApiClient

    @abc.abstractmethod
    def search_offers(self, requirements: InstanceRequirements) -> list[GpuOffer]:
        """The offers that meet ``requirements``, cheapest first (empty when none does)."""

    @abc.abstractmethod
    def launch(self, offer: GpuOffer, requirements: InstanceRequirements) -> Instance:
        """Rents ``offer`` and starts ``requirements.image`` there with its start command and env."""

    @abc.abstractmethod
    def status(self, instance_id: str) -> Instance:
        """The instance ``instance_id`` as the provider reports it now."""

    @abc.abstractmethod
    def stop(self, instance_id: str) -> None:
        """Stops the instance: the GPU is released and stops costing; its disk is kept (and billed)."""

    @abc.abstractmethod
    def terminate(self, instance_id: str) -> None:
        """Deletes the instance and its disk: nothing of it is billed any more."""

    def cheapest_offer(self, requirements: InstanceRequirements) -> GpuOffer:
        """The cheapest offer that meets ``requirements``.

        Raises:
            NoMatchingOfferError: no offer does (the message names the provider and the requirements).
        """
        offers = self.search_offers(requirements)
        if not offers:
            raise NoMatchingOfferError(f"{self.api.service}: no offer matches {requirements.describe()}")
        return min(offers, key=lambda offer: offer.price_per_hour)

    def close(self) -> None:
        """Closes the provider's connections."""
        self.api.close()

    def __enter__(self) -> CloudProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.api.base_url!r})"
