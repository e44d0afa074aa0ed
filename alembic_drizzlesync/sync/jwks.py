"""The signing keys a JWKS URL publishes, as `JWTAuthenticator` looks them up by `kid`.

The set is fetched here (no redirects) and read by PyJWT's `PyJWKSet`. Its
`PyJWKClient` failed a sync host in four ways: an endpoint that answers 200
with something other than a key set is a `ValueError` (a 500) or a "no key"
(a 401 that blames the token); while the endpoint hangs, every request waits
its turn behind one lock for the whole timeout, so the tenth waits ten
timeouts; its timeout bounds each read of the socket, not the fetch, so an
endpoint trickling its answer a byte a second held every request for as
long as it liked; and its cooldown runs from every fetch, so a key rotated
in just after the periodic refetch is refused for 30 s as if the token were
forged.

Here: a failed fetch is `KeysUnavailable` (503, retry), and for
`RETRY_SECONDS` after it the requests that were waiting, and any that come,
get the same answer at once instead of another fetch; keys fetched before
stay in use while the refetch fails. A `kid` missing from the keys is
looked up again by a refetch at most once per cooldown; one that a refetch
cannot confirm now (cooling down) is `KeysUnavailable` too, and only a
`kid` missing from keys fetched for this very lookup is `UnknownKey` (401).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any, NoReturn

import jwt

from .contract import jwks_timings

RETRY_SECONDS = jwks_timings()["retrySeconds"]
"""After a failed fetch, how long lookups answer `KeysUnavailable` without fetching again."""

MAX_KEY_SET_BYTES = 1_000_000
"""A key set is a few kilobytes; an endpoint sending more is not serving one."""


class KeysUnavailable(Exception):
    """The keys cannot be had now (unreachable, hanging, or not a key set): the host answers 503."""


class UnknownKey(Exception):
    """The `kid` is not among the keys the endpoint publishes now: the token's fault, a 401."""


class SigningKeys:
    """A JWKS URL's signing keys by `kid`, kept for `lifespan` seconds; safe to share between threads."""

    def __init__(
        self,
        url: str,
        *,
        lifespan: float,
        timeout: float,
        refresh_cooldown: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._timeout = timeout
        self._lifespan = lifespan
        self._cooldown = refresh_cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._refreshed_at: float | None = None  # the last refetch an unknown kid asked for
        self._failed_at: float | None = None
        self._failure = ""

    def key(self, kid: object) -> jwt.PyJWK:
        """The key `kid` names; raises `KeysUnavailable` or `UnknownKey`."""
        with self._lock:
            now = self._clock()
            fetched = False
            if self._fetched_at is None or now - self._fetched_at >= self._lifespan:
                try:
                    self._fetch(now)
                    fetched = True
                except KeysUnavailable:
                    if not self._keys:
                        raise  # nothing fetched before to fall back on
            key = self._keys.get(kid) if isinstance(kid, str) else None
            if key is not None:
                return key
            if fetched or not isinstance(kid, str):
                raise UnknownKey
            if self._refreshed_at is not None and now - self._refreshed_at < self._cooldown:
                raise KeysUnavailable(
                    "the token's kid is not among the keys fetched, which cannot be refetched yet; retry"
                )
            self._refreshed_at = now
            self._fetch(now)
            key = self._keys.get(kid)
            if key is None:
                raise UnknownKey
            return key

    def _fetch(self, now: float) -> None:
        if self._failed_at is not None and now - self._failed_at < RETRY_SECONDS:
            raise KeysUnavailable(self._failure)
        try:
            data = _fetch_json(self._url, self._timeout)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            keys = {
                key.key_id: key
                for key in jwt.PyJWKSet.from_dict(data).keys
                if key.key_id and key.public_key_use in ("sig", None)
            }
        except (OSError, http.client.HTTPException):
            # URLError (unreachable, an HTTP error, a redirect) and TimeoutError are OSErrors.
            self._failed(self._clock(), "the token's signing keys cannot be fetched; retry")
        except (jwt.PyJWKError, jwt.PyJWKSetError, ValueError):
            # ValueError: a body that is not JSON, or too large; the others: JSON that holds no usable key.
            self._failed(self._clock(), "the key endpoint's answer is not a set of signing keys; retry")
        else:
            if not keys:
                self._failed(self._clock(), "the key endpoint publishes no signing key; retry")
            self._keys, self._fetched_at, self._failed_at = keys, now, None

    def _failed(self, at: float, message: str) -> NoReturn:
        # Stamped when the fetch ended, not began: a timeout must not use up the retry delay.
        self._failed_at, self._failure = at, message
        raise KeysUnavailable(message)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """The keys come from the URL configured, never from wherever it sends: a redirect is an error."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _fetch_json(url: str, timeout: float) -> Any:
    """The JSON at `url`, read whole within `timeout` seconds from the start: the socket's timeout
    bounds each read only, which an endpoint trickling its answer never trips."""
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(_NoRedirects())
    with opener.open(urllib.request.Request(url), timeout=timeout) as response:
        body = bytearray()
        while chunk := response.read1(65_536):
            body += chunk
            if time.monotonic() > deadline:
                raise TimeoutError(f"the key set did not arrive within {timeout} s")
            if len(body) > MAX_KEY_SET_BYTES:
                raise ValueError(f"the answer is over {MAX_KEY_SET_BYTES} bytes")
    return json.loads(body)
