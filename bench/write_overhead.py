"""What change capture costs a writer, side by side on one database.

Three identical tables (a to-do table: bigint key, an indexed team column,
title, counter, timestamp) take the same load in interleaved rounds:

  off      no trigger at all
  capture  DrizzleSync capture, with the scope rule 'team:' || team
  audit    the classic row-level audit trigger writing to_jsonb(NEW) per row
           (to_jsonb(OLD) for a DELETE)

Workloads: single-row INSERT, UPDATE and DELETE from 4 concurrent
connections (pgbench, each statement its own transaction as an app writes),
a single-row UPDATE moving the row to another team (a scope move: version 6
logs it through a row trigger, no target), and one 100,000-row INSERT ...
SELECT. Prints the median of the rounds and the ratio to `off`. The server
comes from DATABASE_URL, else as the tests find one. `--library-version`
installs another version of the library objects; `--compare-version N` adds
a fourth column, `capture vN`: the same capture table in a second database
with version N installed, measured in the same interleaved rounds (so two
versions' ratios come from one run).

`--floors` adds three columns that say what the targets ask of any capture
built from triggers, and what the scope index costs:

  floor_row          a row-level trigger writing the row's key alone to a
                     table with no index: the least a trigger that logs each
                     row can do
  floor_statement    the same from a statement-level trigger reading the
                     transition table: the least the statement-level design
                     can do
  capture_unindexed  DrizzleSync capture on a table without the scope index
                     that bootstrap pages walk (enable_sync makes it; this
                     column drops it), so that its share is measured

`--own-index` gives every table an index on (team, id) in place of (team):
the index that serves the rule 'team:' || team since library version 13,
so that capture builds no scope index of its own, as on a multi-tenant
table indexed for it (docs/performance.md, "Scopes served by the table's own index").

    python bench/write_overhead.py [--seconds 3] [--rounds 3] [--library-version N]
                                   [--compare-version N] [--floors] [--own-index]
                                   # needs pgbench (postgresql-client)
"""

from __future__ import annotations

import argparse
import contextlib
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
FLOORS = ("floor_row", "floor_statement", "capture_unindexed")
FLOORS_HELP = "also the least any trigger capture costs, and capture without the scope index"
OWN_INDEX_HELP = "index every table on (team, id), which serves the scope rule: no scope index"
TEAM_INDEX = "team"
OWN_INDEX = "team, id"
# Every log the measurements empty, whichever variants the database has (each table exists in all).
LOGS = "audit_log, floor_log, drizzlesync.change_log"
COMPARED = "capture v{version}"
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
CREATE INDEX ON t_{variant} ({team_index});
INSERT INTO t_{variant} (id, team, title)
SELECT g, 'team-' || (g % 50), 'row ' || g FROM generate_series(1, {rows}) g;
"""

REFILL = """
INSERT INTO {table} (id, team, title)
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

# The floors: a key per written row into a table with no index, from a row trigger or from a
# statement trigger's transition table (the two ways a trigger can see the rows).
FLOOR_LOG = """
CREATE TABLE floor_log (id bigint);
CREATE FUNCTION floor_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO floor_log VALUES (OLD.id);
    ELSE
        INSERT INTO floor_log VALUES (NEW.id);
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION floor_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO floor_log SELECT id FROM floor_old;
    ELSE
        INSERT INTO floor_log SELECT id FROM floor_new;
    END IF;
    RETURN NULL;
END $$;
"""
FLOOR_TRIGGERS = {
    "floor_row": """
CREATE TRIGGER floor AFTER INSERT OR UPDATE OR DELETE ON t_floor_row
    FOR EACH ROW EXECUTE FUNCTION floor_row();
""",
    "floor_statement": """
CREATE TRIGGER floor_insert AFTER INSERT ON t_floor_statement
    REFERENCING NEW TABLE AS floor_new FOR EACH STATEMENT EXECUTE FUNCTION floor_statement();
CREATE TRIGGER floor_update AFTER UPDATE ON t_floor_statement
    REFERENCING NEW TABLE AS floor_new FOR EACH STATEMENT EXECUTE FUNCTION floor_statement();
CREATE TRIGGER floor_delete AFTER DELETE ON t_floor_statement
    REFERENCING OLD TABLE AS floor_old FOR EACH STATEMENT EXECUTE FUNCTION floor_statement();
""",
}

