"""Pull responses are written in one JSON formatting, compact, as hosts pass them through untouched."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from alembic_drizzlesync.sync import Identity, SyncProcessor
from tests.sync import seed


def pull(processor: SyncProcessor, user: str, cursor: str | None) -> bytes:
    body = {"protocol": 1, "schemaVersion": 1, "clientId": "tablet", "cursor": cursor, "limit": 100}
    response = processor.pull(Identity(user), json.dumps(body).encode())
    assert response.status == 200, response.body
    return response.body


def compact(body: bytes) -> bytes:
    return json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()


def test_snapshot_and_window_pages_with_upserts_and_deletes_are_compact(
    db: psycopg.Connection[Any], processor: SyncProcessor
) -> None:
    alice, team = seed.member(db, "alice", "A")
    kept, deleted = seed.todo(db, team, "kept, with a comma"), seed.todo(db, team, "deleted")
    bootstrap = pull(processor, alice, None)
    assert bootstrap == compact(bootstrap)
    assert len(json.loads(bootstrap)["changes"]) == 4

    db.execute("UPDATE todos SET done = true WHERE id = %s", (kept,))
    db.execute("DELETE FROM todos WHERE id = %s", (deleted,))
    window = pull(processor, alice, json.loads(bootstrap)["cursor"])
    assert window == compact(window)
    assert sorted(c["op"] for c in json.loads(window)["changes"]) == ["delete", "upsert"]
