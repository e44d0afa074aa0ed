"""A pulled delete names its row as the row's upserts did (library version 24).

The change log keeps a key as the writing session's `to_jsonb` printed it:
a numeric as a JSON number, a timestamptz in the writer's TimeZone, money
with its currency sign, an interval in the writer's IntervalStyle, bytea in
its bytea_output. A client matches a delete to its row by the decoded key, so
a delete that named the row otherwise left it on the device for good.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.sync import seed

TABLE = """
CREATE TABLE keyed (
    amount numeric(12, 2),
    at timestamptz,
    span interval,
    blob bytea,
    cash money,
    label text,
    PRIMARY KEY (amount, at, span, blob, cash)
);
SELECT drizzlesync.enable_sync('public', 'keyed');
CREATE TABLE plain_keyed (id integer, tag text, PRIMARY KEY (id, tag));
SELECT drizzlesync.enable_sync('public', 'plain_keyed');
INSERT INTO keyed VALUES
    (2.50, '2024-03-01 00:00:00+00', '1 day 02:03:04', '\\x00ff', '12.34', 'today'),
    (-0.10, '1880-01-01 12:00:00+00', '-3 months', '\\x', '0', 'old'),
    (7, '0044-03-15 12:00:00+00 BC', '0', '\\x41', '-1.5', 'ancient');
INSERT INTO plain_keyed VALUES (1, 'a');
"""
# A writer's settings under which to_jsonb prints each key column otherwise than the wire does.
WRITER = (
    "SET TimeZone = 'America/New_York'",  # offsets of -05:00, and -04:56:02 in 1880
    "SET IntervalStyle = 'postgres_verbose'",
    "SET bytea_output = 'escape'",
    "SET lc_monetary = 'C'",
)


@pytest.fixture
def db(synced_db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(synced_db, autocommit=True) as conn:
        conn.execute(TABLE)
        yield conn


def pull(http: httpx.Client, cursor: str | None) -> dict[str, Any]:
    body = {"protocol": 1, "schemaVersion": 1, "clientId": "keys", "cursor": cursor, "limit": 1000}
    response = http.post("/pull", json=body)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    assert not page["hasMore"]
    return page


KEYS = {"keyed": ("amount", "at", "span", "blob", "cash"), "plain_keyed": ("id", "tag")}


def test_a_delete_names_the_row_as_its_upsert_did(
    alice_http: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    bootstrap = pull(alice_http, None)
    upserted = sorted(
        (c["table"], json.dumps({name: c["row"][name] for name in KEYS[c["table"]]}, sort_keys=True))
        for c in bootstrap["changes"]
        if c["table"] in KEYS
    )
    assert len(upserted) == 4
    for setting in WRITER:
        db.execute(setting)
    db.execute("DELETE FROM keyed")
    db.execute("DELETE FROM plain_keyed")
    deleted = sorted(
        (c["table"], json.dumps(c["pk"], sort_keys=True))
        for c in pull(alice_http, bootstrap["cursor"])["changes"]
        if c["op"] == "delete"
    )
    assert deleted == upserted


def test_a_delete_of_a_plain_key_sends_the_logged_key_as_it_is(db: psycopg.Connection[Any]) -> None:
    """Integers, text, uuids, booleans and enums print the same in every session: their tables'
    page query, and so their page function, stays version 23's."""
    queries = dict(
        db.execute(
            "SELECT s.table_name, drizzlesync.page_query(s) FROM drizzlesync.synced_table AS s"
            " WHERE s.table_name IN ('keyed', 'plain_keyed', 'todos')"
        ).fetchall()
    )
    assert "drizzlesync.change($6, NULL, k.pk, false)" in queries["todos"]
    assert "drizzlesync.change($6, NULL, k.pk, false)" in queries["plain_keyed"]
    assert "drizzlesync.change($6, NULL, k.pk, false)" not in queries["keyed"]


def test_rows_of_a_lost_scope_leave_by_the_keys_they_came_with(
    server_url: str, db: psycopg.Connection[Any]
) -> None:
    """The user leaves a team in the middle of a bootstrap: the pages after it send the team's rows
    as deletes, keyed from the rows themselves, and the device is left with none."""
    db.execute("CREATE TABLE ledger (amount numeric(12, 2) PRIMARY KEY, team_id uuid NOT NULL)")
    db.execute("SELECT drizzlesync.enable_sync('public', 'ledger', $$'team:' || team_id$$)")
    alice, team = seed.member(db, "alice", "A")
    db.execute("INSERT INTO ledger SELECT i + 0.5, %s FROM generate_series(1, 6) AS i", (team,))
    held: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    left = False
    with httpx.Client(base_url=server_url, headers={"authorization": f"Bearer {alice}"}) as http:
        while True:
            body = {"protocol": 1, "schemaVersion": 1, "clientId": "keys", "cursor": cursor, "limit": 2}
            response = http.post("/pull", json=body)
            assert response.status_code == 200, response.text
            page = response.json()
            for change in page["changes"]:
                if change["table"] != "ledger":
                    continue
                if change["op"] == "upsert":
                    held[json.dumps({"amount": change["row"]["amount"]})] = change["row"]
                else:
                    held.pop(json.dumps(change["pk"]), None)
            if held and not left:
                seed.leave(db, alice, team)
                left = True
            cursor = page["cursor"]
            if not page["hasMore"]:
                break
    assert left
    assert held == {}
