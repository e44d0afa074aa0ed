"""The ASGI app as users mount it: under a prefix of a parent app, with CORS and a body-size limit."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.routing import Mount

from alembic_drizzlesync.sync import Limits, SyncProcessor
from alembic_drizzlesync.sync.asgi import bearer_user_for_development, create_app
from tests.sync import seed

pytestmark = pytest.mark.anyio
EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"
ORIGIN = "https://app.example.com"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def parent(engine: Engine) -> Starlette:
    processor = SyncProcessor(engine, limits=Limits(max_body_bytes=2000))
    sync = create_app(processor, bearer_user_for_development, cors_origins=[ORIGIN])
    return Starlette(routes=[Mount("/api/sync", app=sync)])


@pytest.fixture
async def client(parent: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=parent), base_url="http://test") as c:
        yield c


@pytest.fixture
def alice(synced_db: str) -> str:
    with psycopg.connect(synced_db, autocommit=True) as db:
        user, team = seed.user(db, "alice"), seed.team(db, "A")
        seed.join(db, user, team)
        seed.todo(db, team, "hello")
    return user


PULL = {"protocol": 1, "schemaVersion": 1, "clientId": "browser", "cursor": None}


async def test_mounted_app_serves_pull(client: httpx.AsyncClient, alice: str) -> None:
    response = await client.post("/api/sync/pull", json=PULL, headers={"authorization": f"Bearer {alice}"})
    assert response.status_code == 200
    assert {c["table"] for c in response.json()["changes"]} == {"teams", "memberships", "todos"}


async def test_cors_preflight_and_response_headers(client: httpx.AsyncClient, alice: str) -> None:
    preflight = await client.options(
        "/api/sync/push",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    response = await client.post(
        "/api/sync/pull", json=PULL, headers={"authorization": f"Bearer {alice}", "origin": ORIGIN}
    )
    assert response.headers["access-control-allow-origin"] == ORIGIN
    stranger = await client.options(
        "/api/sync/push", headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
    )
    assert "access-control-allow-origin" not in stranger.headers


async def test_bodies_over_the_limit_are_413_even_when_streamed(
    client: httpx.AsyncClient, alice: str
) -> None:
    big = json.dumps({**PULL, "pad": "x" * 5000}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 500):
            yield big[start : start + 500]

    headers = {"authorization": f"Bearer {alice}", "content-type": "application/json"}
    declared = await client.post("/api/sync/push", content=big, headers=headers)
    streamed = await client.post("/api/sync/push", content=chunks(), headers=headers)
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "request_too_large"


async def test_requests_without_identity_are_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/sync/pull", json=PULL)
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "unauthenticated", "message": "sign in to sync"}}


def test_the_processor_itself_answers_401_without_identity_and_applies_nothing(
    processor: SyncProcessor, synced_db: str
) -> None:
    """Hosts other than the ASGI app call the processor directly: it must not trust them to check."""
    push = {
        "protocol": 1,
        "schemaVersion": 1,
        "clientId": "browser",
        "mutations": [
            {
                "id": 1,
                "tx": 1,
                "table": "teams",
                "op": "put",
                "pk": {"id": "00000000-0000-0000-0000-000000000001"},
                "values": {"name": "intruders"},
            }
        ],
    }
    for response in (
        processor.pull(None, json.dumps(PULL).encode()),
        processor.push(None, json.dumps(push).encode()),
    ):
        assert response.status == 401
        assert json.loads(response.body)["error"]["code"] == "unauthenticated"
    with psycopg.connect(synced_db) as db:
        assert db.execute("SELECT count(*) FROM teams").fetchone() == (0,)


@pytest.fixture
def example_app_module(monkeypatch: pytest.MonkeyPatch, synced_db: str) -> Iterator[ModuleType]:
    monkeypatch.setenv("DATABASE_URL", synced_db)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    import app.sync_server as module

    yield module
    for name in ("app.sync_server", "app"):
        sys.modules.pop(name, None)


async def test_the_example_project_serves_sync(example_app_module: ModuleType, alice: str) -> None:
    app = example_app_module.app
    transport = httpx.ASGITransport(app=app)  # which runs no lifespan: the test runs the app's
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as c,
    ):
        response = await c.post("/sync/pull", json=PULL, headers={"authorization": f"Bearer {alice}"})
    assert response.status_code == 200
    assert any(change["table"] == "todos" for change in response.json()["changes"])


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 200),
        ("application/json; charset=utf-8", 200),
        ("Application/JSON ; charset=UTF-8", 200),
        ("text/plain", 415),
        ("text/plain; charset=application/json", 415),
        ("application/x-www-form-urlencoded", 415),
        ("multipart/form-data; boundary=x", 415),
        ("application/jsonp", 415),
        (None, 415),
    ],
)
async def test_only_json_bodies_are_read(
    client: httpx.AsyncClient, alice: str, content_type: str | None, status: int
) -> None:
    """A form or text/plain POST is a "simple" cross-site request: it must never reach push or pull."""
    headers = {"authorization": f"Bearer {alice}"}
    if content_type is not None:
        headers["content-type"] = content_type
    for path in ("/api/sync/pull", "/api/sync/push"):
        push = {key: value for key, value in PULL.items() if key != "cursor"} | {"mutations": []}
        body = PULL if path.endswith("pull") else push
        response = await client.post(path, content=json.dumps(body).encode(), headers=headers)
        assert response.status_code == status, response.text
        if status == 415:
            assert response.json()["error"]["code"] == "unsupported_media_type"


async def test_a_client_gone_before_its_body_arrived_gets_no_answer_and_no_error_logged(
    engine: Engine, alice: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(SyncProcessor(engine), bearer_user_for_development)
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    headers = [(b"authorization", f"Bearer {alice}".encode()), (b"content-type", b"application/json")]
    scope = {"type": "http", "method": "POST", "path": "/pull", "root_path": "", "headers": headers}
    await app(scope, receive, send)
    assert sent == []
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


async def test_a_readiness_check_answers_at_its_path_without_an_identity(engine: Engine) -> None:
    """A load balancer's probe: 200 while the database answers, 503 with Retry-After while it does
    not. Without one, only a token a probe does not have reached the database (401 before it)."""
    unreachable = create_engine("postgresql+psycopg://postgres@127.0.0.1:9/none", pool_timeout=0.5)
    apps = {
        "up": create_app(SyncProcessor(engine), bearer_user_for_development, health_path="/health"),
        "down": create_app(SyncProcessor(unreachable), bearer_user_for_development, health_path="/health"),
    }
    parent = Starlette(routes=[Mount(f"/{name}", app=app) for name, app in apps.items()])
    transport = httpx.ASGITransport(app=parent)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        up = await http.get("/up/health")
        down = await http.get("/down/health")
        posted = await http.post("/up/health")
        without = await http.get("/up/health", headers={"origin": ORIGIN})
    unreachable.dispose()
    assert (up.status_code, up.json()) == (200, {"status": "ready"})
    assert (down.status_code, down.json()["error"]["code"]) == (503, "temporarily_unavailable")
    assert down.headers["retry-after"] == "1"
    assert (posted.status_code, posted.headers["allow"]) == (405, "GET")
    assert without.status_code == 200
    no_check = create_app(SyncProcessor(engine), bearer_user_for_development)  # opt-in: the Worker has none
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=no_check), base_url="http://t") as http:
        assert (await http.get("/health")).status_code == 404
