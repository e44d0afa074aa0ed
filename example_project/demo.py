"""The demo: the example app migrated, its client code generated, the PWA built and served.

Without DATABASE_URL it starts a throw-away embedded Postgres, so it runs on
a machine with nothing but Python. It then runs `alembic upgrade head`
(which installs change capture and regenerates web/src/db/generated/),
seeds users in teams, proves a push and a pull over HTTP, builds the PWA in
web/ (`vite build`, needs npm) and serves it on one origin with the sync
endpoints under /sync, until interrupted. `--check` instead drives the page
once in headless Chromium (sign in, add a todo, see it reach Postgres) and
exits non-zero when that fails. `--worker` answers /sync from the example
Worker under workerd (Miniflare, its Hyperdrive binding pointed at the same
database) instead of the Python host; the page stays on the one origin.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from alembic import command
from alembic.config import Config
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine, create_engine, text
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from alembic_drizzlesync import load_config, localdb
from alembic_drizzlesync.sync.asgi import pool_lifespan
from alembic_drizzlesync.sync.errors import temporarily_unavailable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WEB_DIST = HERE / "web" / "dist"
BROWSER_CHECK = ROOT / "tests" / "e2e" / "browser" / "check.mjs"
# Miniflare's runner of the conformance tests, given the example's development entry.
WORKER_SERVE = ROOT / "tests" / "conformance" / "worker" / "serve.mjs"
WORKER_ENTRY = HERE / "worker" / "src" / "dev.ts"
# What the one origin forwards to the Worker, both ways; hop-by-hop and length headers are the proxy's own.
FORWARDED_HEADERS = ("authorization", "content-type", "accept", "origin")
RETURNED_HEADERS = ("content-type", "cache-control", "retry-after")

# The seeded users: two share a team (two people, or one person's two devices), one is elsewhere.
USERS = (
    ("Ada Lovelace", "ada", ("Demo team",)),
    ("Grace Hopper", "grace", ("Demo team",)),
    ("Alan Turing", "alan", ("Other team",)),
)


def exit_on(*signals: signal.Signals) -> None:
    """End the process by `SystemExit` on these signals, so that the embedded Postgres is stopped.

    Their default action ends the process at once, without `finally` blocks
    or atexit handlers, leaving the server running. Repeats are ignored
    while the cleanup runs.
    """

    def stop(signum: int, frame: object) -> None:
        for each in signals:
            signal.signal(each, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    for each in signals:
        signal.signal(each, stop)


def database() -> str:
    given = os.environ.get("DATABASE_URL")
    if given:
        return localdb.sqlalchemy_url(given).render_as_string(hide_password=False)
    print("DATABASE_URL not set: starting an embedded Postgres for this demo")
    return localdb.create_database(localdb.start_embedded(), prefix="drizzlesync_demo")


def migrate(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.chdir(HERE)
    sys.path.insert(0, str(HERE))
    command.upgrade(Config(str(HERE / "alembic.ini")), "head")


def show_installation(engine: Engine, output: Path) -> int:
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version FROM drizzlesync.installation")).scalar_one()
        schema_version = conn.execute(
            text("SELECT max(version) FROM drizzlesync.schema_version")
        ).scalar_one()
        print(f"\nDrizzleSync objects: version {version}; client schema version {schema_version}")
        print("Synced tables (scope rule):")
        rows = conn.execute(
            text("SELECT schema_name, table_name, scope_rule FROM drizzlesync.synced_table ORDER BY 1, 2")
        )
        for row in rows:
            print(f"  {row.schema_name}.{row.table_name:<12} {row.scope_rule or '(every user)'}")
    print(f"Generated for the PWA, in {output.relative_to(HERE)}/:")
    for path in sorted(p for p in output.rglob("*") if p.is_file()):
        print(f"  {path.relative_to(output)}  ({path.stat().st_size:,} bytes)")
    return int(schema_version)


def seed(engine: Engine) -> list[dict[str, Any]]:
    """The users of USERS in their teams; returns them as the PWA's user picker lists them."""
    suffix = uuid.uuid4().hex[:6]  # a second run on the same database seeds new users beside the old
    seeded: list[dict[str, Any]] = []
    with engine.begin() as conn:
        teams: dict[str, str] = {}
        for name, handle, team_names in USERS:
            email = f"{handle}-{suffix}@example.com"
            user = conn.execute(
                text("INSERT INTO users (email, name) VALUES (:e, :n) RETURNING id"), {"e": email, "n": name}
            ).scalar_one()
            for team_name in team_names:
                if team_name not in teams:
                    insert_team = text("INSERT INTO teams (name) VALUES (:n) RETURNING id")
                    teams[team_name] = str(conn.execute(insert_team, {"n": team_name}).scalar_one())
                    conn.execute(
                        text("INSERT INTO todos (team_id, title) VALUES (:t, 'Try the demo')"),
                        {"t": teams[team_name]},
                    )
                conn.execute(
                    text("INSERT INTO memberships (user_id, team_id) VALUES (:u, :t)"),
                    {"u": user, "t": teams[team_name]},
                )
            seeded.append(
                {"id": str(user), "name": name, "email": email, "teams": list(team_names),
                 "teamIds": [teams[t] for t in team_names]}
            )  # fmt: skip
    return seeded


