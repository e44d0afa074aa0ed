"""The two sync hosts, started the same way for the conformance tests and bench/worker.

`Settings` is the one statement of how both run (limits, CORS, scope query, auth);
`AsgiHost` serves it with uvicorn on 127.0.0.1 (the asyncio processor, as
`drizzlesync serve` runs it; tests/sync covers the thread-pool one), `WorkerHost` with workerd through
Miniflare (tests/conformance/worker/serve.mjs, one Node process reconfigured per
database). Each `serve(database_url)` answers a base URL.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import uvicorn
from psycopg_pool import AsyncConnectionPool

from alembic_drizzlesync import localdb
from alembic_drizzlesync.config import ConfigError
from alembic_drizzlesync.sync import AsyncSyncProcessor, Limits
from alembic_drizzlesync.sync.asgi import (
    Authenticate,
    bearer_user_for_development,
    create_app,
    pool_lifespan,
)
from alembic_drizzlesync.sync.cli import POOL_TIMEOUT_SECONDS
from alembic_drizzlesync.sync.tokens import JWTAuthenticator
from tests.sync.signing import AUDIENCE, ISSUER, SECRET

ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / "tests" / "conformance" / "worker" / "serve.mjs"
ORIGIN = "https://app.example.com"
CONFIGURED = "/__drizzlesync_configured"
"""entry.ts answers this path 204 once it made the handler, else 500 with createSyncHandler's error."""


@dataclass(frozen=True)
class Jwt:
    """Bearer JWTs from a shared secret (HS256) or a JWKS URL (RS256/ES256), issuer and audience checked."""

    secret: str | None = SECRET
    jwks_url: str | None = None
    issuer: str = ISSUER
    audience: str | None = AUDIENCE
    leeway_seconds: float = 30.0


@dataclass(frozen=True)
class Settings:
    """How both hosts are configured; `jwt=None` trusts `Bearer <user id>` (development mode)."""

    limits: Limits = Limits(max_body_bytes=64 * 1024, max_mutations=50)
    cors_origins: tuple[str, ...] = (ORIGIN,)
    jwt: Jwt | None = None

    def worker_config(self) -> dict[str, Any]:
        """createSyncHandler's options, as tests/conformance/worker/entry.ts reads them."""
        auth: Any = "dev"
        if self.jwt is not None:
            keys = (
                {"secret": self.jwt.secret} if self.jwt.secret is not None else {"jwksUrl": self.jwt.jwks_url}
            )
            auth = {
                **keys,
                "issuer": self.jwt.issuer,
                **({"audience": self.jwt.audience} if self.jwt.audience else {}),
                "leewaySeconds": self.jwt.leeway_seconds,
            }
        return {
            "auth": auth,
            "cors": {"origins": list(self.cors_origins)},
            "limits": {
                "maxBodyBytes": self.limits.max_body_bytes,
                "maxMutations": self.limits.max_mutations,
                "maxChanges": self.limits.max_changes,
            },
        }


class HostRefused(Exception):
    """The host will not serve with these settings (a configuration error), whichever host it is."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class AsgiHost:
    name = "asgi"

    @staticmethod
    def _jwt(jwt: Jwt) -> Authenticate:
        return JWTAuthenticator(
            secret=jwt.secret,
            jwks_url=jwt.jwks_url,
            issuer=jwt.issuer,
            audience=jwt.audience or (),
            leeway_seconds=jwt.leeway_seconds,
        )

    @contextmanager
    def serve(self, database_url: str, settings: Settings) -> Iterator[str]:
        try:
            authenticate = bearer_user_for_development if settings.jwt is None else self._jwt(settings.jwt)
        except ConfigError as error:
            raise HostRefused(str(error)) from None
        # No connection opened before the first request, as a test may set a database option
        # (lock_timeout) that only sessions opened after it get. A request waits for a connection
        # as long as under `drizzlesync serve`, then is 503.
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            localdb.libpq_url(database_url),
            min_size=0,
            max_size=16,
            kwargs={"autocommit": True},
            open=False,
            timeout=POOL_TIMEOUT_SECONDS,
        )
        processor = AsyncSyncProcessor(pool, limits=settings.limits)
        try:
            app = create_app(
                processor, authenticate, cors_origins=settings.cors_origins, lifespan=pool_lifespan(pool)
            )
        except ConfigError as error:  # an origin no browser sends, say
            raise HostRefused(str(error)) from None
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(5)


class WorkerHost:
    """One Node process running Miniflare; each `serve` points its Hyperdrive binding at a database."""

    name = "worker"

    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not on PATH: run scripts/test, or source scripts/bootstrap.sh")
        self._process = subprocess.Popen(
            [node, str(SERVE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
        )

    @contextmanager
    def serve(self, database_url: str, settings: Settings) -> Iterator[str]:
        database = localdb.hyperdrive_url(database_url)
        url = self._configure({"database": database, "config": settings.worker_config()})
        # A Worker makes its handler when the first request comes (entry.ts); this one asks for it
        # only, so that options createSyncHandler refuses are refused here, as the ASGI host's are.
        made = httpx.get(f"{url}{CONFIGURED}")
        if made.status_code != 204:
            raise HostRefused(made.text)
        yield url

    def _configure(self, line: dict[str, Any]) -> str:
        stdin, stdout = self._pipes()
        stdin.write(json.dumps(line) + "\n")
        stdin.flush()
        url = stdout.readline().strip()
        if not url:
            raise RuntimeError(f"Miniflare exited ({self._process.wait()}); see its output above")
        return url

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self._process.stdin is not None and self._process.stdout is not None
        return self._process.stdin, self._process.stdout

    def close(self) -> None:
        stdin, _ = self._pipes()
        stdin.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
