"""The signing keys a JWKS URL publishes, as `JWTAuthenticator` picks the one for a token.

The set is fetched here (no redirects); each key is read by PyJWT's `PyJWK`.
A token's key is chosen as the Worker host's `jose` chooses it, so that a
token gets the same answer behind either host: among the keys for the
token's `alg` (its key type and curve, the key's own `alg` if it names one,
`verify` among its `key_ops` if it lists any), the one whose `kid` is the
token's, or, for a token without a `kid`, the only one (a key set may
publish keys without a `kid`). Entries that are not JSON objects, keys
marked `use: "enc"`, and RSA keys under `protocol/jwt.json`'s minRsaBits
are left out when the set is fetched.

PyJWT's `PyJWKClient` failed a sync host in four ways: an endpoint that
answers 200 with something other than a key set is a `ValueError` (a 500)
or a "no key" (a 401 that blames the token); while the endpoint hangs,
every request waits its turn behind one lock for the whole timeout, so the
tenth waits ten timeouts; its timeout bounds each read of the socket, not
the fetch, so an endpoint trickling its answer a byte a second held every
request for as long as it liked; and its cooldown runs from every fetch, so
a key rotated in just after the periodic refetch is refused for 30 s as if
the token were forged.

Here: a failed fetch is `KeysUnavailable` (503, retry), and for
`RETRY_SECONDS` after it the requests that were waiting, and any that come,
get the same answer at once instead of another fetch; keys fetched before
stay in use while the refetch fails. A token no key fits is looked up
again by a refetch at most once per cooldown; one that a refetch cannot
confirm now (cooling down) is `KeysUnavailable` too, and only a token no
key fits among keys fetched for this very lookup is `UnknownKey` (401), as
is a token without a `kid` that several keys fit.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import jwt

from ..config import MIN_RSA_BITS
from .contract import jwks_timings

RETRY_SECONDS = jwks_timings()["retrySeconds"]
"""After a failed fetch, how long lookups answer `KeysUnavailable` without fetching again."""

log = logging.getLogger(__name__)

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")

MAX_KEY_SET_BYTES = int(jwks_timings()["maxBytes"])
"""A key set is a few kilobytes; an endpoint sending more is not serving one."""


class KeysUnavailable(Exception):
    """The keys cannot be had now (unreachable, hanging, or not a key set): the host answers 503."""


class UnknownKey(Exception):
    """No key the endpoint publishes now fits the token, or several do: the token's fault, a 401."""


_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
"""The curve of each ECDSA algorithm; the other public-key algorithms take RSA keys."""


def fits(jwk: Mapping[str, Any], algorithm: str, kid: str | None) -> bool:
    """Whether a published key may verify a token of `algorithm` that names `kid` (None: names none)."""
    operations = jwk.get("key_ops")
    curve = _CURVES.get(algorithm)
    return (
        jwk.get("kty") == ("EC" if curve else "RSA")
        and (curve is None or jwk.get("crv") == curve)
        and (kid is None or jwk.get("kid") == kid)
        and jwk.get("alg", algorithm) == algorithm
        and (operations is None or (isinstance(operations, list) and "verify" in operations))
    )


class SigningKeys:
    """A JWKS URL's signing keys, kept for `lifespan` seconds; safe to share between threads."""

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
        self._keys: list[dict[str, Any]] = []
        self._read: dict[tuple[int, str], jwt.PyJWK] = {}  # each key as PyJWT reads it, for one alg
        self._fetched_at: float | None = None
        self._refreshed_at: float | None = None  # the last refetch an unknown kid asked for
        self._failed_at: float | None = None
        self._failure = ""

    def key(self, algorithm: str, kid: str | None) -> jwt.PyJWK:
        """The key for a token of `algorithm` naming `kid`; raises `KeysUnavailable` or `UnknownKey`."""
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
            found = [index for index, jwk in enumerate(self._keys) if fits(jwk, algorithm, kid)]
            if not found and not fetched:
                if self._refreshed_at is not None and now - self._refreshed_at < self._cooldown:
                    raise KeysUnavailable(
                        "the token's kid is not among the keys fetched, which cannot be refetched yet; retry"
                    )
                self._refreshed_at = now
                self._fetch(now)
                found = [index for index, jwk in enumerate(self._keys) if fits(jwk, algorithm, kid)]
            if len(found) != 1:
                raise UnknownKey  # none, or several for a token without a kid
            return self._key(found[0], algorithm)

    def _key(self, index: int, algorithm: str) -> jwt.PyJWK:
        """The published key read for `algorithm`, once per fetch; one PyJWT cannot read is the
        endpoint's fault (a 503), as the Worker host's WebCrypto import failing is."""
        read = self._read.get((index, algorithm))
        if read is None:
            try:
                read = jwt.PyJWK(self._keys[index], algorithm)
            except jwt.PyJWTError:  # PyJWKError, InvalidKeyError
                raise KeysUnavailable("the token's signing key cannot be read; retry") from None
            self._read[(index, algorithm)] = read
        return read

    def _fetch(self, now: float) -> None:
        if self._failed_at is not None and now - self._failed_at < RETRY_SECONDS:
            raise KeysUnavailable(self._failure)
        try:
            data = _fetch_json(self._url, self._timeout)
            published = data.get("keys") if isinstance(data, dict) else None
            if not isinstance(published, list):
                raise ValueError("not a JSON object with a list of keys")
        except (OSError, http.client.HTTPException):
            # URLError (unreachable, an HTTP error, a redirect) and TimeoutError are OSErrors.
            self._failed(self._clock(), "the token's signing keys cannot be fetched; retry")
        except ValueError:
            # A body that is not JSON, too large, or JSON that is not a key set.
            self._failed(self._clock(), "the key endpoint's answer is not a set of signing keys; retry")
        # An entry that is not a JSON object is no key: skipped, as RFC 7517 asks of keys a host
        # does not understand, rather than failing the keys beside it. Encryption keys
        # (`use: "enc"`) never verify a signature.
        keys = [key for key in published if isinstance(key, dict) and key.get("use", "sig") == "sig"]
        if not keys:
            self._failed(self._clock(), "the key endpoint publishes no signing key; retry")
        short = [key for key in keys if _short_rsa(key)]
        if short:
            # Left out as if not published (`protocol/jwt.json`, minRsaBits): the Worker host's jose
            # refuses them, so a token they signed is 401 on both hosts, never verified on one.
            log.warning(
                "drizzlesync: %s publishes RSA keys under %d bits, which are not used (kid %s)",
                self._url,
                MIN_RSA_BITS,
                ", ".join(str(key.get("kid")) for key in short),
            )
            keys = [key for key in keys if not _short_rsa(key)]
        self._keys, self._read, self._fetched_at, self._failed_at = keys, {}, now, None

    def _failed(self, at: float, message: str) -> NoReturn:
        # Stamped when the fetch ended, not began: a timeout must not use up the retry delay.
        self._failed_at, self._failure = at, message
        raise KeysUnavailable(message)


def _short_rsa(jwk: Mapping[str, Any]) -> bool:
    """An RSA key whose modulus is under `MIN_RSA_BITS` bits; one whose `n` is no base64url is left
    to PyJWT to refuse when read, as WebCrypto refuses it on the Worker host."""
    modulus = jwk.get("n")
    if jwk.get("kty") != "RSA" or not isinstance(modulus, str) or not _BASE64URL.fullmatch(modulus):
        return False
    try:
        decoded = base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4))
    except ValueError:  # binascii.Error: a length no base64 text has
        return False
    return int.from_bytes(decoded, "big").bit_length() < MIN_RSA_BITS


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