# pgbench scripts for the single-row workloads; {table} is filled in per variant.
INSERT_ONE = """\\set id random(1000000, 900000000)
INSERT INTO {table} (id, team, title) VALUES (:id, 'team-1', 'hello') ON CONFLICT DO NOTHING;
"""
UPDATE_ONE = f"""\\set id random(1, {PRELOADED})
UPDATE {{table}} SET n = n + 1, updated_at = now() WHERE id = :id;
"""
MOVE_ONE = f"""\\set id random(1, {PRELOADED})
UPDATE {{table}} SET team = CASE WHEN team = 'team-a' THEN 'team-b' ELSE 'team-a' END WHERE id = :id;
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
    Workload(f"single-row INSERT ({WRITERS} conn)", "capture/off >= 0.90 and >= audit/off", INSERT_ONE),
    Workload(f"single-row UPDATE ({WRITERS} conn)", "capture/off >= audit/off", UPDATE_ONE),
    Workload(f"single-row DELETE ({WRITERS} conn)", "capture/off >= audit/off", DELETE_ONE),
    Workload(f"single-row move ({WRITERS} conn)", "none (moves are rare)", MOVE_ONE),
    Workload(f"bulk INSERT {BULK_ROWS:,} rows", "capture/off <= 2.0", None),
)


def prepare(
    sa_url: str, library_version: int, variants: tuple[str, ...] = VARIANTS, team_index: str = TEAM_INDEX
) -> None:
    """A table per variant (`capture` always: it has the library), with its triggers; each table's
    index on `team_index` (TEAM_INDEX or OWN_INDEX)."""
    with psycopg.connect(localdb.libpq_url(sa_url), autocommit=True) as conn:
        for variant in variants:
            conn.execute(TABLE.format(variant=variant, rows=PRELOADED, team_index=team_index))
        conn.execute(AUDIT_TRIGGER)
        conn.execute(FLOOR_LOG)
        for variant in variants:
            if variant in FLOOR_TRIGGERS:
                conn.execute(FLOOR_TRIGGERS[variant])
    captured = [f"t_{variant}" for variant in variants if variant.startswith("capture")]
    install_capture(sa_url, library_version, *captured)
    if "capture_unindexed" in variants:
        with psycopg.connect(localdb.libpq_url(sa_url), autocommit=True) as conn:
            conn.execute(
                "SELECT drizzlesync.drop_scope_index(s) FROM drizzlesync.synced_table AS s"
                " WHERE s.table_name = 't_capture_unindexed'"
            )


def install_capture(sa_url: str, library_version: int, *tables: str) -> None:
    """The library objects at `library_version`, and `tables` synced under the scope rule 'team:' || team."""
    engine = create_engine(sa_url)
    with engine.begin() as conn:
        runner = Operations(MigrationContext.configure(conn))
        runner.invoke(InstallOp(library_version))
        for table in tables:
            runner.invoke(EnableSyncOp(table, scope="'team:' || team"))
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
        conn.execute(f"TRUNCATE {LOGS}")
        conn.execute("VACUUM ANALYZE")
    return elapsed


def refill_deletable(url: str, table: str) -> None:
    """Put back the rows the DELETE workload deletes (before each run: the first one too)."""
    with psycopg.connect(url, autocommit=True) as conn:
        last = DELETABLE_FIRST_ID + DELETABLE - 1
        conn.execute(REFILL.format(table=table, first=DELETABLE_FIRST_ID, last=last))
        conn.execute(f"TRUNCATE {LOGS}")
        conn.execute("VACUUM ANALYZE")


def empty_logs(url: str) -> None:
    """Every column's run starts from empty logs: two capture columns of one database share the
    change log, and the one measured second would otherwise write to the log the first has grown."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {LOGS}")


