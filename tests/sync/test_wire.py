"""Wire values: a pull sends what the generated codecs expect, and pushing that back stores the original.

The codec and SQLite type of every column are taken from the code
generator's type map, so that a change on either side fails here.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from alembic_drizzlesync.catalog import read_catalog
from alembic_drizzlesync.codegen.typemap import map_column
from tests.sync import seed

TABLE = """
CREATE TABLE wire_values (
    id integer PRIMARY KEY,
    amount numeric(40, 20),
    price numeric,
    spot point,
    edge line,
    amounts numeric[],
    tags text[],
    blob bytea,
    at timestamptz,
    spots point[]
);
SELECT drizzlesync.enable_sync('public', 'wire_values');
INSERT INTO wire_values VALUES
    (1, '12345678901234567890.5', 1.50, '(1.5,-2)', '{1,-1,0}',
     '{1.50,-0.000000001,NULL,123456789012345678901234567890.5}', '{a,"b, \\"c\\""}', '\\x00ff10',
     '2024-02-29 23:59:59.123+00', '{"(1,2)",NULL}'),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""
COLUMNS = "amount, price, spot, edge, amounts, tags, blob, at, spots"

# Per column: the codec and SQLite type the code generator gives it, and its wire value.
EXPECTED: dict[str, tuple[str, str | None, Any]] = {
    "id": ("int", None, 1),
    "amount": ("text", None, "12345678901234567890.50000000000000000000"),
    "price": ("text", None, "1.50"),
    "spot": ("json", "{ x: number; y: number }", {"x": 1.5, "y": -2}),
    "edge": ("json", "{ a: number; b: number; c: number }", {"a": 1, "b": -1, "c": 0}),
    "amounts": ("json", "string[]", ["1.50", "-0.000000001", None, "123456789012345678901234567890.5"]),
    "tags": ("json", "string[]", ["a", 'b, "c"']),
    "blob": ("bytes", None, "\\x00ff10"),
    "at": ("timestamp", None, datetime.datetime(2024, 2, 29, 23, 59, 59, 123000, tzinfo=datetime.UTC)),
    "spots": ("json", "{ x: number; y: number }[]", [{"x": 1, "y": 2}, None]),
}


@pytest.fixture
def db(synced_db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(synced_db, autocommit=True) as conn:
        conn.execute(TABLE)
        yield conn


@pytest.fixture
def http(server_url: str, db: psycopg.Connection[Any]) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {seed.user(db, 'alice')}"}
    with httpx.Client(base_url=server_url, headers=headers) as client:
        yield client


def request(http: httpx.Client, path: str, **body: Any) -> dict[str, Any]:
    response = http.post(path, json={"protocol": 1, "schemaVersion": 1, "clientId": "wire", **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def push_one(http: httpx.Client, op: str, row_id: int, values: dict[str, Any]) -> dict[str, Any]:
    mutation = {"id": 1, "tx": 1, "table": "wire_values", "op": op, "pk": {"id": row_id}, "values": values}
    return request(http, "/push", mutations=[mutation])


def pulled_rows(http: httpx.Client) -> dict[int, dict[str, Any]]:
    changes = request(http, "/pull", cursor=None, limit=1000)["changes"]
    return {c["row"]["id"]: c["row"] for c in changes if c["table"] == "wire_values"}


def stored(db: psycopg.Connection[Any], row_id: int) -> str:
    row = db.execute(f"SELECT ({COLUMNS})::text FROM wire_values WHERE id = %s", (row_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_codegen_assigns_the_codecs_this_test_expects(db: psycopg.Connection[Any]) -> None:
    (table,) = [t for t in read_catalog(db, ["public"]).tables if t.name == "wire_values"]
    mappings = {c.name: map_column(c, "date") for c in table.columns}
    assert {name: (m.codec, m.sqlite_type) for name, m in mappings.items()} == {
        name: (codec, sqlite_type) for name, (codec, sqlite_type, _) in EXPECTED.items()
    }


def test_pull_sends_the_codec_forms(http: httpx.Client) -> None:
    rows = pulled_rows(http)
    row = {**rows[1], "at": datetime.datetime.fromisoformat(rows[1]["at"])}
    assert row == {name: value for name, (_, _, value) in EXPECTED.items()}
    assert rows[2] == {name: (2 if name == "id" else None) for name in EXPECTED}


def test_a_column_added_later_travels_in_its_wire_form(
    http: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    """Row images come from the catalog at pull time: no sync migration follows an ALTER TABLE."""
    db.execute("ALTER TABLE wire_values ADD COLUMN late numeric DEFAULT 0.10")
    assert pulled_rows(http)[1]["late"] == "0.10"


@pytest.mark.parametrize("op", ["put", "patch"])
def test_pushing_pulled_values_stores_the_originals(
    http: httpx.Client, db: psycopg.Connection[Any], op: str
) -> None:
    values = {k: v for k, v in pulled_rows(http)[1].items() if k != "id"}
    assert push_one(http, op, 2, values) == {"lastMutationId": 1, "rejected": []}
    assert stored(db, 2) == stored(db, 1)
    assert pulled_rows(http)[2] == {**pulled_rows(http)[1], "id": 2}


@pytest.mark.parametrize("op", ["put", "patch"])
@pytest.mark.parametrize(
    "values",
    [
        {"spot": "(1,2)"},
        {"spot": {"x": 1}},
        {"spot": {"x": 1, "y": "2)"}},
        {"edge": {"a": 1, "b": 2, "c": 3, "d": 4}},
        {"spots": [[1, 2]]},
        {"amount": "1.5x"},
    ],
)
def test_bad_values_are_rejected(
    http: httpx.Client, db: psycopg.Connection[Any], op: str, values: dict[str, Any]
) -> None:
    before = stored(db, 1)
    rejected = push_one(http, op, 1, values)["rejected"]
    assert [(r["id"], r["code"]) for r in rejected] == [(1, "invalid_value")]
    assert stored(db, 1) == before
