"""Rented GPUs: search Vast.ai and RunPod for offers that meet :class:`InstanceRequirements`,
launch one, watch it, stop it; ``rl4py launch`` trains a recipe there.

httpx is an optional dependency: ``pip install "rl4py[cloud]"``. API keys come from
``VAST_API_KEY`` / ``RUNPOD_API_KEY`` (or an explicit ``api_key=``) and are kept out of reprs,
messages and logged URLs.
"""

from rl4py.cloud.client import ApiClient, resolve_api_key
from rl4py.cloud.errors import CloudAuthError, CloudError, NoMatchingOfferError
from rl4py.cloud.launch import PROVIDERS, RECIPE_ENV, make_provider, recipe_requirements, training_command
from rl4py.cloud.provider import CloudProvider, GpuOffer, Instance, InstanceStatus
from rl4py.cloud.requirements import DEFAULT_IMAGE, InstanceRequirements, gpu_name_key
from rl4py.cloud.runpod import RunPodProvider
from rl4py.cloud.vast import VastAIProvider

__all__ = [
    "DEFAULT_IMAGE",
    "PROVIDERS",
    "RECIPE_ENV",
    "ApiClient",
    "CloudAuthError",
    "CloudError",
    "CloudProvider",
    "GpuOffer",
    "Instance",
    "InstanceRequirements",
    "InstanceStatus",
    "NoMatchingOfferError",
    "RunPodProvider",
    "VastAIProvider",
    "gpu_name_key",
    "make_provider",
    "recipe_requirements",
    "resolve_api_key",
    "training_command",
]