def measure(url: str, workload: Workload, table: str, seconds: float) -> float:
    if workload.script is None:
        return bulk_insert_seconds(url, table)
    if workload.script is DELETE_ONE:
        refill_deletable(url, table)
    else:
        empty_logs(url)
    return statements_per_second(url, table, seconds, workload.script)


def print_throughput(targets: dict[str, tuple[str, str]], rounds: int, seconds: float) -> None:
    samples: dict[tuple[str, str], list[float]] = {(w.label, v): [] for w in WORKLOADS for v in targets}
    for _ in range(rounds):
        for workload in WORKLOADS:
            for variant, (database, table) in targets.items():
                samples[(workload.label, variant)].append(measure(database, workload, table, seconds))

    added = [v for v in targets if v != "off"]
    # A column is as wide as its heading (the floors' are long), at least 12 and 18.
    wide = {v: max(12, len(v) + 2) for v in targets}
    ratio_wide = {v: max(18, len(v) + 6) for v in added}
    columns = "".join(f"{v:>{wide[v]}}" for v in targets)
    ratio_heads = "".join(f"{v + '/off':>{ratio_wide[v]}}" for v in added)
    print(f"{'workload':<30}{columns}{ratio_heads}  target")
    for workload in WORKLOADS:
        median = {v: statistics.median(samples[(workload.label, v)]) for v in targets}
        bulk = workload.script is None
        cells = "".join(
            f"{median[v]:>{wide[v] - 1}.2f}s" if bulk else f"{median[v]:>{wide[v] - 2}.0f}/s" for v in targets
        )
        ratios = "".join(f"{median[v] / median['off']:>{ratio_wide[v]}.2f}" for v in added)
        print(f"{workload.label:<30}{cells}{ratios}  {workload.target}")


# Server time of single-row statements: one session runs LOOPED of them in a DO
# block (one transaction, no commit wait), so the figure is what capture adds
# in CPU, apart from the WAL flushes that bound pgbench's figures above and
# that other work on a shared machine contends for. It is the backend's CPU
# time (user + system, from /proc, when the server runs on this machine; else
# the wall time): on a loaded machine, waiting for a core is no part of the
# cost. The minimum of the rounds: the least disturbed round is the closest.
LOOPED = 10_000
LOOPED_FIRST_ID = 3_000_000_001
OTHER_TEAM = "CASE WHEN team = 'team-a' THEN 'team-b' ELSE 'team-a' END"
# label: (statement, how many times the loop runs it, rows each run writes).
# The last two write every preloaded row in one statement: a bulk UPDATE and a
# bulk move of the rows to another team (the row trigger's worst case).
SERVER_TIME = {
    "INSERT": (
        f"INSERT INTO {{table}} (id, team, title) VALUES ({LOOPED_FIRST_ID} + i, 'team-1', 'hello')",
        LOOPED,
        1,
    ),
    "UPDATE": (
        "UPDATE {table} SET n = n + 1, updated_at = now() WHERE id = (i * 7919) % 20000 + 1",
        LOOPED,
        1,
    ),
    "DELETE": (f"DELETE FROM {{table}} WHERE id = {DELETABLE_FIRST_ID} + i", LOOPED, 1),
    "move": (f"UPDATE {{table}} SET team = {OTHER_TEAM} WHERE id = (i * 7919) % 20000 + 1", LOOPED, 1),
    f"UPDATE {PRELOADED:,}": ("UPDATE {table} SET n = n + 1 WHERE id <= 20000", 1, PRELOADED),
    f"move {PRELOADED:,}": (f"UPDATE {{table}} SET team = {OTHER_TEAM} WHERE id <= 20000", 1, PRELOADED),
}


