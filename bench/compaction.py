"""What compaction costs, side by side in one run: `compact()` against one plain DELETE.

Each side is a database of its own holding the same change log: a captured
table (scope rule 'team:' || team, 50 teams) filled by --entries rows in
INSERTs of 50,000, vacuumed and analyzed. Timed there:

  compact      `drizzlesync.compact('1 hour', 50000)` called until it deletes
               fewer than a batch, as `drizzlesync compact` runs it
  compact vN   the same with library version N installed (--compare-version)
  DELETE       one `DELETE FROM drizzlesync.change_log WHERE txid < <horizon>`
               of the same entries: the least a compaction could cost

and, where a transaction left running holds the horizon below every entry
(a cursor that has not pulled for a while), the time of each of five calls
that find nothing to delete.

    python bench/compaction.py [--entries 1000000] [--compare-version 10]
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import ExitStack

import psycopg
from write_overhead import install_capture

from alembic_drizzlesync import localdb
from alembic_drizzlesync.sql import LIBRARY_VERSION

BATCH = 50_000
COMPACT = f"SELECT deleted_changes FROM drizzlesync.compact('1 hour', {BATCH})"


def prepare(sa_url: str, version: int, entries: int) -> str:
    """A database with library `version` and `entries` change-log entries; its libpq URL."""
    url = localdb.libpq_url(sa_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, team text NOT NULL, title text NOT NULL)")
    install_capture(sa_url, version, "t")
    with psycopg.connect(url, autocommit=True) as conn:
        for first in range(1, entries + 1, BATCH):
            last = min(first + BATCH - 1, entries)
            conn.execute(
                "INSERT INTO t SELECT g, 'team-' || (g % 50), 'row ' || g "
                f"FROM generate_series({first}, {last}) AS g"
            )
        conn.execute("VACUUM ANALYZE")
    return url


def compact_seconds(url: str) -> tuple[float, int]:
    """Seconds to compact the whole log, and the entries deleted."""
    deleted = 0
    with psycopg.connect(url, autocommit=True) as conn:
        began = time.perf_counter()
        while True:
            row = conn.execute(COMPACT).fetchone()
            assert row is not None
            deleted += row[0]
            if row[0] < BATCH:
                return time.perf_counter() - began, deleted


def delete_seconds(url: str) -> tuple[float, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        began = time.perf_counter()
        deleted = conn.execute(
            "DELETE FROM drizzlesync.change_log WHERE txid < pg_snapshot_xmin(pg_current_snapshot())"
        ).rowcount
        return time.perf_counter() - began, deleted


def held_calls_ms(url: str) -> list[float]:
    """Milliseconds of five calls that find nothing to delete: a transaction older than every entry
    is left running in this database (written to before the entries, so it holds the horizon)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE t")
        conn.execute("TRUNCATE drizzlesync.change_log")  # with the TRUNCATE's own entry
    with psycopg.connect(url) as holder, psycopg.connect(url, autocommit=True) as conn:
        holder.execute("SELECT pg_current_xact_id()")
        conn.execute(
            "INSERT INTO t SELECT g, 'team-' || (g % 50), 'row ' || g FROM generate_series(1, 200000) AS g"
        )
        times = []
        for _ in range(5):
            began = time.perf_counter()
            row = conn.execute(COMPACT).fetchone()
            times.append((time.perf_counter() - began) * 1000)
            assert row == (0,)
        holder.rollback()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--compare-version", type=int, help="also time compact() of this library version")
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL") or localdb.find_server()
    with ExitStack() as stack:
        sides = {"compact": LIBRARY_VERSION}
        if args.compare_version is not None:
            sides[f"compact v{args.compare_version}"] = args.compare_version
        urls = {}
        for name, version in {**sides, "DELETE": LIBRARY_VERSION}.items():
            database = stack.enter_context(localdb.temporary_database(server, prefix="drizzlesync_bench"))
            urls[name] = prepare(database, version, args.entries)
        timed = {name: compact_seconds(urls[name]) for name in sides}
        timed["DELETE"] = delete_seconds(urls["DELETE"])
        print(f"library version {LIBRARY_VERSION}; {args.entries:,} change-log entries, batches of {BATCH:,}")
        for name, (seconds, deleted) in timed.items():
            ratio = seconds / timed["DELETE"][0]
            print(f"{name:<14}{seconds:>8.2f} s {deleted:>10,} deleted {ratio:>7.2f}x the DELETE")
        print("\ncalls with nothing to delete (a transaction holds the horizon below 200,000 entries):")
        for name in sides:
            print(f"{name:<14}" + " ".join(f"{ms:.0f}" for ms in held_calls_ms(urls[name])) + " ms")


if __name__ == "__main__":
    main()
