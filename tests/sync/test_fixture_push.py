"""Push into the broad fixture schema (tests/codegen/fixture.sql), every table synced, unscoped.

NOT NULL domains with defaults, a partitioned table with rows, and hostile
values for every column of every table: a well-formed batch is answered
200, its bad mutations rejected one by one, never 500 (a bug) or 503 (which
the client would retry forever), and the next batch applies as usual.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests.sync.conftest import copy_of


@pytest.fixture
def synced_db(pg_server: str, fixture_template: str) -> Iterator[str]:
    yield from copy_of(pg_server, fixture_template)


@pytest.fixture
def http(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, headers={"authorization": "Bearer fixture-user"}) as client:
        yield client


class Client:
    """One device's outbox: each `push` sends its mutations as one batch, one tx each unless told."""

    def __init__(self, http: httpx.Client, client_id: str) -> None:
        self.http = http
        self.client_id = client_id
        self.next_id = 1

    def push(self, *mutations: dict[str, Any], tx: int | None = None) -> httpx.Response:
        numbered = []
        for mutation in mutations:
            numbered.append({"id": self.next_id, "tx": self.next_id if tx is None else tx, **mutation})
            self.next_id += 1
        body = {"protocol": 1, "schemaVersion": 1, "clientId": self.client_id, "mutations": numbered}
        return self.http.post("/push", json=body)

    def accepted(self, *mutations: dict[str, Any], tx: int | None = None) -> dict[str, str]:
        """Push; the 200 response's rejections as {id offset in this batch: code}."""
        first = self.next_id
        response = self.push(*mutations, tx=tx)
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["lastMutationId"] == self.next_id - 1
        return {str(r["id"] - first): r["code"] for r in result["rejected"]}


def mutation(table: str, op: str, pk: dict[str, Any], **values: Any) -> dict[str, Any]:
    return {"table": table, "op": op, "pk": pk, **({} if op == "delete" else {"values": values})}