def build_pwa() -> None:
    """`vite build` of web/ (after the runtime package it imports), through the npm workspace."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm not found: scripts/demo puts Node 22 on PATH (scripts/bootstrap.sh)")
    print("\nBuilding the PWA (npm run build:web) ...")
    # npm runs the build through a shell, tsc and vite: in a session of its own, so that a demo
    # stopped mid-build (a signal, Ctrl-C) ends the whole group rather than only npm.
    build = subprocess.Popen(
        [npm, "run", "--silent", "build:web"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = build.communicate()
    except BaseException:
        os.killpg(build.pid, signal.SIGTERM)
        build.wait()
        raise
    if build.returncode != 0:
        raise SystemExit(f"building the PWA failed:\n{stdout}\n{stderr}")


class WorkerSync:
    """The example Worker (worker/src/dev.ts) under workerd through Miniflare, one Node process;
    its Hyperdrive binding points at the demo's database. `close` ends the process."""

    def __init__(self, database_url: str) -> None:
        node = shutil.which("node")
        if node is None:
            raise SystemExit("node not found: scripts/demo puts Node 22 on PATH (scripts/bootstrap.sh)")
        print("\nStarting the example Worker under workerd (Miniflare) ...")
        self.process = subprocess.Popen(
            [node, str(WORKER_SERVE), str(WORKER_ENTRY)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        # serve.mjs reads one configuration per line and answers the URL the Worker listens on.
        line = {"database": localdb.hyperdrive_url(database_url), "config": {}}
        self.process.stdin.write(json.dumps(line) + "\n")
        self.process.stdin.flush()
        self.url = self.process.stdout.readline().strip()
        if not self.url:
            raise SystemExit(f"the Worker did not start (exit status {self.process.wait()}); see above")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()  # serve.mjs disposes of Miniflare when its stdin ends
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def forward_to(base: str) -> ASGIApp:
    """/sync/* passed on to the Worker at `base` as it is, so that the PWA keeps one origin.

    A proxy, not a second host: the Worker answers every request, errors included; only an
    unreachable Worker is answered here (503 `temporarily_unavailable`, which clients retry).
    """
    client = httpx.AsyncClient(base_url=base, timeout=30)

    async def forward(request: Request) -> Response:
        headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
        outgoing = client.build_request(
            request.method, request.url.path, headers=headers, content=request.stream()
        )
        try:
            answer = await client.send(outgoing, stream=True)
        except httpx.TransportError as error:
            refusal = temporarily_unavailable(f"the Worker did not answer ({error}); retry")
            return JSONResponse(refusal.body(), status_code=refusal.status)
        kept = {name: answer.headers[name] for name in RETURNED_HEADERS if name in answer.headers}
        return StreamingResponse(
            answer.aiter_bytes(),  # decoded: httpx asked for gzip, the browser did not
            status_code=answer.status_code,
            headers=kept,
            background=BackgroundTask(answer.aclose),
        )

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST", "OPTIONS"])])


def demo_app(
    url: str, users: list[dict[str, Any]], sync: ASGIApp | None = None, web_dist: Path = WEB_DIST
) -> Starlette:
    """One origin: the sync endpoints under /sync (the Python host's unless `sync` is given), the
    seeded users at /demo/users, the PWA at / (the build in `web_dist`)."""
    from app.sync_server import sync_app

    listed = [{key: user[key] for key in ("id", "name", "email", "teams")} for user in users]

    async def demo_users(_: Request) -> JSONResponse:
        return JSONResponse(listed)

    lifespan = None
    if sync is None:
        # The Python host's pool, opened and closed by this app's lifespan (a mounted app's is not run).
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            localdb.libpq_url(url), min_size=1, max_size=8, kwargs={"autocommit": True}, open=False
        )
        sync, lifespan = sync_app(pool), pool_lifespan(pool)
    return Starlette(
        routes=[
            Mount("/sync", app=sync),
            Route("/demo/users", demo_users),
            Mount("/", app=StaticFiles(directory=web_dist, html=True)),
        ],
        lifespan=lifespan,
    )


def serve_in_background(app: Starlette, port: int) -> uvicorn.Server:
    """The demo's one origin, on a thread."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server


def prove_sync(base: str, user: str, team: str, schema_version: int) -> None:
    """One push and one pull, as the generated client would send them."""
    headers = {"authorization": f"Bearer {user}"}
    envelope: dict[str, Any] = {"protocol": 1, "schemaVersion": schema_version, "clientId": "demo-client"}
    todo = {"id": str(uuid.uuid4()), "team_id": team, "title": "Try DrizzleSync", "done": False}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        push = http.post(
            "/push",
            json={
                **envelope,
                "mutations": [
                    {
                        "id": 1,
                        "tx": 1,
                        "table": "todos",
                        "op": "put",
                        "pk": {"id": todo["id"]},
                        "values": todo,
                    }
                ],
            },
        )
        print(f"\nPOST /sync/push -> {push.status_code} {push.json()}")
        push.raise_for_status()
        pull = http.post("/pull", json={**envelope, "cursor": None, "limit": 100})
        pull.raise_for_status()
        body = pull.json()
        print(
            f"POST /sync/pull -> {pull.status_code}, {len(body['changes'])} changes, lastMutationId "
            f"{body['lastMutationId']}, hasMore {body['hasMore']}"
        )
        for change in body["changes"]:
            print(f"  {change['op']:<6} {change['table']:<11} {change.get('row') or change.get('pk')}")


def check_in_browser(engine: Engine, origin: str, user: dict[str, Any]) -> bool:
    """Headless Chromium signs in as `user` and adds a todo; true once that todo is in Postgres."""
    title = f"Added in the browser {uuid.uuid4().hex[:8]}"
    node = shutil.which("node")
    if node is None:
        print("node not found: the browser check needs Node 22 (scripts/bootstrap.sh)")
        return False
    print(f"\nChecking the PWA in headless Chromium as {user['email']} ...")
    result = subprocess.run(
        [node, str(BROWSER_CHECK), origin, user["email"], title], capture_output=True, text=True, timeout=90
    )
    print(result.stdout.rstrip())
    if result.returncode != 0:
        print(result.stderr.rstrip())
        return False
    with engine.connect() as conn:
        found = conn.execute(text("SELECT team_id::text FROM todos WHERE title = :t"), {"t": title}).scalar()
    print(f"Postgres: todo {title!r} {'is in team ' + found if found else 'is missing'}")
    return found in user["teamIds"]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument(
        "--check", action="store_true", help="drive the PWA once in headless Chromium; non-zero on failure"
    )
    parser.add_argument("--no-build", action="store_true", help="serve web/dist as it is (no `vite build`)")
    parser.add_argument(
        "--worker", action="store_true", help="answer /sync from the example Worker under workerd"
    )
    args = parser.parse_args()

    exit_on(signal.SIGTERM, signal.SIGHUP)
    url = database()
    migrate(url)
    engine = create_engine(url)
    config = load_config(HERE / "pyproject.toml")
    assert config.output is not None
    schema_version = show_installation(engine, config.output)
    users = seed(engine)
    if not args.no_build:
        build_pwa()
    if not (WEB_DIST / "index.html").exists():
        raise SystemExit(f"{WEB_DIST} holds no build: run without --no-build")
    worker = WorkerSync(url) if args.worker else None
    try:
        return serve(args, engine, url, users, schema_version, worker)
    finally:
        if worker is not None:
            worker.close()
        engine.dispose()


def serve(
    args: argparse.Namespace,
    engine: Engine,
    url: str,
    users: list[dict[str, Any]],
    schema_version: int,
    worker: WorkerSync | None,
) -> int:
    """Serves the one origin until Ctrl-C, or once through the browser check with --check."""
    sync = None if worker is None else forward_to(worker.url)
    server = serve_in_background(demo_app(url, users, sync), args.port)
    origin = f"http://127.0.0.1:{args.port}"
    prove_sync(f"{origin}/sync", users[0]["id"], users[0]["teamIds"][0], schema_version)
    host = "the Python host" if worker is None else f"the example Worker under workerd, {worker.url}"
    print(f"\nThe PWA: {origin}/   (sync at {origin}/sync, answered by {host})")
    print("Seeded users (the dev auth trusts `Authorization: Bearer <user id>`; the page lists them):")
    for user in users:
        print(f"  {user['name']:<13} {user['email']:<26} {', '.join(user['teams']):<11} {user['id']}")
    ok = True
    if args.check:
        ok = check_in_browser(engine, origin, users[0])
        print("Browser check: " + ("passed" if ok else "FAILED"))
    else:
        print("Ctrl-C stops.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    server.should_exit = True
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
