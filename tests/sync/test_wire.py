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
from psycopg import sql
from sqlalchemy.engine import Engine

from alembic_drizzlesync.catalog import read_catalog
from alembic_drizzlesync.codegen.typemap import map_column
from alembic_drizzlesync.config import load_config
from alembic_drizzlesync.sync import Limits, SyncProcessor
from tests.sync.conftest import EXAMPLE

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
    spots point[],
    n smallint,
    ratio float8,
    flag boolean,
    title text,
    exact numeric,
    doc tsvector,
    cash money,
    span interval,
    naive timestamp,
    old timestamptz,
    ancient timestamptz,
    future timestamptz,
    forever timestamptz,
    year_zero timestamp,
    stamps timestamptz[],
    based text[]
);
SELECT drizzlesync.enable_sync('public', 'wire_values');
INSERT INTO wire_values VALUES
    (1, '12345678901234567890.5', 1.50, '(1.5,-2)', '{1,-1,0}',
     '{1.50,-0.000000001,NULL,123456789012345678901234567890.5}', '{a,"b, \\"c\\""}', '\\x00ff10',
     '2024-02-29 23:59:59.123+00', '{"(1,2)",NULL}',
     7, 0.1, true, 'x', '1.00499999999999999999', 'b:2 a:1', '92233720368547758.07', '1 day 02:03:04',
     '2024-02-29 23:59:59.123', '1880-01-01 12:00:00+00', '0044-03-15 12:00:00.005+00 BC',
     '10000-01-01 00:00:00.000001+00', 'infinity', '0001-06-01 00:00:00 BC',
     '{"2024-02-29 23:59:59+00","0044-03-15 00:00:00+00 BC",-infinity}', '[0:1]={x,y}'),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""
# The columns a round trip stores unchanged: all but `based`, whose lower bound the wire drops.
COLUMNS = (
    "amount, price, spot, edge, amounts, tags, blob, at, spots, n, ratio, flag, title, exact, doc, cash, "
    "span, naive, old, ancient, future, forever, year_zero, stamps"
)
# What the wire form may not depend on: the database's settings, as hostile as they come.
SETTINGS = {
    "timezone": "America/New_York",  # old dates would get offsets with seconds (-04:56:02)
    "datestyle": "SQL, DMY",
    "intervalstyle": "sql_standard",
    "extra_float_digits": "-3",
    "bytea_output": "escape",
}

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
    "n": ("int", None, 7),
    "ratio": ("float", None, 0.1),
    "flag": ("bool", None, True),
    "title": ("text", None, "x"),
    "exact": ("text", None, "1.00499999999999999999"),
    "doc": ("text", None, "'a':1 'b':2"),
    "cash": ("text", None, "92233720368547758.07"),
    "span": ("text", None, "1 day 02:03:04"),
    "naive": ("timestamp", None, "2024-02-29T23:59:59.123"),
    "old": ("timestamp", None, "1880-01-01T12:00:00+00:00"),
    "ancient": ("timestamp", None, "-000043-03-15T12:00:00.005Z"),
    "future": ("timestamp", None, "+010000-01-01T00:00:00.000001Z"),
    "forever": ("timestamp", None, "infinity"),
    "year_zero": ("timestamp", None, "0000-06-01T00:00:00.000Z"),
    "stamps": ("json", "string[]", ["2024-02-29 23:59:59+00", "0044-03-15 00:00:00+00 BC", "-infinity"]),
    "based": ("json", "string[]", ["x", "y"]),
}


BODY_LIMIT = Limits(max_body_bytes=1 << 20, max_mutations=50)
"""Bodies up to 1 MiB: the longest integer jsonb holds takes 128 KiB."""


@pytest.fixture
def processor(engine: Engine) -> SyncProcessor:
    return SyncProcessor.from_config(engine, load_config(EXAMPLE / "pyproject.toml"), BODY_LIMIT)


@pytest.fixture
def db(synced_db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(synced_db, autocommit=True) as conn:
        conn.execute(TABLE)
        for name, value in SETTINGS.items():  # for the hosts' connections, all opened later
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(conn.info.dbname), sql.Identifier(name), sql.Literal(value)
                )
            )
        yield conn


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


def test_pull_sends_the_codec_forms(alice_http: httpx.Client) -> None:
    rows = pulled_rows(alice_http)
    row = {**rows[1], "at": datetime.datetime.fromisoformat(rows[1]["at"])}
    assert row == {name: value for name, (_, _, value) in EXPECTED.items()}
    assert rows[2] == {name: (2 if name == "id" else None) for name in EXPECTED}


