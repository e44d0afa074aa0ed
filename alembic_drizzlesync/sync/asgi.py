"""The ASGI app serving `POST /push` and `POST /pull`; mount it in Starlette, FastAPI or any ASGI host.

Authentication is the host's business: `authenticate` turns a request into an
`Identity` (or None for 401), from a session cookie, a JWT (`tokens.JWTAuthenticator`),
whatever the application already trusts; it may raise `SyncError` for a 401
with a code of its own (`token_expired`, ...). Only `application/json` bodies
are read (415 otherwise): a cross-site "simple" request, which browsers send
with cookies and without a CORS preflight, never reaches push. An
`AsyncSyncProcessor` runs in the event loop; a `SyncProcessor`, on a blocking
SQLAlchemy engine, in Starlette's thread pool.

The app is a plain ASGI callable rather than a Starlette application: two
routes need no router, and Starlette's middleware, routing and response
layers were a tenth of the host's CPU for an empty pull (docs/performance.md, "Host
concurrency"). Starlette still gives `authenticate` its `Request`, and CORS
its middleware.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from psycopg_pool import AsyncConnectionPool
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import ConfigError
from .async_processor import AsyncSyncProcessor
from .contract import cors_origin_rule, retry_after_seconds
from .errors import (
    SyncError,
    request_too_large,
    unauthenticated,
    unsupported_content_encoding,
    unsupported_media_type,
)
from .processor import Identity, Response, SyncProcessor

Authenticate = Callable[[Request], Awaitable[Identity | None] | Identity | None]
Handle = Callable[[Identity | None, bytes], Awaitable[Response]]
# Starlette's form: called with the app it runs around, so that one works for either.
Lifespan = Callable[[Any], AbstractAsyncContextManager[None]]

log = logging.getLogger(__name__)
JSON_HEADERS = [(b"content-type", b"application/json")]
TEXT_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]
INTERNAL = Response.of(500, SyncError.of("internal", "internal server error").body())


def create_app(
    processor: SyncProcessor | AsyncSyncProcessor,
    authenticate: Authenticate,
    *,
    cors_origins: Sequence[str] = (),
    cors_max_age: int = 600,
    lifespan: Lifespan | None = None,
    health_path: str | None = None,
) -> ASGIApp:
    """The sync endpoints; the body-size limit is `processor.limits.max_body_bytes`.

    `health_path` (e.g. `/health`) adds a readiness check there: `GET` is 200
    when a pooled connection answers a query, else 503 with `Retry-After`, as
    a request would get, so that a load balancer sends no traffic to a host
    whose database it cannot reach. It needs no identity.

    `lifespan` (Starlette's form) runs around the app's life when it is served
    on its own: where it opens and closes an `AsyncSyncProcessor`'s pool
    (`pool_lifespan`). Hosts do not run a mounted app's lifespan: give it to
    the outer app.
    """
    handles: dict[str, Handle]
    ready: Callable[[], Awaitable[Response]]
    if isinstance(processor, AsyncSyncProcessor):
        handles = {"/push": processor.push, "/pull": processor.pull}
        ready = processor.ready
    else:
        handles = {"/push": _in_thread_pool(processor.push), "/pull": _in_thread_pool(processor.pull)}
        ready = functools.partial(run_in_threadpool, processor.ready)
    health = None if health_path is None else (health_path, ready)
    app: ASGIApp = SyncApp(handles, authenticate, processor.limits.max_body_bytes, lifespan, health)
    if cors_origins:
        app = CORSMiddleware(
            app,
            allow_origins=[check_origin(origin) for origin in cors_origins],
            allow_methods=["POST"],
            allow_headers=["authorization", "content-type"],
            allow_credentials=True,
            # Not a CORS-safelisted response header: without this a page on another origin sees
            # a 503 but not how long to wait, and retries on its own backoff alone.
            expose_headers=["retry-after"],
            max_age=cors_max_age,
        )
    return app


def check_origin(origin: str) -> str:
    """`origin` as given, or ConfigError when no browser's `Origin` header can ever equal it
    (`protocol/cors.json`, which the Worker's `createSyncHandler` applies too).

    Origins are compared as exact strings: one copied from the address bar
    (`https://app.example.com/`) matched no request, the page's preflights
    were refused and its client stayed offline, with nothing in any log.
    """
    rule = cors_origin_rule()
    default_port = rule["defaultPorts"].get(origin.partition(":")[0])
    if not re.fullmatch(rule["originPattern"], origin) or (default_port and origin.endswith(default_port)):
        raise ConfigError(rule["message"].replace("{origin}", repr(origin)))
    return origin


class SyncApp:
    """`POST /push` and `POST /pull` relative to where it is mounted; 404 and 405 otherwise."""

    def __init__(
        self,
        handles: Mapping[str, Handle],
        authenticate: Authenticate,
        max_body_bytes: int,
        lifespan: Lifespan | None,
        health: tuple[str, Callable[[], Awaitable[Response]]] | None = None,
    ) -> None:
        self.handles = handles
        self.authenticate = authenticate
        self.max_body_bytes = max_body_bytes
        self.lifespan = lifespan
        self.health = health

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _route_path(scope)
        if self.health is not None and path == self.health[0]:
            await self._health(scope, send, self.health[1])
            return
        handle = self.handles.get(path)
        if handle is None:
            await _send(send, 404, b"Not Found", TEXT_HEADERS)
            return
        if scope["method"] != "POST":
            await _send(send, 405, b"Method Not Allowed", [*TEXT_HEADERS, (b"allow", b"POST")])
            return
        try:
            request = Request(scope, receive)
            try:
                identity = await _identity(self.authenticate, request)
                if identity is None:
                    raise unauthenticated()
                # Every value, joined by ", " as the Worker host's `Headers.get` joins them: two
                # types are no one type, where the first alone would have read the body as JSON.
                _check_content_type(", ".join(request.headers.getlist("content-type")))
                _check_content_encoding(", ".join(request.headers.getlist("content-encoding")))
                body = await _read_body(request, self.max_body_bytes)
            except SyncError as error:
                response = Response.of(error.status, error.body())
            else:
                response = await handle(identity, body)
        except ClientDisconnect:
            return  # gone before its body arrived: nothing was applied, nobody to answer
        except Exception:
            # A bug in authenticate or the processor: the client gets the protocol's 500,
            # the log the traceback.
            log.exception("drizzlesync: request to %s failed", scope["path"])
            response = INTERNAL
        await _send(send, response.status, response.body, JSON_HEADERS)

    async def _health(self, scope: Scope, send: Send, ready: Callable[[], Awaitable[Response]]) -> None:
        if scope["method"] != "GET":
            await _send(send, 405, b"Method Not Allowed", [*TEXT_HEADERS, (b"allow", b"GET")])
            return
        try:
            response = await ready()
        except Exception:
            log.exception("drizzlesync: the readiness check failed")
            response = INTERNAL
        await _send(send, response.status, response.body, JSON_HEADERS)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        if self.lifespan is None:
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            await send({"type": "lifespan.shutdown.complete"})
            return
        started = False
        try:
            async with self.lifespan(self):
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()  # lifespan.shutdown
        except Exception as error:
            phase = "shutdown" if started else "startup"
            await send({"type": f"lifespan.{phase}.failed", "message": repr(error)})
            raise
        await send({"type": "lifespan.shutdown.complete"})


def _route_path(scope: Scope) -> str:
    """The path below where the app is mounted (`root_path`), as Starlette's router reads it, when
    the path as sent (`raw_path`) ends with it too: the Worker host routes on the URL's path as
    sent, not percent-decoded, so `/pul%6c` is no endpoint on either host."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        path = path[len(root) :]
    raw: bytes | None = scope.get("raw_path")
    if raw is not None and not raw.partition(b"?")[0].endswith(path.encode()):
        return ""
    return path


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    length = (b"content-length", str(len(body)).encode())
    if status == 503:
        # Every 503 is one to retry (a busy or unreachable database or key server, a database
        # the operator must put right): say when, for the client and any proxy in between.
        headers = [*headers, (b"retry-after", str(retry_after_seconds()).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": body})


def pool_lifespan(pool: AsyncConnectionPool[Any]) -> Lifespan:
    """A lifespan that opens `pool` at startup, waiting for its first connections, and closes it:
    for `create_app(..., lifespan=...)`, or the Starlette or FastAPI app that mounts the sync app."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await pool.open(wait=True)
        try:
            yield
        finally:
            await pool.close()

    return lifespan


def _in_thread_pool(call: Callable[[Identity | None, bytes], Response]) -> Handle:
    async def handle(identity: Identity | None, body: bytes) -> Response:
        return await run_in_threadpool(call, identity, body)

    return handle


async def _identity(authenticate: Authenticate, request: Request) -> Identity | None:
    result = authenticate(request)
    if inspect.isawaitable(result):
        return await result
    return result


def _check_content_type(header: str) -> None:
    """`application/json`, with parameters (`; charset=utf-8`) or without."""
    if header.partition(";")[0].strip().lower() != "application/json":
        raise unsupported_media_type(header)


def _check_content_encoding(header: str) -> None:
    """No `Content-Encoding`, or `identity`: the body is read as the bytes that came."""
    if header.strip().lower() not in ("", "identity"):
        raise unsupported_content_encoding(header)


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


def bearer_user_for_development(request: Request) -> Identity | None:
    """Trusts `Authorization: Bearer <user id>` as is: for `drizzlesync serve` on a laptop only."""
    # Two headers joined as the Worker host's `Headers.get` joins them, so both trust one user id.
    scheme, _, token = ", ".join(request.headers.getlist("authorization")).partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return Identity(token.strip())
