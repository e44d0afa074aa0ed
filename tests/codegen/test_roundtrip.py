"""Values survive Postgres → wire → SQLite → drizzle, in Node with sql.js; local writes reach the outbox.

The server's side of the wire is written here in SQL, one expression per
codec, as docs/codegen.md describes it; the client's side is the generated
`fromWire` of sync-meta.ts. Columns whose TypeScript type differs between
the schemas (the lossy ones) are left out of the comparison.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from alembic_drizzlesync.codegen.plan import ColumnPlan, TablePlan
from alembic_drizzlesync.localdb import libpq_url

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


def wire_sql(column: ColumnPlan) -> sql.Composable:
    """The server's wire encoding of one column, by codec."""
    ref = sql.Identifier(column.column.name)
    type_ = column.column.type
    if type_.dimensions:
        textual = column.mapping.ts_type.startswith(("string", "("))
        return sql.SQL("to_jsonb({}::text[])" if textual else "to_jsonb({})").format(ref)
    if type_.name == "point":
        return sql.SQL(
            "CASE WHEN {0} IS NOT NULL THEN json_build_object('x', {0}[0], 'y', {0}[1]) END"
        ).format(ref)
    if type_.name == "line":
        return sql.SQL(
            "(SELECT json_build_object('a', p[1], 'b', p[2], 'c', p[3]) "
            "FROM (SELECT string_to_array(trim(both '{{}}' FROM {}::text), ',')::float8[] AS p) AS parts "
            "WHERE p IS NOT NULL)"
        ).format(ref)
    if type_.name in ("numeric", "timestamp", "timestamptz"):  # JSON would make numbers and ISO strings
        return sql.SQL("to_jsonb({}::text)").format(ref)
    return sql.SQL("to_jsonb({})").format(ref)


def wire_rows(conn: psycopg.Connection[Any], table: TablePlan) -> list[object]:
    pairs = sql.SQL(", ").join(
        sql.SQL("{}, {}").format(sql.Literal(c.column.name), wire_sql(c)) for c in table.columns
    )
    query = sql.SQL("SELECT jsonb_build_object({}) FROM {}.{}").format(
        pairs, sql.Identifier(table.table.schema), sql.Identifier(table.table.name)
    )
    return [row[0] for row in conn.execute(query)]


def test_edge_values_round_trip_through_the_wire(
    fixture_url: str, tmp_path: Path, node_modules: Path
) -> None:
    with psycopg.connect(libpq_url(fixture_url), autocommit=True) as conn:
        conn.execute(EDGE_ROWS)
        plan = fixture_plan(fixture_url)
        tables = [t for t in plan.synced if t.table.name in TABLES and t.table.schema == "public"]
        wire = {t.variable: wire_rows(conn, t) for t in tables}
    skip = [f"{t.variable}.{c.key}" for t in tables for c in t.columns if not c.mapping.same_type]
    generate_into(fixture_url, tmp_path / "gen")
    (tmp_path / "wire.json").write_text(json.dumps(wire))
    (tmp_path / "skip.json").write_text(json.dumps(skip))
    report = run_script(
        tmp_path, "roundtrip", node_modules, "wire.json", "skip.json", DATABASE_URL=libpq_url(fixture_url)
    )
    assert report["mismatches"] == [], json.dumps(report["mismatches"], indent=1)
    assert report["outboxAfterPull"] == 0
    assert report["compared"] > 150
    assert report["pushed"] == [
        ["numbers", "patch", {"id": 1}, {"small": 7}],
        ["misc", "patch", {"id": 1}, {"data": "\\x01fe"}],
    ]
    with psycopg.connect(libpq_url(fixture_url)) as conn:  # the server reads pushed values this way
        row = conn.execute(
            "SELECT (jsonb_populate_record(NULL::misc, %s::jsonb)).data",
            (json.dumps(report["pushed"][1][3]),),
        ).fetchone()
    assert row == (b"\x01\xfe",)
