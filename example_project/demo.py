"""The demo: migrate the example app with DrizzleSync and show what it installed.

Without DATABASE_URL it starts a throw-away embedded Postgres, so it runs on
a machine with nothing but Python.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from alembic_drizzlesync import localdb

HERE = Path(__file__).resolve().parent


def database() -> str:
    given = os.environ.get("DATABASE_URL")
    if given:
        return localdb.sqlalchemy_url(given).render_as_string(hide_password=False)
    print("DATABASE_URL not set: starting an embedded Postgres for this demo")
    server = localdb.start_embedded()
    return localdb.create_database(server, prefix="drizzlesync_demo")


def show(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        version = conn.execute(text("SELECT version FROM drizzlesync.installation")).scalar_one()
        schema_version = conn.execute(text("SELECT max(version) FROM drizzlesync.schema_version")).scalar()
        print(f"\nDrizzleSync objects: version {version}; client schema version {schema_version}")
        print("Synced tables (scope rule):")
        for row in conn.execute(
            text("SELECT schema_name, table_name, scope_rule FROM drizzlesync.synced_table ORDER BY 1, 2")
        ):
            print(f"  {row.schema_name}.{row.table_name:<12} {row.scope_rule or '(visible to every user)'}")
        triggers = conn.execute(
            text("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'drizzlesync_capture_%'")
        ).scalar_one()
        print(f"Capture triggers: {triggers}")

        team = conn.execute(text("INSERT INTO teams (name) VALUES ('Demo team') RETURNING id")).scalar_one()
        conn.execute(
            text("INSERT INTO todos (team_id, title) VALUES (:t, 'Try DrizzleSync'), (:t, 'Ship the PWA')"),
            {"t": team},
        )
        conn.execute(text("UPDATE todos SET done = true WHERE title = 'Try DrizzleSync'"))
    with engine.connect() as conn:
        print("\nChange log after three statements (dirty keys, not row images):")
        rows = conn.execute(
            text(
                "SELECT c.seq, s.table_name, c.op, c.pk, c.scope_after FROM drizzlesync.change_log c "
                "JOIN drizzlesync.synced_table s ON s.id = c.table_id ORDER BY c.seq"
            )
        )
        for row in rows:
            print(f"  #{row.seq} {row.table_name:<6} {row.op} pk={row.pk} scope={row.scope_after}")
    engine.dispose()


def main() -> int:
    url = database()
    os.environ["DATABASE_URL"] = url
    config = Config(str(HERE / "alembic.ini"))
    os.chdir(HERE)
    sys.path.insert(0, str(HERE))
    command.upgrade(config, "head")
    show(url)
    print(f"\nDatabase: {url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
