"""A device syncing a table keyed by 64-bit ids past 2^53 (Snowflake-style), through a real
`drizzlesync serve` (runtime/test/integration/bigint-keys.ts). Postgres sends them as JSON numbers,
which JSON.parse rounded to doubles: 2^53 + 1 became 2^53, another ticket's id, so the device held
two tickets as one and its edit of one went to the other. The runtime now keeps such integers exact
from the page's text to SQLite and back into the push."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import psycopg
from alembic import command

from tests.plugin.revisions import write_revision

from .conftest import run_integration, serving
from .test_schema_change import build, first_build_with_a_member

Serve = Callable[[str], AbstractContextManager[str]]
"""A host on the database of the libpq URL given, as a context yielding its base URL."""

TICKETS = (
    '    op.create_table("tickets", sa.Column("id", sa.BigInteger(), primary_key=True),\n'
    '                    sa.Column("team_id", sa.Uuid(), nullable=False),\n'
    '                    sa.Column("title", sa.Text(), nullable=False))\n'
    '    op.enable_sync("tickets", scope="\'team:\' || team_id")\n'
    "    op.bump_sync_schema_version(2)"
)

BASE = 2**53
LARGEST = 2**63 - 1


def test_ids_past_2_53_reach_the_device_and_come_back_exactly(
    example_copy: Path, db_url: str, tmp_path: Path, node22: str
) -> None:
    ids_come_back_exactly(
        example_copy, db_url, tmp_path, node22, lambda url: serving(url, example_copy / "pyproject.toml")
    )


def ids_come_back_exactly(example_copy: Path, db_url: str, tmp_path: Path, node22: str, serve: Serve) -> None:
    """The scenario and its checks, through the host `serve` starts (tests/conformance: the Worker)."""
    alembic, _, url, user, team = first_build_with_a_member(example_copy, db_url, tmp_path / "build1")
    write_revision(example_copy, "tickets", TICKETS)
    command.upgrade(alembic, "head")
    generated = build(example_copy, tmp_path / "build2")
    ids = [BASE, BASE + 1, BASE + 2, BASE + 3, LARGEST]
    with psycopg.connect(url, autocommit=True) as db:
        for id_ in ids:
            db.execute("INSERT INTO tickets VALUES (%s, %s, %s)", (id_, team, f"ticket {id_}"))
    env = {
        "USER_ID": user,
        "TEAM_ID": team,
        "DB_FILE": str(tmp_path / "device.sqlite3"),
        "GENERATED": str(generated),
        "EDITED_ID": str(BASE + 1),
        "DELETED_ID": str(BASE + 2),
        "MADE_ID": str(BASE + 5),
    }
    with serve(url) as base:
        report = run_integration(node22, "bigint-keys", base, env)

    assert report["pulled"] == [{"id": str(id_), "title": f"ticket {id_}"} for id_ in ids]
    assert report["outbox"] == [
        {"op": "patch", "pk": f'{{"id":{BASE + 1}}}'},
        {"op": "delete", "pk": f'{{"id":{BASE + 2}}}'},
        {"op": "put", "pk": f'{{"id":{BASE + 5}}}'},
    ]
    assert report["rejected"] == []
    assert (report["state"], report["pending"]) == ("idle", 0)
    with psycopg.connect(url) as db:
        server = dict(db.execute("SELECT id, title FROM tickets ORDER BY id").fetchall())
    assert server == {
        BASE: f"ticket {BASE}",
        BASE + 1: "edited offline",
        BASE + 3: f"ticket {BASE + 3}",
        BASE + 5: "made offline",
        LARGEST: f"ticket {LARGEST}",
    }
    assert report["synced"] == [{"id": str(id_), "title": title} for id_, title in server.items()]
