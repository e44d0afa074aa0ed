"""What change capture adds to a write, in instructions executed by the server (callgrind).

On a shared machine the backend's CPU time of one statement moves by half between rounds;
the instructions it executes do not. This runs bench/write_overhead.py's three tables (no
trigger, DrizzleSync capture, the row-level `to_jsonb` audit trigger) in a private Postgres
cluster made for the run, then its single-user backend under `valgrind --tool=callgrind`,
collecting inside DO blocks only: each single-row statement LOOPED times after WARM_UP
uncounted, and one 10,000-row INSERT ... SELECT. A SELECT by key, which fires no trigger, shows
what a synced table's other objects cost the app's own statements where each is planned
(--per-transaction): the scope index, or under --own-index version 14's statistics on the rule
(--compare-version 14). `--compare-version N` adds the capture table
of a second database with library version N (same rounds, same starting state). `--floors` adds
write_overhead.py's floor columns: a row trigger and a statement trigger writing each row's key to
a table with no index, and capture on a table without its scope index. `--own-index` indexes every
table on (team, id) in place of (team), as write_overhead.py's flag does: capture then has no scope
index, the table's own index serving its rule.

`--per-transaction` runs each statement as its own transaction instead, as pgbench runs them
(the single-user backend runs each line of its input as one), and counts everything the backend
does for it, from PostgresMain on: parsing and planning the statement, the commit, and for
capture the trigger function's first-call costs that a DO loop pays once. Blocks of statements
are told apart by a `SELECT pg_sleep(0)` after each, before which callgrind dumps its counts.
`--keep DIR` keeps the dumps, one per block in the order of the run, for `callgrind_annotate`.

    python bench/capture_instructions.py [--library-version N] [--compare-version N] [--per-transaction]
                                         [--floors] [--own-index] [--keep DIR]
                                         # needs valgrind and the Postgres server binaries
                                         # (--bindir, else pg_config's); as root it runs
                                         # them as the OS user `postgres`

Takes a few minutes (valgrind runs the backend ~50x slower); the counts are deterministic.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from alembic_drizzlesync.sql import LIBRARY_VERSION  # noqa: E402
from bench.callgrind import private_cluster, server_binaries, single_user_totals  # noqa: E402
from bench.write_overhead import (  # noqa: E402
    FLOORS,
    FLOORS_HELP,
    LOGS,
    OWN_INDEX,
    OWN_INDEX_HELP,
    TEAM_INDEX,
    VARIANTS,
    prepare,
)

LOOPED = 500
WARM_UP = 20
BULK = 10_000
STATEMENTS = {
    "INSERT": "INSERT INTO {t} (id, team, title) VALUES ({first} + i, 'team-1', 'hello')",
    "UPDATE": "UPDATE {t} SET n = n + 1, updated_at = now() WHERE id = (i * 7919) % 20000 + 1",
    "DELETE": "DELETE FROM {t} WHERE id = {first} + i",
    # No capture: what the table's sync objects (its scope index, or a statistics object) cost the
    # app's own reads, in planning (in a DO loop the plan is cached, so nearly nothing).
    "SELECT": "SELECT n FROM {t} WHERE id = (i * 7919) % 20000 + 1",
}
BULK_INSERT = (
    f"INSERT INTO {{t}} (id, team, title) SELECT g, 'team-' || (g % 50), 'bulk ' || g "
    f"FROM generate_series(1000000001, {1_000_000_000 + BULK}) g"
)
FIRST, WARM_FIRST = 3_000_000_000, 3_100_000_000
TRANSACTIONS = 300
"""Statements counted per kind in --per-transaction mode, each its own transaction."""
SEPARATOR = "SELECT pg_sleep(0);"


def script(
    targets: dict[str, tuple[str, str]], database: str
) -> tuple[str, list[tuple[str, str, int] | None]]:
    """The single-user script for one database, and what each DO block's dump measures."""
    lines: list[str] = []
    labels: list[tuple[str, str, int] | None] = []
    for variant, (db, table) in targets.items():
        if db != database:
            continue
        for label, statement in STATEMENTS.items():
            lines.append(
                f"INSERT INTO {table} (id, team, title) SELECT {FIRST} + g, 'team-1', 'x' "
                f"FROM generate_series(1, {LOOPED}) g ON CONFLICT DO NOTHING;"
                if label == "DELETE"
                else ""
            )
            if label == "SELECT":  # a query's result has nowhere to go in PL/pgSQL
                statement = statement.replace("SELECT", "PERFORM", 1)
            warm = statement.format(t=table, first=WARM_FIRST)
            lines.append(f"DO $$ BEGIN FOR i IN 1..{WARM_UP} LOOP {warm}; END LOOP; END $$;")
            labels.append(None)
            counted = statement.format(t=table, first=FIRST)
            lines.append(f"DO $$ BEGIN FOR i IN 1..{LOOPED} LOOP {counted}; END LOOP; END $$;")
            labels.append((variant, label, LOOPED))
            if label == "INSERT":
                lines.append(f"DELETE FROM {table} WHERE id > {FIRST};")
        lines.append(f"DO $$ BEGIN {BULK_INSERT.format(t=table)}; END $$;")
        labels.append((variant, f"bulk {BULK:,}, a row", BULK))
        lines.append(f"DELETE FROM {table} WHERE id > 1000000000;")
        lines.append(f"TRUNCATE {LOGS};")
        lines.append(f"VACUUM {table};")
    return "\n".join(line for line in lines if line) + "\n", labels


