"""What change capture costs a writer, side by side on one database.

Three identical tables take the same load in interleaved rounds:
  off      no trigger at all
  capture  DrizzleSync's statement-level capture (with a scope rule)
  audit    the classic row-level audit trigger writing to_jsonb(NEW) per row

Workloads: single-row INSERT and single-row UPDATE from 4 concurrent
connections (each statement its own transaction, as an app writes), and one
100,000-row INSERT ... SELECT. Prints throughput or time and the ratio to
`off`. Usage: python bench/write_overhead.py [--seconds 3] [--rounds 3]
(DATABASE_URL or DRIZZLESYNC_TEST_DATABASE_URL picks the server).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import threading
import time
from collections.abc import Callable

import psycopg
from sqlalchemy import create_engine

from alembic_drizzlesync import localdb
from alembic_drizzlesync.ops import EnableSyncOp, InstallOp
from alembic_drizzlesync.sqlscripts import LIBRARY_VERSION

VARIANTS = ("off", "capture", "audit")
WRITERS = 4
PRELOADED = 20_000
BULK_ROWS = 100_000

SETUP = """
CREATE TABLE {t} (id bigint PRIMARY KEY, team text NOT NULL, title text NOT NULL,
                  n integer NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON {t} (team);
INSERT INTO {t} (id, team, title) SELECT g, 'team-' || (g % 50), 'row ' || g FROM generate_series(1, {rows}) g;
"""

AUDIT = """
CREATE TABLE audit_log (id bigserial PRIMARY KEY, table_name text, op text, row_data jsonb,
                        txid xid8 DEFAULT pg_current_xact_id(), at timestamptz DEFAULT now());
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log (table_name, op, row_data) VALUES (TG_TABLE_NAME, TG_OP, to_jsonb(NEW));
    RETURN NULL;
END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE ON t_audit FOR EACH ROW EXECUTE FUNCTION audit_row();
"""


def prepare(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for variant in VARIANTS:
            conn.execute(SETUP.format(t=f"t_{variant}", rows=PRELOADED))
        conn.execute(AUDIT)
    engine = create_engine(localdb.sqlalchemy_url(url))
    with engine.begin() as conn:
        from alembic.operations import Operations
        from alembic.runtime.migration import MigrationContext

        runner = Operations(MigrationContext.configure(conn))
        runner.invoke(InstallOp(LIBRARY_VERSION))
        runner.invoke(EnableSyncOp("t_capture", scope="'team:' || team"))
    engine.dispose()


def throughput(url: str, seconds: float, statement: Callable[[int], tuple[str, tuple[object, ...]]]) -> float:
    """Statements per second from WRITERS connections, each statement autocommitted."""
    counts = [0] * WRITERS
    start = threading.Barrier(WRITERS + 1)
    stop = threading.Event()

    def writer(slot: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            ids = itertools.count(10_000_000 * (slot + 1) + random.randrange(1_000_000))
            start.wait()
            while not stop.is_set():
                query, params = statement(next(ids))
                conn.execute(query, params, prepare=True)
                counts[slot] += 1

    threads = [threading.Thread(target=writer, args=(slot,)) for slot in range(WRITERS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - began)


def bulk_insert_seconds(url: str, table: str) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        began = time.perf_counter()
        conn.execute(
            f"INSERT INTO {table} (id, team, title) "
            f"SELECT g, 'team-' || (g % 50), 'bulk ' || g FROM generate_series(1000000001, {1000000000 + BULK_ROWS}) g"
        )
        elapsed = time.perf_counter() - began
        conn.execute(f"DELETE FROM {table} WHERE id > 1000000000")
        conn.execute("TRUNCATE audit_log, drizzlesync.change_log")
        conn.execute("VACUUM ANALYZE")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL") or localdb.find_server()
    with localdb.temporary_database(server, prefix="drizzlesync_bench") as sa_url:
        url = localdb.libpq_url(sa_url)
        prepare(url)
        with psycopg.connect(url) as conn:
            sync_commit = conn.execute("SHOW synchronous_commit").fetchone()
            version = conn.execute("SHOW server_version").fetchone()
        print(f"PostgreSQL {version[0] if version else '?'}, synchronous_commit={sync_commit[0] if sync_commit else '?'}, "
              f"{WRITERS} writers, {args.rounds} rounds of {args.seconds:g}s, median shown\n")

        results: dict[str, dict[str, list[float]]] = {w: {v: [] for v in VARIANTS} for w in ("insert", "update", "bulk")}
        for _ in range(args.rounds):
            for variant in VARIANTS:
                table = f"t_{variant}"
                results["insert"][variant].append(
                    throughput(url, args.seconds, lambda i, t=table: (
                        f"INSERT INTO {t} (id, team, title) VALUES (%s, 'team-1', 'hello')", (i,)))
                )
                results["update"][variant].append(
                    throughput(url, args.seconds, lambda i, t=table: (
                        f"UPDATE {t} SET n = n + 1, updated_at = now() WHERE id = %s",
                        (random.randint(1, PRELOADED),)))
                )
                results["bulk"][variant].append(bulk_insert_seconds(url, table))

        print(f"{'workload':<28}{'off':>12}{'capture':>12}{'audit':>12}{'capture/off':>14}{'audit/off':>12}  target")
        for workload, unit, target in (
            ("insert", "stmt/s", "capture/off >= 0.90"),
            ("update", "stmt/s", "capture/off >= 0.90"),
            ("bulk", "s", "capture/off <= 2.0"),
        ):
            med = {v: statistics.median(results[workload][v]) for v in VARIANTS}
            label = {
                "insert": "single-row INSERT (4 conn)",
                "update": "single-row UPDATE (4 conn)",
                "bulk": f"bulk INSERT {BULK_ROWS:,} rows",
            }[workload]
            cells = "".join(f"{med[v]:>10.{2 if unit == 's' else 0}f}{unit[0] if unit == 's' else '':<2}" for v in VARIANTS)
            print(f"{label:<28}{cells}{med['capture'] / med['off']:>14.2f}{med['audit'] / med['off']:>12.2f}  {target}")


if __name__ == "__main__":
    main()