def backend_cpu_seconds(pid: int) -> float | None:
    """The CPU time a server process has used, or None when it is not a process of this machine."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime and stime: fields 14 and 15 of proc(5), counting from the pid as 1.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_microseconds(url: str, table: str, statement: str, loops: int, rows: int) -> float:
    """Server time per row written, in microseconds, of `loops` runs of a statement writing `rows`."""
    with psycopg.connect(url, autocommit=True) as conn:
        if statement.startswith("DELETE"):
            first, last = DELETABLE_FIRST_ID + 1, DELETABLE_FIRST_ID + loops
            conn.execute(REFILL.format(table=table, first=first, last=last))
        pid = conn.info.backend_pid
        cpu_before, began = backend_cpu_seconds(pid), time.perf_counter()
        conn.execute(
            f"DO $$ BEGIN FOR i IN 1..{loops} LOOP {statement.format(table=table)}; END LOOP; END $$"
        )
        cpu_after, ended = backend_cpu_seconds(pid), time.perf_counter()
        elapsed = ended - began if cpu_before is None or cpu_after is None else cpu_after - cpu_before
        conn.execute(f"DELETE FROM {table} WHERE id >= {LOOPED_FIRST_ID}")
        conn.execute(f"TRUNCATE {LOGS}")
        conn.execute(f"VACUUM {table}")
    return elapsed / (loops * rows) * 1e6


def print_server_time(targets: dict[str, tuple[str, str]], rounds: int) -> None:
    samples: dict[tuple[str, str], list[float]] = {(s, v): [] for s in SERVER_TIME for v in targets}
    for _ in range(rounds):
        for label, (statement, loops, rows) in SERVER_TIME.items():
            for variant, (database, table) in targets.items():
                samples[(label, variant)].append(server_microseconds(database, table, statement, loops, rows))
    added = [v for v in targets if v != "off"]
    print(
        f"\nserver time per row written (µs of backend CPU, min of {rounds} rounds; single-row "
        f"statements {LOOPED:,} times in a loop; +µs over off)"
    )
    print(f"{'statement':<14}{'off':>8}" + "".join(f"{v:>22}" for v in added) + "  target")
    for label in SERVER_TIME:
        best = {v: min(samples[(label, v)]) for v in targets}
        cells = "".join(f"{best[v]:>12.1f} (+{best[v] - best['off']:>5.1f})" for v in added)
        target = "capture adds <= audit" if SERVER_TIME[label][2] == 1 else "none (one statement)"
        print(f"{label:<14}{best['off']:>8.1f}{cells}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument(
        "--library-version", type=int, default=LIBRARY_VERSION, help="the library objects' version to install"
    )
    parser.add_argument(
        "--server-rounds", type=int, default=7, help="rounds of the server-time loops (0: none)"
    )
    parser.add_argument(
        "--compare-version", type=int, help="also measure capture with this version, in a second database"
    )
    parser.add_argument("--floors", action="store_true", help=FLOORS_HELP)
    parser.add_argument("--own-index", action="store_true", help=OWN_INDEX_HELP)
    args = parser.parse_args()
    team_index = OWN_INDEX if args.own_index else TEAM_INDEX

    server = os.environ.get("DATABASE_URL") or localdb.find_server()
    with contextlib.ExitStack() as stack:
        sa_url = stack.enter_context(localdb.temporary_database(server, prefix="drizzlesync_bench"))
        variants = VARIANTS + FLOORS if args.floors else VARIANTS
        prepare(sa_url, args.library_version, variants, team_index)
        url = localdb.libpq_url(sa_url)
        # Each column: the database and table it writes to.
        targets = {variant: (url, f"t_{variant}") for variant in variants}
        if args.compare_version is not None:
            other = stack.enter_context(localdb.temporary_database(server, prefix="drizzlesync_bench"))
            # audit too: emptying the logs (LOGS) truncates audit_log in every database.
            prepare(other, args.compare_version, ("capture", "audit"), team_index)
            targets[COMPARED.format(version=args.compare_version)] = (localdb.libpq_url(other), "t_capture")
        with psycopg.connect(url) as conn:
            settings = conn.execute("SELECT version(), current_setting('synchronous_commit')").fetchone()
        print(f"{settings[0] if settings else '?'}")
        commit = settings[1] if settings else "?"
        version = args.library_version
        print(
            f"synchronous_commit={commit}; library version {version}; tables indexed on ({team_index});"
            f" {args.rounds} rounds, median\n"
        )

        if args.rounds:
            print_throughput(targets, args.rounds, args.seconds)
        if args.server_rounds:
            print_server_time(targets, args.server_rounds)


if __name__ == "__main__":
    main()