def transaction_script(
    targets: dict[str, tuple[str, str]], database: str
) -> tuple[str, list[tuple[str, str, int] | None]]:
    """As `script`, each statement its own transaction, a block of them ended by SEPARATOR."""
    lines: list[str] = []
    labels: list[tuple[str, str, int] | None] = []

    def block(statement: str, first: int, count: int, label: tuple[str, str, int] | None) -> None:
        # The loop variable of `script`'s DO blocks, written out statement by statement.
        lines.extend(re.sub(r"\bi\b", str(i), statement.format(t=table, first=first)) + ";"
                     for i in range(1, count + 1))  # fmt: skip
        lines.append(SEPARATOR)
        labels.append(label)

    for variant, (db, table) in targets.items():
        if db != database:
            continue
        for label, statement in STATEMENTS.items():
            if label == "DELETE":
                for first in (FIRST, WARM_FIRST):
                    lines.append(
                        f"INSERT INTO {table} (id, team, title) SELECT {first} + g, 'team-1', 'x' "
                        f"FROM generate_series(1, {TRANSACTIONS}) g ON CONFLICT DO NOTHING;"
                    )
            block(statement, WARM_FIRST, WARM_UP, None)
            block(statement, FIRST, TRANSACTIONS, (variant, label, TRANSACTIONS))
            if label == "INSERT":
                lines.append(f"DELETE FROM {table} WHERE id > {FIRST};")
        lines.append(SEPARATOR)
        labels.append(None)
        lines.append(BULK_INSERT.format(t=table) + ";")
        lines.append(SEPARATOR)
        labels.append((variant, f"bulk {BULK:,}, a row", BULK))
        lines.append(f"DELETE FROM {table} WHERE id > 1000000000;")
        lines.append(f"TRUNCATE {LOGS};")
        lines.append(f"VACUUM {table};")
    return "\n".join(lines) + "\n", labels


