"""What change capture costs a writer, side by side on one database.

Three identical tables (a to-do table: bigint key, an indexed team column,
title, counter, timestamp) take the same load in interleaved rounds:

  off      no trigger at all
  capture  DrizzleSync capture, with the scope rule 'team:' || team
  audit    the classic row-level audit trigger writing to_jsonb(NEW) per row
           (to_jsonb(OLD) for a DELETE)

Workloads: single-row INSERT, UPDATE and DELETE from 4 concurrent
connections (pgbench, each statement its own transaction as an app writes),
and one 100,000-row INSERT ... SELECT. Prints the median of the rounds and the ratio
to `off`. The server comes from DATABASE_URL, else as the tests find one.
`--library-version` installs an earlier version of the library objects, to
compare what a version adds to capture (run each and compare the ratios).

    python bench/write_overhead.py [--seconds 3] [--rounds 3] [--library-version N]
                                   # needs pgbench (postgresql-client)
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass

import psycopg
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from alembic_drizzlesync import localdb
from alembic_drizzlesync.ops import EnableSyncOp, InstallOp
from alembic_drizzlesync.sql import LIBRARY_VERSION

VARIANTS = ("off", "capture", "audit")
WRITERS = 4
PRELOADED = 20_000
BULK_ROWS = 100_000
BULK_FIRST_ID = 1_000_000_001
# Rows the DELETE workload deletes, at random: enough that few of its statements miss, put
# back after each run.
DELETABLE = 200_000
DELETABLE_FIRST_ID = 2_000_000_001

TABLE = """
CREATE TABLE t_{variant} (
    id bigint PRIMARY KEY, team text NOT NULL, title text NOT NULL,
    n integer NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON t_{variant} (team);
INSERT INTO t_{variant} (id, team, title)
SELECT g, 'team-' || (g % 50), 'row ' || g FROM generate_series(1, {rows}) g;
"""

REFILL = """
INSERT INTO t_{variant} (id, team, title)
SELECT g, 'team-' || (g % 50), 'row ' || g FROM generate_series({first}, {last}) g
ON CONFLICT DO NOTHING
"""

AUDIT_TRIGGER = """
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY, table_name text, op text, row_data jsonb,
    txid xid8 DEFAULT pg_current_xact_id(), at timestamptz DEFAULT now());
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO audit_log (table_name, op, row_data) VALUES (TG_TABLE_NAME, TG_OP, to_jsonb(OLD));
    ELSE
        INSERT INTO audit_log (table_name, op, row_data) VALUES (TG_TABLE_NAME, TG_OP, to_jsonb(NEW));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON t_audit FOR EACH ROW EXECUTE FUNCTION audit_row();