def labelled(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return db.execute("SELECT id, label, hits, note FROM labelled ORDER BY id").fetchall()


def test_not_null_domains_reject_single_mutations_and_read_only_named_columns(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    db.execute("INSERT INTO labelled (id, label, hits) VALUES (1, 'one', 1)")
    db.execute("INSERT INTO label_refs VALUES (1, 1)")
    client = Client(http, "domains")
    rejected = client.accepted(
        mutation("labelled", "patch", {"id": 2}, note="no such row"),
        mutation("labelled", "put", {"id": 3}, label="far too long"),
        mutation("labelled", "put", {"id": 4}, label="bad"),
        mutation("labelled", "put", {"id": 5}, hits=None),
        mutation("labelled", "delete", {"id": 1}),
        mutation("labelled", "put", {"id": 0}, note="a key its domain refuses"),
        mutation("labelled", "put", {"id": 6}, hits=-1),
    )
    assert rejected == {
        "0": "not_found",
        "1": "invalid_value",
        "2": "constraint_violation",
        "3": "constraint_violation",
        "4": "constraint_violation",
        "5": "constraint_violation",
        "6": "constraint_violation",
    }
    assert labelled(db) == [(1, "one", 1, None)]

    # One by one (a put among the patches): a put leaving out defaulted columns, valid patches.
    assert (
        client.accepted(
            mutation("labelled", "put", {"id": 7}, note="defaults"),
            mutation("labelled", "patch", {"id": 1}, note="patched"),
            mutation("labelled", "patch", {"id": 7}, hits=2),
            mutation("labelled", "put", {"id": 1}, hits=5),
        )
        == {}
    )
    assert labelled(db) == [(1, "one", 5, "patched"), (7, "label", 2, "defaults")]

    # The batched path: patches only, of one table.
    assert (
        client.accepted(
            mutation("labelled", "patch", {"id": 1}, label="uno"),
            mutation("labelled", "patch", {"id": 7}, note=None),
        )
        == {}
    )
    assert labelled(db) == [(1, "uno", 5, "patched"), (7, "label", 2, None)]

    pulled = http.post(
        "/pull", json={"protocol": 1, "schemaVersion": 1, "clientId": "domains", "cursor": None, "limit": 100}
    )
    assert pulled.status_code == 200, pulled.text
    rows = {c["row"]["id"] for c in pulled.json()["changes"] if c["table"] == "labelled"}
    assert rows == {1, 7}


def test_puts_into_a_partitioned_table_insert_and_update(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    db.execute("""INSERT INTO events VALUES (1, '2024-03-01T00:00:00Z', '{"v": 1}')""")
    at = "2024-03-01T00:00:00+00:00"
    client = Client(http, "partitions")
    rejected = client.accepted(
        mutation("events", "put", {"id": 1, "at": at}, payload={"v": 2}),
        mutation("events", "put", {"id": 2, "at": "2024-06-30T12:00:00+00:00"}, payload=None),
        mutation("events", "put", {"id": 3, "at": "2031-01-01T00:00:00+00:00"}, payload={}),
        mutation("events", "patch", {"id": 2, "at": "2024-06-30T12:00:00+00:00"}, payload={"v": 3}),
    )
    assert rejected == {"2": "constraint_violation"}  # no partition holds 2031
    rows = db.execute("SELECT id, payload FROM events ORDER BY id").fetchall()
    assert rows == [(1, {"v": 2}), (2, {"v": 3})]


def test_bad_values_of_types_postgres_refuses_oddly_are_rejected(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """SQLSTATEs outside classes 22 and 23: 42601 (a malformed tsvector), 54000 (array dimensions)."""
    client = Client(http, "odd-types")
    rejected = client.accepted(
        mutation("misc", "put", {"id": 1}, doc="'unterminated"),
        mutation("arrays", "put", {"id": 1}, ints="{{{{{{{1}}}}}}}"),
        mutation("arrays", "put", {"id": 2}, ints=[[[[[[[1]]]]]]]),
        mutation("misc", "put", {"id": 3}, doc="fine words"),
    )
    assert rejected == {"0": "invalid_value", "1": "invalid_value", "2": "invalid_value"}
    assert db.execute("SELECT id FROM misc").fetchall() == [(3,)]


def test_one_bad_mutation_is_rejected_and_the_batch_still_applies(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """What passed shape validation is never refused as a whole: the queue behind it never wedges."""
    client = Client(http, "bad-names")
    rejected = client.accepted(
        mutation("labelled", "put", {"id": 1}, note="kept"),
        mutation("no_such_table", "put", {"id": 1}, note="x"),
        mutation("labelled", "put", {"id": 2}, no_such_column=1),
        mutation("labelled", "put", {"id": 3, "extra": 1}, note="x"),
        mutation("memberships", "put", {"org_id": 1}, since=None),
        mutation("labelled", "put", {"id": 4}, id=5),
        mutation("texts", "put", {"id": str(uuid.uuid4())}, label="generated"),
        mutation("labelled", "put", {"id": 9}, note="kept too"),
    )
    assert rejected == {
        "1": "unknown_table",
        "2": "unknown_column",
        "3": "invalid_key",
        "4": "invalid_key",
        "5": "pk_mismatch",
        "6": "unknown_column",
    }
    # A bad mutation takes its client transaction with it, as any rejection does.
    assert client.accepted(
        mutation("labelled", "put", {"id": 10}, note="rolled back"),
        mutation("labelled", "patch", {"id": 1}, nope=True),
        tx=1,
    ) == {"0": "transaction_rolled_back", "1": "unknown_column"}
    assert [row[0] for row in labelled(db)] == [1, 9]
    # The rejected keys of synced tables come back on the next pull; the others name no row.
    pulled = http.post(
        "/pull",
        json={"protocol": 1, "schemaVersion": 1, "clientId": "bad-names", "cursor": None, "limit": 100},
    )
    assert pulled.status_code == 200, pulled.text


# Strings each of some type's parsers trips on: unterminated quotes, array
# literals too deep or with bounds, XML, tsvector, dates and numbers out of
# range, byte strings without their prefix, half a geometry.
AWKWARD = st.sampled_from(
    [
        "",
        "'",
        '"',
        "\\",
        "{",
        "}",
        "{{{{{{{1}}}}}}}",
        "[0:1]={a,b}",
        "{1,{2}}",
        "(1,2",
        "((1,2),(3,",
        "<a>",
        "<?xml version='1.0'?><a/>",
        "&bogus;",
        "a:1 b:",
        "'unterminated",
        "a & | b",
        "!",
        "NaN",
        "Infinity",
        "-infinity",
        "1e999",
        "-1e-999",
        "99999999999999999999999999",
        "0x1F",
        "2024-13-45",
        "24:61:00",
        "10000-01-01",
        "0000-01-01",
        "infinity",
        "epoch",
        "2024-02-30T00:00:00Z",
        "\\x0",
        "\\xzz",
        "00ff",
        "::1/999",
        "999.1.1.1",
        "zz:zz:zz:zz:zz:zz",
        "not a uuid",
        "P1Y2",
        "1 year 2 bananas",
        "[1,",
        "(,)",
        "[3,1)",
        "{[1,2),",
        "0/0/0",
        "pg_authid",
        "101",
        "t",
        "maybe",
        "  ",
        "ä" * 40,
    ]
)
# Strings without NUL or lone surrogates, which the hosts refuse before the database sees them.
texts = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
    | AWKWARD
)
HOSTILE = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
) | st.integers(1, 9).map(lambda depth: json.loads("[" * depth + "1" + "]" * depth))

TABLES = """
    SELECT drizzlesync.wire_name(s.schema_name, s.table_name),
           (SELECT json_agg(json_build_array(a.attname, format_type(a.atttypid, a.atttypmod)))
            FROM unnest(s.pk_columns) AS k JOIN pg_attribute AS a ON a.attname = k
            WHERE a.attrelid = format('%I.%I', s.schema_name, s.table_name)::regclass),
           (SELECT json_agg(a.attname ORDER BY a.attnum) FROM pg_attribute AS a
            WHERE a.attrelid = format('%I.%I', s.schema_name, s.table_name)::regclass
              AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
              AND a.attname <> ALL (s.pk_columns))
    FROM drizzlesync.synced_table AS s ORDER BY 1
"""


def key_value(type_name: str) -> st.SearchStrategy[Any]:
    """A value of a key column's type, so that the row exists or can."""
    if type_name == "uuid":
        return st.uuids().map(str)
    if type_name.startswith("timestamp"):
        return st.integers(1, 28).map(lambda day: f"2024-02-{day:02}T00:00:00+00:00")
    return st.integers(1, 50)


@pytest.fixture
def tables(db: psycopg.Connection[Any]) -> list[tuple[str, list[list[str]], list[str]]]:
    """(wire name, [[key column, type]], writable columns) of every synced table."""
    return [(name, pk, columns or []) for name, pk, columns in db.execute(TABLES).fetchall()]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_hostile_values_for_every_column_are_answered_200(
    data: st.DataObject, tables: list[tuple[str, list[list[str]], list[str]]], http: httpx.Client
) -> None:
    """A batch per table, a hostile value for each column: 0 x 500, 0 x 503, each mutation settled."""
    name, pk_columns, columns = data.draw(st.sampled_from(tables))
    mutations = []
    for column in columns or [None]:
        pk = {key: data.draw(key_value(type_name)) for key, type_name in pk_columns}
        op = data.draw(st.sampled_from(["put", "patch"]))
        values = {} if column is None else {column: data.draw(HOSTILE)}
        mutations.append(mutation(name, op, pk, **values))
    client_id = f"fuzz-{uuid.uuid4().hex[:12]}"
    body = {
        "protocol": 1,
        "schemaVersion": 1,
        "clientId": client_id,
        "mutations": [{"id": i, "tx": i, **m} for i, m in enumerate(mutations, 1)],
    }
    response = http.post("/push", json=body)
    assert response.status_code == 200, (name, response.text, json.dumps(body)[:2000])
    result = response.json()
    assert result["lastMutationId"] == len(mutations)
    for rejection in result["rejected"]:
        event(f"{name}: {rejection['code']}")
