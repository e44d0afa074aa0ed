"""Values survive Postgres → wire → SQLite → drizzle, in Node with sql.js; local writes reach the outbox.

The server's side of the wire is a real pull of the installed sync
functions; the client's side is the generated `fromWire` of sync-meta.ts.
Columns whose TypeScript type differs between the schemas (the lossy ones)
are left out of the comparison.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg

from alembic_drizzlesync.codegen.plan import TablePlan
from alembic_drizzlesync.localdb import libpq_url
from alembic_drizzlesync.sql import LIBRARY_VERSION, install_script

from .conftest import fixture_plan, generate_into, run_script

EDGE_ROWS = """
INSERT INTO numbers (small, "int", big, "real", dbl, num, price, cash, pos)
VALUES (-32768, 1073741823, 9007199254740991, 3.4028235e38, 'Infinity', '12345678901234567890.123456789',
        0.01, 1.5, 1),
       (32767, -1073741824, -9007199254740991, -1.5, '-Infinity', '-0.000000001', NULL, NULL, NULL),
       (0, NULL, NULL, NULL, 1e-300, NULL, NULL, NULL, NULL);
INSERT INTO texts (t, v, c, c1, n, ci, e, x, m, moods, r)
VALUES ('it''s ünïcødé 🎉 "quoted" \\ back`tick ${x}', 'v', 'ab', 'a', 'name', 'CaSe', 'A@b.c',
        '<a>&amp;</a>', 'it''s "fine"', '{sad,happy}', 'admin'),
       ('', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'sad', '{}', NULL);
INSERT INTO times VALUES
    (1, '2024-02-29 23:59:59.999', '1900-01-01 00:00:00', '1970-01-01 00:00:00.001+00',
     '2038-01-19 03:14:08+02', '0001-01-01', '24:00:00', '12:34:56.78', '12:00:00+05:30',
     '1 year 2 mons 3 days 04:05:06.789', '3 days 04:05:06.789'),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '-1 day', NULL);
INSERT INTO misc VALUES
    (1, true, '\\x00ff10', '{"a": [1, null, "x"], "b": {"c": 1.5}}', '[]',
     'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03',
     '08:00:2b:01:02:03:04:05', B'101', B'1',
     'a fat cat', 'fat & cat', '(1.5,-2)', '{1,-1,0}', '[(0,0),(1,1)]', '((0,0),(1,1))', '[(0,0),(1,1)]',
     '((0,0),(1,0),(0,1))', '<(1,2),3>', '[1,10)', '(1.5,2.5]', '[2024-01-01 00:00:00+00,)', 'empty',
     '{[1,3),[5,7)}', 42, 'pg_class', '16/B374D848'),
    (2, false, '\\x', 'null', '{"nested": {"deep": [true]}}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO arrays VALUES
    (1, '{1,NULL,3}', '{{1,2},{3,4}}', '{{{a,b}},{{c,"d e"}}}', '{"with,comma","with\\"quote"}', '{x}',
     '{"2024-01-01 00:00:00+00"}', '{t,f}', NULL, ARRAY['{"a": 1}'::jsonb, 'null'], '{1.50,2.25}',
     '{sad,"it''s \\"fine\\""}', '{admin}'),
    (2, '{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""

TABLES = ("numbers", "texts", "times", "misc", "arrays")


def pulled_wire(conn: psycopg.Connection[Any], tables: list[TablePlan]) -> dict[str, list[object]]:
    """The rows of `tables` as the server's pull sends them, by plan variable.

    DrizzleSync is installed and the tables synced, and a bootstrap pull is
    made through the SQL function every host calls, so that the wire values
    are the server's own and cannot drift from what the client expects.
    """
    for statement in install_script(LIBRARY_VERSION, "drizzlesync"):
        conn.execute(statement)
    conn.execute("INSERT INTO drizzlesync.schema_version (version) VALUES (1)")
    for table in tables:
        conn.execute("SELECT drizzlesync.enable_sync(%s, %s)", (table.table.schema, table.table.name))
    variables = {table.table.name: table.variable for table in tables}
    wire: dict[str, list[object]] = {variable: [] for variable in variables.values()}
    cursor, more = None, True
    while more:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            row = conn.execute(
                "SELECT drizzlesync.pull('tester', '{}'::jsonb, 'roundtrip', 1, %s, 1000)::text", (cursor,)
            ).fetchone()
        assert row is not None
        page = json.loads(row[0])
        for change in page["changes"]:
            wire[variables[change["table"]]].append(change["row"])
        cursor, more = page["cursor"], page["hasMore"]
    return wire


def test_edge_values_round_trip_through_the_wire(
    fixture_url: str, tmp_path: Path, node_modules: Path
) -> None:
    with psycopg.connect(libpq_url(fixture_url), autocommit=True) as conn:
        conn.execute(EDGE_ROWS)
        plan = fixture_plan(fixture_url)
        tables = [t for t in plan.synced if t.table.name in TABLES and t.table.schema == "public"]
        wire = pulled_wire(conn, tables)
    skip = [f"{t.variable}.{c.key}" for t in tables for c in t.columns if not c.mapping.same_type]
    # Money travels as a plain decimal, which node-postgres shows in lc_monetary's form ("$1.50"):
    # docs/codegen.md, "Lossy cases". The wire value itself is checked here.
    skip += [f"{t.variable}.{c.key}" for t in tables for c in t.columns if c.column.type.name == "money"]
    assert [row["cash"] for row in wire["numbers"] if isinstance(row, dict)] == ["1.50", None, None]
    generate_into(fixture_url, tmp_path / "gen")
    (tmp_path / "wire.json").write_text(json.dumps(wire))
    (tmp_path / "skip.json").write_text(json.dumps(skip))
    report = run_script(
        tmp_path, "roundtrip", node_modules, "wire.json", "skip.json", DATABASE_URL=libpq_url(fixture_url)
    )
    assert report["mismatches"] == [], json.dumps(report["mismatches"], indent=1)
    assert report["outboxAfterPull"] == 0
    assert report["compared"] > 150
    assert report["pushed"][:2] == [
        ["numbers", "patch", {"id": 1}, {"small": 7}],
        ["misc", "patch", {"id": 1}, {"data": "\\x01fe"}],
    ]
    # Array literal defaults are the client's too ($defaultFn): the server's own, not NULL.
    table, op, pk, values = report["pushed"][2]
    assert (table, op, pk) == ("arrays", "put", {"id": 99})
    defaulted = {
        "ints": [1, 2],
        "flags": [True, False],
        "moods": ["ok", "happy"],
        "words": ["hello", "world"],
    }
    assert {name: values[name] for name in defaulted} == defaulted
    # ARRAY['a', 'b'] is an expression, which the client has no words for: null in the outbox, and left
    # out of the put when it is pushed (serverDefault in sync-meta), for the server to fill in.
    assert values["texts"] is None
    with psycopg.connect(libpq_url(fixture_url)) as conn:  # the server reads pushed values this way
        row = conn.execute(
            "SELECT (jsonb_populate_record(NULL::misc, %s::jsonb)).data",
            (json.dumps(report["pushed"][1][3]),),
        ).fetchone()
    assert row == (b"\x01\xfe",)