"""

# pgbench scripts for the single-row workloads; {table} is filled in per variant.
INSERT_ONE = """\\set id random(1000000, 900000000)
INSERT INTO {table} (id, team, title) VALUES (:id, 'team-1', 'hello') ON CONFLICT DO NOTHING;
"""
UPDATE_ONE = f"""\\set id random(1, {PRELOADED})
UPDATE {{table}} SET n = n + 1, updated_at = now() WHERE id = :id;
"""
DELETE_ONE = f"""\\set id random({DELETABLE_FIRST_ID}, {DELETABLE_FIRST_ID + DELETABLE - 1})
DELETE FROM {{table}} WHERE id = :id;
"""


@dataclass(frozen=True)
class Workload:
    label: str
    target: str
    script: str | None  # None: the bulk insert, timed instead of counted


WORKLOADS = (
    Workload(f"single-row INSERT ({WRITERS} conn)", "capture/off >= 0.90", INSERT_ONE),
    Workload(f"single-row UPDATE ({WRITERS} conn)", "capture/off >= 0.90", UPDATE_ONE),
    Workload(f"single-row DELETE ({WRITERS} conn)", "capture/off >= audit/off", DELETE_ONE),
    Workload(f"bulk INSERT {BULK_ROWS:,} rows", "capture/off <= 2.0", None),
)


def prepare(sa_url: str, library_version: int) -> None:
    with psycopg.connect(localdb.libpq_url(sa_url), autocommit=True) as conn:
        for variant in VARIANTS:
            conn.execute(TABLE.format(variant=variant, rows=PRELOADED))
        conn.execute(AUDIT_TRIGGER)
    engine = create_engine(sa_url)
    with engine.begin() as conn:
        runner = Operations(MigrationContext.configure(conn))
        runner.invoke(InstallOp(library_version))
        runner.invoke(EnableSyncOp("t_capture", scope="'team:' || team"))
    engine.dispose()


def statements_per_second(url: str, table: str, seconds: float, script: str) -> float:
    """pgbench's transactions per second: a C client, so the figure is the server's cost."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as file:
        file.write(script.format(table=table))
        file.flush()
        result = subprocess.run(
            [
                "pgbench",
                "-n",
                "-M",
                "prepared",
                "-c",
                str(WRITERS),
                "-j",
                "2",
                "-T",
                str(round(seconds)),
                "-f",
                file.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    match = re.search(r"tps = ([0-9.]+)", result.stdout)
    if match is None:
        raise RuntimeError(f"pgbench printed no tps:\n{result.stdout}\n{result.stderr}")
    return float(match.group(1))


def bulk_insert_seconds(url: str, table: str) -> float:
    last_id = BULK_FIRST_ID + BULK_ROWS - 1
    with psycopg.connect(url, autocommit=True) as conn:
        began = time.perf_counter()
        conn.execute(
            f"INSERT INTO {table} (id, team, title) SELECT g, 'team-' || (g % 50), 'bulk ' || g "
            f"FROM generate_series({BULK_FIRST_ID}, {last_id}) g"
        )
        elapsed = time.perf_counter() - began
        conn.execute(f"DELETE FROM {table} WHERE id >= {BULK_FIRST_ID}")
        conn.execute("TRUNCATE audit_log, drizzlesync.change_log")
        conn.execute("VACUUM ANALYZE")
    return elapsed


def refill_deletable(url: str, variant: str) -> None:
    """Put back the rows the DELETE workload deletes (before each run: the first one too)."""
    with psycopg.connect(url, autocommit=True) as conn:
        last = DELETABLE_FIRST_ID + DELETABLE - 1
        conn.execute(REFILL.format(variant=variant, first=DELETABLE_FIRST_ID, last=last))
        conn.execute("TRUNCATE audit_log, drizzlesync.change_log")
        conn.execute("VACUUM ANALYZE")


def measure(url: str, workload: Workload, variant: str, seconds: float) -> float:
    table = f"t_{variant}"
    if workload.script is None:
        return bulk_insert_seconds(url, table)
    if workload.script is DELETE_ONE:
        refill_deletable(url, variant)
    return statements_per_second(url, table, seconds, workload.script)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument(
        "--library-version", type=int, default=LIBRARY_VERSION, help="the library objects' version to install"
    )
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL") or localdb.find_server()
    with localdb.temporary_database(server, prefix="drizzlesync_bench") as sa_url:
        prepare(sa_url, args.library_version)
        url = localdb.libpq_url(sa_url)
        with psycopg.connect(url) as conn:
            settings = conn.execute("SELECT version(), current_setting('synchronous_commit')").fetchone()
        print(f"{settings[0] if settings else '?'}")
        commit = settings[1] if settings else "?"
        version = args.library_version
        print(f"synchronous_commit={commit}; library version {version}; {args.rounds} rounds, median\n")

        samples: dict[tuple[str, str], list[float]] = {(w.label, v): [] for w in WORKLOADS for v in VARIANTS}
        for _ in range(args.rounds):
            for workload in WORKLOADS:
                for variant in VARIANTS:
                    samples[(workload.label, variant)].append(measure(url, workload, variant, args.seconds))

        columns = "".join(f"{v:>10}" for v in VARIANTS)
        print(f"{'workload':<30}{columns}{'capture/off':>13}{'audit/off':>11}  target")
        for workload in WORKLOADS:
            median = {v: statistics.median(samples[(workload.label, v)]) for v in VARIANTS}
            shape = "{:>9.2f}s" if workload.script is None else "{:>8.0f}/s"
            cells = "".join(shape.format(median[v]) for v in VARIANTS)
            ratios = f"{median['capture'] / median['off']:>13.2f}{median['audit'] / median['off']:>11.2f}"
            print(f"{workload.label:<30}{cells}{ratios}  {workload.target}")


if __name__ == "__main__":
    main()
