"""Bearer JWTs verified with PyJWT: the `authenticate` a sync host uses unless it brings its own.

A shared secret (HS256) or the public keys of a JWKS URL (RS256/ES256, as
Supabase, Auth0 or Clerk publish them) sign the token; `iss` and `aud` are
checked when configured, `exp` always, each with a small leeway for clock
skew. `sub` is the user id and every claim travels on in `Identity.claims`,
for the scope rules. Each way a token fails is a 401 with a code of its own
(`protocol/errors.json`), so that a client can tell an expired session from
a misconfigured one, and nothing of the request is applied.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import anyio.to_thread
import jwt

from ..config import AUTH_KEY, AuthConfig, ConfigError, accepted_algorithms, check_jwt_keys
from .contract import jwks_timings
from .errors import SyncError, temporarily_unavailable, unauthenticated
from .jwks import KeysUnavailable, SigningKeys, UnknownKey
from .processor import Identity

_WHITESPACE = re.compile(r"\s+")

JWKS_TIMINGS = jwks_timings()

# Most specific first: InvalidSignatureError is a DecodeError.
_FAILURES: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "token_expired"),
    (jwt.ImmatureSignatureError, "token_not_yet_valid"),
    (jwt.InvalidAudienceError, "token_invalid_audience"),
    (jwt.InvalidIssuerError, "token_invalid_issuer"),
    (jwt.InvalidSignatureError, "token_invalid_signature"),
    (jwt.InvalidAlgorithmError, "token_unsupported_algorithm"),
    (jwt.MissingRequiredClaimError, "token_missing_claim"),
)


class HasHeaders(Protocol):
    """A request as far as authentication looks at it (Starlette's `Request` is one)."""

    @property
    def headers(self) -> Mapping[str, str]: ...


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
        leeway_seconds: float = 30.0,
        jwks_refresh_cooldown: float = JWKS_TIMINGS["refetchCooldownSeconds"],
        jwks_timeout_seconds: float = JWKS_TIMINGS["timeoutSeconds"],
    ) -> None:
        """`jwks_refresh_cooldown`: an unknown `kid` refetches the key set at most this often.

        A rotated key is found by that refetch; the cooldown keeps tokens
        with made-up kids from turning into a stream of requests to the
        identity provider. A token whose kid waits for it is a 503, which
        the client retries, not a 401 (`jwks.SigningKeys`).
        """
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
                    f"{AUTH_KEY}.secret_env (or --jwt-secret-env): {config.secret_env} is not set; "
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
        header = request.headers.get("authorization", "")
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
            raise unauthenticated("token_unknown_key", "the token's kid names no published key") from None
        except jwt.PyJWTError as error:
            raise _failure(error) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise unauthenticated("token_missing_claim", "the token has no sub (user id)")
        return Identity(subject, claims)

    def _decode(self, token: str) -> dict[str, Any]:
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            # Before any key lookup: `alg: none` or an HMAC token against a JWKS never gets that far.
            raise jwt.InvalidAlgorithmError(f"alg {algorithm!r} is not accepted")
        key: Any = self._jwks.key(header.get("kid")) if self._jwks else self._secret
        required = ["exp", "sub", *(["iss"] if self.issuer else []), *(["aud"] if self.audience else [])]
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=self.algorithms,
            issuer=self.issuer,
            audience=self.audience,
            leeway=self.leeway,
            options={"require": required},
        )
        return claims


def _failure(error: jwt.PyJWTError) -> SyncError:
    for kind, code in _FAILURES:
        if isinstance(error, kind):
            return unauthenticated(code, str(error))
    return unauthenticated("token_malformed", f"the bearer token is not a valid JWT: {error}")