def test_a_column_added_later_travels_in_its_wire_form(
    alice_http: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    """Row images come from the catalog at pull time: no sync migration follows an ALTER TABLE."""
    db.execute("ALTER TABLE wire_values ADD COLUMN late numeric DEFAULT 0.10")
    assert pulled_rows(alice_http)[1]["late"] == "0.10"


@pytest.mark.parametrize("op", ["put", "patch"])
def test_pushing_pulled_values_stores_the_originals(
    alice_http: httpx.Client, db: psycopg.Connection[Any], op: str
) -> None:
    values = {k: v for k, v in pulled_rows(alice_http)[1].items() if k != "id"}
    assert push_one(alice_http, op, 2, values) == {"lastMutationId": 1, "rejected": []}
    assert stored(db, 2) == stored(db, 1)
    assert pulled_rows(alice_http)[2] == {**pulled_rows(alice_http)[1], "id": 2}


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
    alice_http: httpx.Client, db: psycopg.Connection[Any], op: str, values: dict[str, Any]
) -> None:
    before = stored(db, 1)
    rejected = push_one(alice_http, op, 1, values)["rejected"]
    assert [(r["id"], r["code"]) for r in rejected] == [(1, "invalid_value")]
    assert stored(db, 1) == before


def push_text(http: httpx.Client, values: str, op: str = "patch", row_id: int = 1) -> dict[str, Any]:
    """A push whose `values` are JSON text as written here: httpx would send Python's floats."""
    body = (
        '{"protocol": 1, "schemaVersion": 1, "clientId": "wire", "mutations": [{"id": 1, "tx": 1, '
        f'"table": "wire_values", "op": "{op}", "pk": {{"id": {row_id}}}, "values": {values}}}]}}'
    )
    response = http.post("/push", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def column(db: psycopg.Connection[Any], name: str, row_id: int = 1) -> str:
    row = db.execute(
        sql.SQL("SELECT {}::text FROM wire_values WHERE id = %s").format(sql.Identifier(name)), (row_id,)
    ).fetchone()
    assert row is not None
    return str(row[0])


def test_pushed_decoders_follow_the_type_map(db: psycopg.Connection[Any]) -> None:
    """Push checks each column against the codec the code generator gives it."""
    (table,) = [t for t in read_catalog(db, ["public"]).tables if t.name == "wire_values"]
    row = db.execute("SELECT drizzlesync.wire_decoders('wire_values')").fetchone()
    assert row is not None
    codecs = {"int": "int", "float": "float", "numeric": "text", "text": "text", "bool": "bool",
              "json": "json", "point": "json", "line": "json", "timestamp": "timestamp",
              "timestamptz": "timestamp", "bytes": "bytes"}  # fmt: skip
    pushed = {name: "json" if isinstance(kind, list) else codecs[kind] for name, kind in row[0].items()}
    assert pushed == {c.name: map_column(c, "date").codec for c in table.columns}


@pytest.mark.parametrize(
    ("values", "name", "stored_text"),
    [
        ('{"exact": 1.00499999999999999999}', "exact", "1.00499999999999999999"),
        ('{"exact": 1.10}', "exact", "1.10"),
        (
            '{"amount": 12345678901234567890.12345678901234567891}',
            "amount",
            "12345678901234567890.12345678901234567891",
        ),
        ('{"n": 7.0}', "n", "7"),
        ('{"n": 1e2}', "n", "100"),
        ('{"ratio": 1e-7}', "ratio", "1e-07"),
    ],
)
def test_numbers_are_stored_exactly(
    alice_http: httpx.Client, db: psycopg.Connection[Any], values: str, name: str, stored_text: str
) -> None:
    assert push_text(alice_http, values) == {"lastMutationId": 1, "rejected": []}
    assert column(db, name) == stored_text


UNSTORABLE_NUMBERS = (
    *("1e-16384", "1.5e-16383", "1e-99999999999999999999", "0." + "1" * 9000 + "e-9000"),
    *("0e1073741823", "-0.0e1073741824", "0e99999999999999999999", "1" * 131_073),
)
"""Numbers jsonb cannot hold: past 16,383 digits after the point, an exponent Postgres does not
read (even for a zero), past 131,072 digits before the point."""


def test_a_number_jsonb_cannot_hold_is_refused_at_its_path(
    alice_http: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    """Python reads 1e-16384 and 0e1073741823 as 0.0, a finite float, and the Worker host took an
    integer of any length; jsonb refuses each, which the hosts used to meet as a 500 when they cast
    the mutations to jsonb."""
    before = stored(db, 1)
    for literal in UNSTORABLE_NUMBERS:
        body = (
            '{"protocol": 1, "schemaVersion": 1, "clientId": "wire", "mutations": [{"id": 1, "tx": 1, '
            f'"table": "wire_values", "op": "patch", "pk": {{"id": 1}}, "values": {{"exact": {literal}}}}}]}}'
        )
        response = alice_http.post("/push", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, (literal, response.text)
        error = response.json()["error"]
        assert (error["code"], error["path"]) == ("invalid_number", "mutations[0].values.exact"), literal
    assert stored(db, 1) == before
    assert push_text(alice_http, '{"exact": 1e-16383}') == {"lastMutationId": 1, "rejected": []}
    assert column(db, "exact") == "0." + "0" * 16382 + "1"


@pytest.mark.parametrize("digits", [5_000, 131_072])
def test_an_integer_longer_than_python_reads_is_stored_exactly(
    alice_http: httpx.Client, db: psycopg.Connection[Any], digits: int
) -> None:
    """Python's int() reads at most 4,300 digits: the Python host answered a longer integer
    `malformed_json`, though the JSON is valid and a numeric column holds it exactly."""
    literal = "9" * digits
    assert push_text(alice_http, f'{{"exact": {literal}}}') == {"lastMutationId": 1, "rejected": []}
    assert column(db, "exact") == literal


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ('{"title": 1.10}', "values.title"),
        ('{"title": {"a": 1}}', "values.title"),
        ('{"title": ["x"]}', "values.title"),
        ('{"title": true}', "values.title"),
        ('{"doc": 5}', "values.doc"),
        ('{"cash": 5}', "values.cash"),
        ('{"n": 7.5}', "values.n"),
        ('{"n": "7"}', "values.n"),
        ('{"flag": "true"}', "values.flag"),
        ('{"ratio": "0.5"}', "values.ratio"),
        ('{"blob": "00ff"}', "values.blob"),
        ('{"blob": 255}', "values.blob"),
        ('{"at": 1709251199000}', "values.at"),
        ('{"tags": "{a,b}"}', "values.tags"),
        ('{"tags": ["a", 1]}', "values.tags"),
        ('{"stamps": [["2024-01-01 00:00:00+00"], [1709251199000]]}', "values.stamps"),
    ],
)
def test_values_of_another_kind_than_the_column_takes_are_rejected_with_their_path(
    alice_http: httpx.Client, db: psycopg.Connection[Any], values: str, path: str
) -> None:
    before = stored(db, 1)
    rejected = push_text(alice_http, values)["rejected"]
    assert [(r["id"], r["code"]) for r in rejected] == [(1, "invalid_value")]
    assert rejected[0]["message"].startswith(f"{path}: expected ")
    assert stored(db, 1) == before


@pytest.mark.parametrize(
    ("values", "name", "stored_utc"),
    [
        # A timestamp without time zone given an offset: its UTC wall time.
        ('{"naive": "2024-02-29T23:59:59+05:00"}', "naive", "2024-02-29 18:59:59"),
        ('{"naive": "2024-02-29T23:59:59.5Z"}', "naive", "2024-02-29 23:59:59.5"),
        # A pushed timestamp without a zone is UTC, whatever the server's TimeZone.
        ('{"at": "2024-02-29T23:59:59"}', "at", "2024-02-29 23:59:59+00"),
        ('{"at": "1880-01-01T12:00:00"}', "at", "1880-01-01 12:00:00+00"),
        # JavaScript's extended years, as toISOString writes them.
        ('{"at": "+010000-01-01T00:00:00.000Z"}', "at", "10000-01-01 00:00:00+00"),
        ('{"at": "-000043-03-15T00:00:00.000Z"}', "at", "0044-03-15 00:00:00+00 BC"),
        ('{"at": "0000-03-15T00:00:00.000Z"}', "at", "0001-03-15 00:00:00+00 BC"),
        ('{"naive": "-271820-01-01T00:00:00.000Z"}', "naive", None),  # before Postgres' range
        ('{"at": "-infinity"}', "at", "-infinity"),
    ],
)
def test_pushed_timestamps_are_read_as_the_wire_format_says(
    alice_http: httpx.Client, db: psycopg.Connection[Any], values: str, name: str, stored_utc: str | None
) -> None:
    rejected = push_text(alice_http, values)["rejected"]
    if stored_utc is None:
        assert [r["code"] for r in rejected] == ["invalid_value"]
        return
    assert rejected == []
    with db.transaction():
        db.execute("SET LOCAL timezone = 'UTC'")
        assert column(db, name) == stored_utc


def test_arrays_lose_their_lower_bounds(alice_http: httpx.Client, db: psycopg.Connection[Any]) -> None:
    """Documented in docs/codegen.md: a JSON array has no lower bound, so one pushed back starts at 1."""
    assert pulled_rows(alice_http)[1]["based"] == ["x", "y"]
    assert push_one(alice_http, "patch", 2, {"based": pulled_rows(alice_http)[1]["based"]})["rejected"] == []
    assert (column(db, "based", 1), column(db, "based", 2)) == ("[0:1]={x,y}", "{x,y}")
