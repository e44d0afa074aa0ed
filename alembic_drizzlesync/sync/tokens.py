"""Bearer JWTs: the `authenticate` a sync host uses unless it brings its own.

A shared secret (HS256) or the public keys of a JWKS URL (RS256/ES256, as
Supabase, Auth0 or Clerk publish them) sign the token; PyJWT checks the
signature, and the claims are checked here, by the rules the Worker host
checks them by (`claims_failure`), so that a token gets the same answer
behind either host whatever its claims hold. `sub` is the user id and every
claim travels on in `Identity.claims`, for the scope rules. Each way a
token fails is a 401 with a code of its own (`protocol/errors.json`), so
that a client can tell an expired session from a misconfigured one, and
nothing of the request is applied.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn, Protocol

import anyio.to_thread
import jwt

from ..config import (
    AUTH_KEY,
    DEFAULT_LEEWAY_SECONDS,
    AuthConfig,
    ConfigError,
    accepted_algorithms,
    check_jwt_keys,
)
from .contract import jwks_timings
from .errors import SyncError, temporarily_unavailable, unauthenticated
from .jwks import KeysUnavailable, SigningKeys, UnknownKey
from .processor import Identity
from .protocol import deep_refusal, identity_refused

_WHITESPACE = re.compile(r"\s+")

JWKS_TIMINGS = jwks_timings()

# Most specific first: InvalidSignatureError is a DecodeError.
_FAILURES: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.InvalidSignatureError, "token_invalid_signature"),
    (jwt.InvalidAlgorithmError, "token_unsupported_algorithm"),
)


class Headers(Protocol):
    """A request's headers, every value of a repeated one kept (Starlette's `Headers` are)."""

    def getlist(self, key: str) -> list[str]: ...


class HasHeaders(Protocol):
    """A request as far as authentication looks at it (Starlette's `Request` is one)."""

    @property
    def headers(self) -> Headers: ...


class JWTAuthenticator:
    """Turns `Authorization: Bearer <jwt>` into an `Identity`, or raises a 401 `SyncError`."""

    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | Sequence[str] = (),
        algorithms: Sequence[str] = (),
        leeway_seconds: float = DEFAULT_LEEWAY_SECONDS,
        jwks_refresh_cooldown: float = JWKS_TIMINGS["refetchCooldownSeconds"],
        jwks_timeout_seconds: float = JWKS_TIMINGS["timeoutSeconds"],
    ) -> None:
        """`jwks_refresh_cooldown`: an unknown `kid` refetches the key set at most this often.

        A rotated key is found by that refetch; the cooldown keeps tokens
        with made-up kids from turning into a stream of requests to the
        identity provider. A token whose kid waits for it is a 503, which
        the client retries, not a 401 (`jwks.SigningKeys`).
        """
        if secret == "":
            # HMAC with an empty key verifies no token the provider signed: the server's mistake,
            # refused here rather than answered to every user as a malformed token.
            raise ConfigError("secret: empty; pass the HS256 secret the identity provider signs with")
        check_jwt_keys(secret is not None, jwks_url, algorithms, leeway_seconds)
        self.algorithms = list(accepted_algorithms(secret is not None, algorithms))
        self.issuer = issuer
        self.audience = ([audience] if isinstance(audience, str) else list(audience)) or None
        self.leeway = leeway_seconds
        source = f"keys from {jwks_url}" if jwks_url else "a shared secret"
        checks = ([f"iss {issuer}"] if issuer else []) + (
            [f"aud {', '.join(self.audience)}"] if self.audience else []
        )
        self.mode = f"JWT ({', '.join(self.algorithms)}) with {', '.join([source, *checks])}"
        self._secret = secret
        self._jwks = (
            SigningKeys(
                jwks_url,
                lifespan=JWKS_TIMINGS["lifespanSeconds"],
                timeout=jwks_timeout_seconds,
                refresh_cooldown=jwks_refresh_cooldown,
            )
            if jwks_url
            else None
        )

    @classmethod
    def from_config(cls, config: AuthConfig, environ: Mapping[str, str] = os.environ) -> JWTAuthenticator:
        """The authenticator `[tool.drizzlesync.auth]` describes; the secret comes from the environment."""
        secret = None
        if config.secret_env is not None:
            secret = environ.get(config.secret_env)
            if not secret:
                raise ConfigError(
                    f"{AUTH_KEY}.secret_env (or --jwt-secret-env): {config.secret_env} is not set or empty; "
                    "export the JWT secret in that environment variable"
                )
        return cls(
            secret=secret,
            jwks_url=config.jwks_url,
            issuer=config.issuer,
            audience=config.audience,
            algorithms=config.algorithms,
            leeway_seconds=config.leeway_seconds,
        )

    async def __call__(self, request: HasHeaders) -> Identity:
        """The ASGI app's `authenticate`; a JWKS fetch blocks, so verification runs off the event loop."""
        # Two Authorization headers read as the Worker host's `Headers.get` reads them, joined by
        # ", " (the Fetch standard): no bearer token, so refused, where taking the first trusted
        # whichever token an intermediary happened to put first.
        header = ", ".join(request.headers.getlist("authorization"))
        return await anyio.to_thread.run_sync(self.identity, header)

    def identity(self, authorization: str) -> Identity:
        """The identity an `Authorization` header value proves, for hosts other than the ASGI app."""
        # As the Worker host reads it: the scheme, any run of spaces or tabs, and a token without any.
        scheme, _, token = _WHITESPACE.sub(" ", authorization.strip()).partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise unauthenticated("token_missing", "send Authorization: Bearer <token>")
        if " " in token:
            raise unauthenticated("token_malformed", "the bearer token is not a well-formed JWT")
        try:
            claims = self._decode(token)
        except KeysUnavailable as error:
            raise temporarily_unavailable(str(error)) from None
        except UnknownKey:
            raise unauthenticated("token_unknown_key", "no published key fits the token") from None
        except jwt.PyJWTError as error:
            raise _failure(error) from None
        failure = claims_failure(claims, time.time(), self.leeway, self.issuer, self.audience)
        if failure is not None:
            raise unauthenticated(*failure)
        return Identity(claims["sub"], claims)

    def _decode(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature verifies; they are checked apart (`claims_failure`)."""
        _check_header_text(token)
        header = jwt.get_unverified_header(token)  # a DecodeError unless a JSON object, a kid a string
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            # Before any key lookup: `alg: none` or an HMAC token against a JWKS never gets that far.
            raise jwt.InvalidAlgorithmError(f"alg {algorithm!r} is not accepted")
        key: Any = self._jwks.key(algorithm, header.get("kid")) if self._jwks else self._secret
        payload = jwt.api_jws.decode(token, key, algorithms=[algorithm])
        return _claims(payload)


def _check_header_text(token: str) -> None:
    """A DecodeError unless the header is UTF-8 (RFC 7515), a leading byte order mark allowed, as
    the Worker host's jose reads it: PyJWT's `json.loads` takes bytes in UTF-16 or UTF-32 too."""
    segment = token.split(".", 1)[0]
    try:
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode("utf-8-sig")
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise jwt.DecodeError("the header is not UTF-8") from None


def _claims(payload: bytes) -> dict[str, Any]:
    """The claims as a JSON object, read as the Worker host reads them: UTF-8, no `NaN`."""
    try:
        claims = json.loads(payload.decode("utf-8"), parse_constant=_not_json)
    except RecursionError:
        error = deep_refusal(json.loads, payload, "claims")
        if error.code == "malformed_json":
            raise jwt.DecodeError("the claims are not JSON") from None
        raise identity_refused(error) from None
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise jwt.DecodeError("the claims are not JSON") from None
    if not isinstance(claims, dict):
        raise jwt.DecodeError("the claims are not a JSON object")
    return claims


def _not_json(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not JSON")


def _absent(value: object) -> bool:
    """A claim that is null, an empty string or an empty list counts as absent (PyJWT's rule for `aud`)."""
    return value is None or value == "" or value == []


def _seconds(value: object) -> float | None:
    """A NumericDate as seconds: a finite JSON number (not a boolean, nor past a double's range)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) else None


def claims_failure(
    claims: Mapping[str, Any],
    now: float,
    leeway: float,
    issuer: str | None,
    audience: Sequence[str] | None,
) -> tuple[str, str] | None:
    """The code and message of the first check the claims fail, else None.

    The Worker host checks them by the same rules in the same order
    (runtime/src/worker/jwt.ts), and tests/conformance/test_auth.py holds
    both to one table of tokens.
    """
    required = ["exp", "sub", *(["iss"] if issuer else []), *(["aud"] if audience else [])]
    for name in required:
        if _absent(claims.get(name)):
            return "token_missing_claim", f"the token has no {name}"
    dates: dict[str, float] = {}
    for name in ("exp", "nbf", "iat"):
        if claims.get(name) is not None:
            seconds = _seconds(claims[name])
            if seconds is None:
                return "token_malformed", f"the token's {name} is not a number of seconds"
            dates[name] = seconds
    if dates["exp"] <= now - leeway:
        return "token_expired", "the token has expired"
    if dates.get("nbf", now) > now + leeway:
        return "token_not_yet_valid", "the token is not valid yet (nbf)"
    if dates.get("iat", now) > now + leeway:
        return "token_not_yet_valid", "the token was issued in the future (iat)"
    if issuer and claims["iss"] != issuer:
        return "token_invalid_issuer", "the token's iss is not the configured issuer"
    aud = claims.get("aud")
    if audience:
        named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(name in named for name in audience):
            return "token_invalid_audience", "the token's aud names none of the configured audiences"
    elif not _absent(aud):
        return "token_invalid_audience", "the token has an aud but no audience is configured"
    if not isinstance(claims["sub"], str):
        return "token_malformed", "the token's sub (user id) is not a string"
    return None


def _failure(error: jwt.PyJWTError) -> SyncError:
    for kind, code in _FAILURES:
        if isinstance(error, kind):
            return unauthenticated(code, str(error))
    return unauthenticated("token_malformed", f"the bearer token is not a valid JWT: {error}")
