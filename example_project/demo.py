"""The demo: the example app migrated, its client code generated, and sync served.

Without DATABASE_URL it starts a throw-away embedded Postgres, so it runs on
a machine with nothing but Python. It then runs `alembic upgrade head`
(which installs change capture and regenerates web/src/db/generated/),
seeds a user in a team, proves a push and a pull over HTTP, and serves
/sync/push and /sync/pull until interrupted (`--check` stops after the proof).
"""

from __future__ import annotations

import argparse
import os
import signal
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
from sqlalchemy import Engine, create_engine, text

from alembic_drizzlesync import load_config, localdb

HERE = Path(__file__).resolve().parent


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


def seed(engine: Engine) -> tuple[str, str]:
    """A user who is a member of one team; returns (user id, team id)."""
    with engine.begin() as conn:
        user = conn.execute(
            text("INSERT INTO users (email, name) VALUES (:e, 'Demo User') RETURNING id"),
            {"e": f"demo-{uuid.uuid4().hex[:8]}@example.com"},
        ).scalar_one()
        team = conn.execute(text("INSERT INTO teams (name) VALUES ('Demo team') RETURNING id")).scalar_one()
        conn.execute(
            text("INSERT INTO memberships (user_id, team_id) VALUES (:u, :t)"), {"u": user, "t": team}
        )
    return str(user), str(team)


def serve_in_background(url: str, port: int) -> uvicorn.Server:
    """The example app's own sync server (app/sync_server.py), on a thread."""
    from app.sync_server import build

    server = uvicorn.Server(uvicorn.Config(build(url), host="127.0.0.1", port=port, log_level="warning"))
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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--check", action="store_true", help="stop after proving push and pull")
    args = parser.parse_args()

    exit_on(signal.SIGTERM, signal.SIGHUP)
    url = database()
    migrate(url)
    engine = create_engine(url)
    config = load_config(HERE / "pyproject.toml")
    assert config.output is not None
    schema_version = show_installation(engine, config.output)
    user, team = seed(engine)
    server = serve_in_background(url, args.port)
    base = f"http://127.0.0.1:{args.port}/sync"
    prove_sync(base, user, team, schema_version)
    if not args.check:
        print(f"\nServing {base}/push and {base}/pull (Authorization: Bearer {user}); Ctrl-C stops.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    server.should_exit = True
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