def count(
    bindir: Path,
    work: Path,
    database: str,
    text: str,
    labels: list[tuple[str, str, int] | None],
    per_transaction: bool = False,
    keep: Path | None = None,
) -> dict[tuple[str, str], float]:
    # DO blocks: what each one runs. Transactions: everything from one SEPARATOR to the next (the
    # last dump, of what follows the last separator, is not a block's).
    collect = (
        ["--toggle-collect=PostgresMain", "--dump-before=pg_sleep"]
        if per_transaction
        else ["--toggle-collect=plpgsql_inline_handler", "--dump-after=plpgsql_inline_handler"]
    )
    totals = single_user_totals(bindir, work, database, text, collect, keep)
    if per_transaction:
        totals = totals[: len(labels)]
    if len(totals) != len(labels):
        raise RuntimeError(f"{len(totals)} callgrind dumps for {len(labels)} DO blocks")
    measured = zip(labels, totals, strict=True)
    return {(lab[0], lab[1]): total / lab[2] for lab, total in measured if lab is not None}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--library-version", type=int, default=LIBRARY_VERSION)
    parser.add_argument("--compare-version", type=int)
    parser.add_argument(
        "--per-transaction",
        action="store_true",
        help="each statement its own transaction, counted from PostgresMain (as pgbench runs them)",
    )
    parser.add_argument(
        "--bindir", type=Path, help="the Postgres server binaries (default: pg_config --bindir)"
    )
    parser.add_argument("--floors", action="store_true", help=FLOORS_HELP)
    parser.add_argument("--own-index", action="store_true", help=OWN_INDEX_HELP)
    parser.add_argument("--keep", type=Path, help="a directory to keep the callgrind dumps in")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    team_index = OWN_INDEX if args.own_index else TEAM_INDEX
    variants = VARIANTS + FLOORS if args.floors else VARIANTS
    bindir = server_binaries(args.bindir)

    work = Path(tempfile.mkdtemp(prefix="drizzlesync-callgrind-"))
    os.chmod(work, 0o777)
    try:
        with private_cluster(bindir, work) as base:
            databases = {"bench": args.library_version}
            if args.compare_version is not None:
                databases["compare"] = args.compare_version
            with psycopg.connect(f"{base} dbname=postgres", autocommit=True) as conn:
                for name in databases:
                    conn.execute(f"CREATE DATABASE {name}")
            for name, version in databases.items():
                sa_url = f"postgresql+psycopg://postgres@/{name}?host={work}&port=5433"
                prepare(sa_url, version, variants if name == "bench" else ("capture", "audit"), team_index)
                with psycopg.connect(f"{base} dbname={name}", autocommit=True) as conn:
                    conn.execute("VACUUM ANALYZE")
        targets = {variant: ("bench", f"t_{variant}") for variant in variants}
        if args.compare_version is not None:
            targets[f"capture v{args.compare_version}"] = ("compare", "t_capture")
        counts: dict[tuple[str, str], float] = {}
        began = time.perf_counter()
        for database in dict.fromkeys(db for db, _ in targets.values()):
            text, labels = (transaction_script if args.per_transaction else script)(targets, database)
            counts.update(count(bindir, work, database, text, labels, args.per_transaction, args.keep))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    unit = (
        f"transaction, each statement its own ({TRANSACTIONS} after {WARM_UP} uncounted)"
        if args.per_transaction
        else f"statement ({LOOPED} after {WARM_UP} uncounted)"
    )
    print(
        f"library version {args.library_version}; instructions per {unit}, "
        f"or per row of one {BULK:,}-row INSERT; callgrind, {time.perf_counter() - began:.0f} s"
    )
    added = [v for v in targets if v != "off"]
    print(f"{'statement':<22}{'off':>9}" + "".join(f"{v:>24}" for v in added) + "  target")
    for label in [*STATEMENTS, f"bulk {BULK:,}, a row"]:
        off = counts[("off", label)]
        cells = "".join(
            f"{counts[(v, label)] / 1000:>11.1f}k (+{(counts[(v, label)] - off) / 1000:>6.1f}k)"
            for v in added
        )
        kind = label.split()[0]
        target = {"SELECT": "none (a read)", "bulk": "capture/off <= 2.0"}.get(kind, "capture adds <= audit")
        print(f"{label:<22}{off / 1000:>8.1f}k{cells}  {target}")


if __name__ == "__main__":
    main()
