"""The errors of :mod:`rl4py.cloud`: one base class, so ``except CloudError`` catches them all.

No message ever holds an API key: :class:`~rl4py.cloud.client.ApiClient` writes them without the
key and replaces it by ``***`` in any text a provider sends back.
"""

from __future__ import annotations

__all__ = ["CloudAuthError", "CloudError", "NoMatchingOfferError"]


class CloudError(RuntimeError):
    """A provider's API refused or failed a request (the message names the provider, call and status).

    Attributes:
        status: the HTTP status of the last response, or ``None`` (no response, or a failure
            reported inside a 200 response).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CloudAuthError(CloudError):
    """No API key, or the provider rejected it (HTTP 401 / 403)."""


class NoMatchingOfferError(CloudError, LookupError):
    """No offer of a provider meets the requirements (the message spells them out)."""
