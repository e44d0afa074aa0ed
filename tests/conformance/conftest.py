"""The conformance suite: one set of HTTP expectations, run against every sync host.

Each test gets its own migrated database (the fixtures of tests/sync) and a host
serving it, once per host: the ASGI app under uvicorn and the Worker under workerd
(Miniflare). `server_url` is that host's base URL, so the protocol tests of
tests/sync that speak only HTTP run here unchanged, imported by the modules of
this folder. `jwt_url` serves the same database with bearer JWTs required.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conformance.hosts import AsgiHost, Jwt, Settings, WorkerHost
from tests.sync.conftest import alice_http, db, fixture_template, jwks, migrated_template, synced_db

__all__ = ["alice_http", "db", "fixture_template", "jwks", "migrated_template", "synced_db"]

HOSTS = ("asgi", "worker")


@pytest.fixture(scope="session")
def worker_host() -> Iterator[WorkerHost]:
    host = WorkerHost()
    yield host
    host.close()


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest) -> AsgiHost | WorkerHost:
    if request.param == "worker":
        worker: WorkerHost = request.getfixturevalue("worker_host")
        return worker
    return AsgiHost()


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def server_url(host: AsgiHost | WorkerHost, synced_db: str, settings: Settings) -> Iterator[str]:
    with host.serve(synced_db, settings) as url:
        yield url


@pytest.fixture
def jwt() -> Jwt:
    """How the hosts of `jwt_url` check tokens; tests override it (a JWKS URL)."""
    return Jwt()


@pytest.fixture
def jwt_url(host: AsgiHost | WorkerHost, synced_db: str, jwt: Jwt) -> Iterator[str]:
    with host.serve(synced_db, Settings(jwt=jwt)) as url:
        yield url


@pytest.fixture
def http(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url) as client:
        yield client
