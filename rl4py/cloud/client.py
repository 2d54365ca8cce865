"""JSON over HTTP with an API key: auth, bounded retries with backoff, errors without the key.

httpx is an optional dependency: ``pip install "rl4py[cloud]"``.
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from rl4py.cloud.errors import CloudAuthError, CloudError

if TYPE_CHECKING:
    import httpx

__all__ = ["ApiClient", "resolve_api_key"]


def resolve_api_key(api_key: str | None, env_var: str, service: str) -> str:
    """``api_key``, or the value of the environment variable ``env_var``.

    Raises:
        CloudAuthError: neither is set (the message names ``env_var``), or the key is blank.
    """
    key = os.environ.get(env_var) if api_key is None else api_key
    if key is None or not key.strip():
        raise CloudAuthError(f"{service}: no API key; set the environment variable {env_var} (or pass api_key=...)")
    return key.strip()


def _require_httpx() -> Any:
    try:
        import httpx
    except ImportError as error:
        raise ImportError(
            'rl4py.cloud needs httpx, which is not installed: pip install "rl4py[cloud]" (or pip install httpx)'
        ) from error
    return httpx


class ApiClient:
    """One provider's API: every request carries ``Authorization: Bearer <key>`` (never the URL).

    429 responses, and 5xx ones of requests that are safe to repeat, are retried up to
    ``max_attempts`` times in all; the wait is the response's ``Retry-After`` (seconds or an HTTP
    date) or else ``backoff * 2**(attempt - 1)`` seconds, at most ``max_delay``. A ``Retry-After``
    longer than ``max_delay`` stops at once. Connection failures are retried the same way.

    Args:
        service: the provider's name in messages (``"Vast.ai"``).
        base_url: the API root the request paths are joined to.
        api_key: the key; it is kept out of ``repr``, messages and logged URLs.
        key_env: the environment variable the key comes from, named in auth errors.
        timeout: seconds per request.
        max_attempts: attempts per request, at least 1.
        backoff: the first wait in seconds without ``Retry-After``; doubles per attempt.
        max_delay: the longest wait in seconds.
        sleep: how to wait (tests pass a recorder).
        transport: an httpx transport (``None``: httpx's default).

    Raises:
        ValueError: ``max_attempts < 1`` or a negative ``backoff`` / ``max_delay``.
    """

    def __init__(
        self,
        service: str,
        base_url: str,
        api_key: str,
        *,
        key_env: str,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff: float = 1.0,
        max_delay: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"{service}: max_attempts must be an int >= 1, got {max_attempts!r}")
        if backoff < 0 or max_delay < 0:
            raise ValueError(f"{service}: backoff and max_delay must be >= 0, got {backoff!r} and {max_delay!r}")
        httpx = _require_httpx()
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.key_env = key_env
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_delay = max_delay
        self._sleep = sleep
        self._key = api_key
        self._httpx = httpx
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._client = httpx.Client(headers=headers, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"ApiClient({self.service!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        """Closes the connection pool."""
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        retry_server_errors: bool = True,
    ) -> Any:
        """Sends one request (retrying as the class describes); returns the parsed JSON body.

        Args:
            method: the HTTP method.
            path: joined to ``base_url`` (``"/api/v0/bundles/"``); a full ``http(s)://`` URL is used as is.
            json: the JSON body, or ``None`` for none.
            params: query parameters.
            retry_server_errors: whether a 5xx (or a connection lost after sending) is retried:
                ``False`` for requests that create something, which a repeat could create twice.

        Returns:
            The decoded JSON body, or ``None`` for an empty one.

        Raises:
            CloudAuthError: HTTP 401 or 403.
            CloudError: another 4xx, 5xx after the last attempt, a body that is not JSON, or no connection.
        """
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        call = f"{self.service}: {method} {_without_query(url)}"
        httpx = self._httpx
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            try:
                response = self._client.request(method, url, json=json, params=params)
            except httpx.TransportError as error:
                unsent = isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout))
                if not last and (unsent or retry_server_errors):
                    self._sleep(self._delay(attempt))
                    continue
                detail = self.redact(f"{type(error).__name__}: {error}")
                raise CloudError(f"{call} failed after {attempt} attempt(s): {detail}") from None
            status = response.status_code
            if status in (401, 403):
                what = "rejected the API key" if status == 401 else "refused the API key access to this call"
                raise CloudAuthError(
                    f"{call} -> HTTP {status}: the provider {what}; check {self.key_env} "
                    f"(the key was sent as a Bearer token){self._excerpt(response)}",
                    status,
                )
            if status == 429 or (status >= 500 and retry_server_errors):
                wait = _retry_after(response.headers.get("Retry-After"))
                if wait is not None and wait > self.max_delay:
                    raise CloudError(
                        f"{call} -> HTTP {status}: the provider asks to retry after {wait:.0f} s, "
                        f"longer than max_delay={self.max_delay:g} s{self._excerpt(response)}",
                        status,
                    )
                if not last:
                    self._sleep(self._delay(attempt) if wait is None else wait)
                    continue
                raise CloudError(
                    f"{call} -> HTTP {status} after {attempt} attempt(s), giving up{self._excerpt(response)}", status
                )
            if status >= 400:
                raise CloudError(f"{call} -> HTTP {status}{self._excerpt(response)}", status)
            if not response.content.strip():
                return None
            try:
                return response.json()
            except ValueError:
                excerpt = self._excerpt(response)
                raise CloudError(f"{call} -> HTTP {status} with a body that is not JSON{excerpt}", status) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int) -> float:
        return min(self.max_delay, self.backoff * 2 ** (attempt - 1))

    def redact(self, text: str) -> str:
        """``text`` with the API key replaced by ``***`` (for messages quoting what a provider sent)."""
        return text.replace(self._key, "***") if self._key else text

    def _excerpt(self, response: httpx.Response) -> str:
        text = " ".join(response.text.split())
        if not text:
            return ""
        text = self.redact(text)
        return f": {text[:300]}{'...' if len(text) > 300 else ''}"


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); ``None``: absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
