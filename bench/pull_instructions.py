"""An empty pull's transaction in instructions executed by the server (callgrind), against a trivial one.

    python bench/pull_instructions.py [--revision REV] [--compare-revision REV] [--pulls 300]
                                      [--keep DIR]
                                      # needs valgrind and the Postgres server binaries
                                      # (--bindir, else pg_config's); as root it runs
                                      # them as the OS user `postgres`

bench/host.py's target (an empty pull's transaction within 2x a trivial one, under pgbench) is a
ratio of latencies on a shared machine, which moves by a tenth between runs; the instructions a
backend executes do not move at all, so they tell two variants of the idle path apart. This sets up
bench/host.py's 50 bench clients (users on teams of 10 todos, each bootstrapped) in a private
cluster made for the run, one database per revision, then runs each database's single-user backend
under `valgrind --tool=callgrind`, collecting inside PostgresMain and dumping before each
`pg_sleep`, which separates the blocks. Each block is `--pulls` transactions as pgbench runs them,
each statement its own line (`BEGIN ISOLATION LEVEL REPEATABLE READ`, the pull of the next client
as bench/host.py's pgbench script calls it, `COMMIT`), after uncounted ones; then as many
`BEGIN; SELECT 1; COMMIT`; then the pulls again from old cursors (host.OLD), each transaction
after a statement dating its cursor back, which is counted alone in a fourth block and left out
(since library version 16 such a pull refreshes the cursor in place; before, it stored a new one).
What is counted is the server's work on the statements (parse, plan, execute, commit),
not the client protocol's, which single-user mode does not have: `--keep DIR` keeps the dumps for
`callgrind_annotate --inclusive=yes`.

Takes a minute or two per revision (valgrind runs the backend ~50x slower).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.callgrind import (  # noqa: E402
    add_revision_arguments,
    block_totals,
    migrated_example,
    private_cluster,
    revisions,
    server_binaries,
    work_directory,
)
from bench.host import OLD, USERS, prepare, young_cursors  # noqa: E402

WARM_UP = 50
PULL = (
    "SELECT drizzlesync.pull(c.user_id, '{{}}'::jsonb, c.client_id, 1, c.cursor, 5000)::text "
    "FROM bench_client AS c WHERE c.i = {i};"
)
# Each old-cursor transaction first dates its cursor back (DATE_BACK: a refreshed cursor is young
# again), a statement whose own count, the "dating back" block of it alone, the figure leaves out.
DATE_BACK = (
    f"UPDATE drizzlesync.pull_cursor AS p SET created_at = now() - interval '{OLD}' "
    "FROM bench_client AS c WHERE c.i = {i} AND p.id = split_part(c.cursor, '.', 2)::uuid;"
)
KINDS = ("empty pull", "trivial", "empty pull, old cursor", "dating back")


def transactions(kind: str, count: int) -> list[str]:
    """`count` transactions of one kind, a statement a line; the pulls go round the bench clients."""
    if kind == "trivial":
        return ["BEGIN;", "SELECT 1;", "COMMIT;"] * count
    lines = []
    for n in range(count):
        i = n % USERS + 1
        if kind in ("empty pull, old cursor", "dating back"):
            lines.append(DATE_BACK.format(i=i))
        if kind != "dating back":
            lines += ["BEGIN ISOLATION LEVEL REPEATABLE READ;", PULL.format(i=i), "COMMIT;"]
    return lines


def script(pulls: int) -> tuple[str, list[str | None]]:
    """The single-user script, and what each dump before a pg_sleep measures (None: uncounted)."""
    lines: list[str] = []
    labels: list[str | None] = []
    for kind in KINDS:
        # Young cursors (made by young_cursors just before) are presented again and again and
        # stay as they are; an old cursor's transaction dates its cursor back first (DATE_BACK).
        lines.append("UPDATE drizzlesync.pull_cursor SET created_at = now();")
        lines += transactions(kind, WARM_UP)
        lines.append("SELECT pg_sleep(0);")
        labels.append(None)
        lines += transactions(kind, pulls)
        lines.append("SELECT pg_sleep(0);")
        labels.append(kind)
    return "\n".join(lines) + "\n", labels


def count(bindir: Path, work: Path, database: str, pulls: int, keep: Path | None) -> dict[str, float]:
    """Instructions per transaction of each kind, in `database`'s single-user backend."""
    text, labels = script(pulls)
    totals = block_totals(bindir, work, database, text, labels, keep)
    return {kind: total / pulls for kind, (total,) in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_revision_arguments(parser)
    parser.add_argument("--pulls", type=int, default=300, help="counted transactions of each kind")
    args = parser.parse_args()
    bindir = server_binaries(args.bindir)
    with work_directory("drizzlesync-pull-callgrind-") as work:
        for database, revision in revisions(args).items():
            migrated_example(bindir, work, database, revision)
            with private_cluster(bindir, work) as base:
                url = f"{base} dbname={database}"
                prepare(url)
                young_cursors(url)
            counts = count(bindir, work, database, args.pulls, args.keep)
            counts["empty pull, old cursor"] -= counts["dating back"]
            trivial = counts["trivial"]
            print(f"revision {revision}: instructions a transaction ({args.pulls} after {WARM_UP} uncounted)")
            for kind in KINDS:
                ratio = (
                    ""
                    if kind in ("trivial", "dating back")
                    else f"  {counts[kind] / trivial:.2f}x the trivial one"
                )
                print(f"  {kind:<24} {counts[kind] / 1000:>8.1f}k{ratio}")


if __name__ == "__main__":
    main()
