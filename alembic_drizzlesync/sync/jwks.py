"""The signing keys a JWKS URL publishes, as `JWTAuthenticator` looks them up by `kid`.

PyJWT's `PyJWKClient` fetches the set (http(s) only, no redirects); when to
fetch is decided here, because its own policy fails a sync host in three
ways: an endpoint that answers 200 with something other than a key set is a
`ValueError` (a 500) or a "no key" (a 401 that blames the token); while the
endpoint hangs, every request waits its turn behind one lock for the whole
timeout, so the tenth waits ten timeouts; and its cooldown runs from every
fetch, so a key rotated in just after the periodic refetch is refused for
30 s as if the token were forged.

Here: a failed fetch is `KeysUnavailable` (503, retry), and for
`RETRY_SECONDS` after it the requests that were waiting, and any that come,
get the same answer at once instead of another fetch; keys fetched before
stay in use while the refetch fails. A `kid` missing from the keys is
looked up again by a refetch at most once per cooldown; one that a refetch
cannot confirm now (cooling down) is `KeysUnavailable` too, and only a
`kid` missing from keys fetched for this very lookup is `UnknownKey` (401).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NoReturn

import jwt

from .contract import jwks_timings

RETRY_SECONDS = jwks_timings()["retrySeconds"]
"""After a failed fetch, how long lookups answer `KeysUnavailable` without fetching again."""


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
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=timeout)
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
            keys = {
                key.key_id: key
                for key in jwt.PyJWKSet.from_dict(self._client.fetch_data()).keys
                if key.key_id and key.public_key_use in ("sig", None)
            }
        except jwt.PyJWKClientConnectionError:
            self._failed(self._clock(), "the token's signing keys cannot be fetched; retry")
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, ValueError):
            # ValueError: a body that is not JSON; the others: JSON that holds no usable key.
            self._failed(self._clock(), "the key endpoint's answer is not a set of signing keys; retry")
        else:
            if not keys:
                self._failed(self._clock(), "the key endpoint publishes no signing key; retry")
            self._keys, self._fetched_at, self._failed_at = keys, now, None

    def _failed(self, at: float, message: str) -> NoReturn:
        # Stamped when the fetch ended, not began: a timeout must not use up the retry delay.
        self._failed_at, self._failure = at, message
        raise KeysUnavailable(message)
