"""The Starlette app serving `POST /push` and `POST /pull`; mount it in Starlette or FastAPI.

Authentication is the host's business: `authenticate` turns a request into an
`Identity` (or None for 401), from a session cookie, a JWT (`tokens.JWTAuthenticator`),
whatever the application already trusts; it may raise `SyncError` for a 401
with a code of its own (`token_expired`, ...). Only `application/json` bodies
are read (415 otherwise): a cross-site "simple" request, which browsers send
with cookies and without a CORS preflight, never reaches push. The database
work runs in Starlette's thread pool, since the processor uses a blocking
SQLAlchemy engine.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response as HTTPResponse
from starlette.routing import Route

from .errors import SyncError, request_too_large, unauthenticated, unsupported_media_type
from .processor import Identity, Response, SyncProcessor

Authenticate = Callable[[Request], Awaitable[Identity | None] | Identity | None]


def create_app(
    processor: SyncProcessor,
    authenticate: Authenticate,
    *,
    cors_origins: Sequence[str] = (),
    cors_max_age: int = 600,
) -> Starlette:
    """The sync endpoints; the body-size limit is `processor.limits.max_body_bytes`."""

    def endpoint(
        handle: Callable[[Identity | None, bytes], Response],
    ) -> Callable[[Request], Awaitable[HTTPResponse]]:
        async def serve(request: Request) -> HTTPResponse:
            try:
                identity = await _identity(authenticate, request)
                if identity is None:
                    raise unauthenticated()
                _check_content_type(request.headers.get("content-type", ""))
                body = await _read_body(request, processor.limits.max_body_bytes)
            except SyncError as error:
                return _send(Response.of(error.status, error.body()))
            return _send(await run_in_threadpool(handle, identity, body))

        return serve

    middleware = []
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["POST"],
                allow_headers=["authorization", "content-type"],
                allow_credentials=True,
                max_age=cors_max_age,
            )
        )
    return Starlette(
        routes=[
            Route("/push", endpoint(processor.push), methods=["POST"]),
            Route("/pull", endpoint(processor.pull), methods=["POST"]),
        ],
        middleware=middleware,
        exception_handlers={Exception: _internal_error},
    )


async def _identity(authenticate: Authenticate, request: Request) -> Identity | None:
    result = authenticate(request)
    if inspect.isawaitable(result):
        return await result
    return result


def _check_content_type(header: str) -> None:
    """`application/json`, with parameters (`; charset=utf-8`) or without."""
    if header.partition(";")[0].strip().lower() != "application/json":
        raise unsupported_media_type(header)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it (or its declared length) passes `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise request_too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise request_too_large(limit)
    return bytes(body)


def _send(response: Response) -> HTTPResponse:
    return HTTPResponse(response.body, status_code=response.status, media_type="application/json")


async def _internal_error(request: Request, exc: Exception) -> HTTPResponse:
    return _send(Response.of(500, SyncError.of("internal", "internal server error").body()))


def bearer_user_for_development(request: Request) -> Identity | None:
    """Trusts `Authorization: Bearer <user id>` as is: for `drizzlesync serve` on a laptop only."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return Identity(token.strip())
