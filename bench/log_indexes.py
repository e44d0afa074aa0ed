"""What each layout of the change log's indexes costs a bulk write, side by side in one run.

The 100,000-row INSERT ... SELECT of bench/write_overhead.py, with capture
(scope rule 'team:' || team, 50 teams), once per layout of the change log's
indexes in interleaved rounds: the indexes are dropped and created between
runs on the emptied log, so every layout writes the same rows into the same
table. Prints each layout's median, its ratio to the same INSERT without
capture, and the size of its indexes after the INSERT.

    python bench/log_indexes.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics

import psycopg
from write_overhead import bulk_insert_seconds, prepare

from alembic_drizzlesync import localdb

LOG = "drizzlesync.change_log"
SCOPE = "coalesce(scope_after, scope_before, '')"
MOVES = "WHERE scope_before <> scope_after"

# name: (whether the (txid, seq) primary key stays, the indexes besides it, what it is)
LAYOUTS: dict[str, tuple[bool, list[str], str]] = {
    "v4": (True, [], "the primary key alone (version 4)"),
    "text": (
        True,
        [f'(({SCOPE}) COLLATE "C", txid, seq)', f'(scope_before COLLATE "C", txid, seq) {MOVES}'],
        "+ scope text, bytewise (version 5 as first written)",
    ),
    "text-ff100": (
        True,
        [
            f'(({SCOPE}) COLLATE "C", txid, seq) WITH (fillfactor = 100)',
            f'(scope_before COLLATE "C", txid, seq) {MOVES}',
        ],
        "+ scope text, fillfactor 100",
    ),
    "text-noseq": (
        True,
        [f'(({SCOPE}) COLLATE "C", txid)', f'(scope_before COLLATE "C", txid) {MOVES}'],
        "+ scope text without seq (deduplicated; cannot page inside a transaction)",
    ),
    "hash4": (
        True,
        [f"(hashtext({SCOPE}), txid, seq)", f"(hashtext(scope_before), txid, seq) {MOVES}"],
        "+ hashtext(scope), int4 (version 5)",
    ),
    "hash8": (
        True,
        [
            f"(hashtextextended({SCOPE}, 0), txid, seq)",
            f"(hashtextextended(scope_before, 0), txid, seq) {MOVES}",
        ],
        "+ hashtextextended(scope), int8",
    ),
    "text-nopk": (
        False,
        [f'(({SCOPE}) COLLATE "C", txid, seq)', f'(scope_before COLLATE "C", txid, seq) {MOVES}'],
        "scope text instead of the primary key",
    ),
    "hash4-nopk": (
        False,
        [f"(hashtext({SCOPE}), txid, seq)", f"(hashtext(scope_before), txid, seq) {MOVES}"],
        "hashtext(scope) instead of the primary key",
    ),
}


def use_layout(url: str, name: str) -> None:
    keep_pk, indexes, _ = LAYOUTS[name]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {LOG}")
        names = conn.execute(
            "SELECT indexrelid::regclass::text FROM pg_index "
            f"WHERE indrelid = '{LOG}'::regclass AND NOT indisprimary"
        ).fetchall()
        for (index,) in names:
            conn.execute(f"DROP INDEX {index}")
        conn.execute(f"ALTER TABLE {LOG} DROP CONSTRAINT IF EXISTS change_log_pkey")
        if keep_pk:
            conn.execute(f"ALTER TABLE {LOG} ADD PRIMARY KEY (txid, seq)")
        for i, definition in enumerate(indexes):
            conn.execute(f"CREATE INDEX bench_log_{i} ON {LOG} {definition}")


def index_size(url: str) -> int:
    """Bytes of the log's indexes holding one bulk INSERT's entries (the timed runs empty the log):
    a figure that, unlike the INSERT's time, other load on the machine leaves alone."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO t_capture (id, team, title) SELECT g, 'team-' || (g % 50), 'bulk ' || g "
            "FROM generate_series(1000000001, 1000100000) g"
        )
        row = conn.execute(f"SELECT pg_indexes_size('{LOG}')").fetchone()
        conn.execute("DELETE FROM t_capture WHERE id >= 1000000001")
        conn.execute(f"TRUNCATE {LOG}")
    assert row is not None
    return int(row[0])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the median is reported")
    parser.add_argument("--only", default=None, help=f"comma-separated, of: {', '.join(LAYOUTS)}")
    args = parser.parse_args()
    layouts = args.only.split(",") if args.only else list(LAYOUTS)

    server = os.environ.get("DATABASE_URL") or localdb.find_server()
    with localdb.temporary_database(server, prefix="drizzlesync_bench") as sa_url:
        prepare(sa_url, 5)
        url = localdb.libpq_url(sa_url)
        samples: dict[str, list[float]] = {name: [] for name in ["off", *layouts]}
        for _ in range(args.rounds):
            samples["off"].append(bulk_insert_seconds(url, "t_off"))
            for name in layouts:
                use_layout(url, name)
                samples[name].append(bulk_insert_seconds(url, "t_capture"))
        sizes = {}
        for name in layouts:
            use_layout(url, name)
            sizes[name] = index_size(url)

        off = statistics.median(samples["off"])
        print(f"100,000-row INSERT ... SELECT, {args.rounds} interleaved rounds, median (min-max)\n")
        print(f"{'layout':<12}{'seconds':>22}{'/off':>7}{'indexes':>10}  what")
        spread = f"({min(samples['off']):.3f}-{max(samples['off']):.3f})"
        print(f"{'off':<12}{off:>9.3f} {spread}{1:>7.2f}{'':>10}  no capture")
        for name in layouts:
            median = statistics.median(samples[name])
            spread = f"({min(samples[name]):.3f}-{max(samples[name]):.3f})"
            print(
                f"{name:<12}{median:>9.3f} {spread}{median / off:>7.2f}{sizes[name] / 2**20:>8.1f}MB"
                f"  {LAYOUTS[name][2]}"
            )


if __name__ == "__main__":
    main()
