"""A page of an incremental pull in instructions executed by the server (callgrind), against the
SELECT of as many rows as JSON.

    python bench/pull_page_instructions.py [--revision REV] [--compare-revision REV] [--rows 100000]
                                           [--page 5000] [--rounds 2] [--keep DIR]
                                           # needs valgrind and the Postgres server binaries
                                           # (--bindir, else pg_config's); as root it runs
                                           # them as the OS user `postgres`

bench/sync.py's pull figure (100,000 changed rows in pages of 5,000, at most 2x the plain SELECT of
them as JSON) is a ratio of times on a shared machine, which moves by a fifth to a third between
rounds; the instructions a backend executes repeat to a tenth of a percent, so they tell two forms
of a pull page apart. This sets up that figure's table in a private cluster made for the run, one
database per revision (todos indexed on (team_id, id), as `--own-index` does): `--rows` todos of one
team, bootstrapped by a client, then every row updated once, and the client's pull taken to its
second page. Each database's single-user backend then runs under `valgrind --tool=callgrind`,
collecting inside PostgresMain and dumping before each `pg_sleep`: a round is that second page
(`BEGIN ISOLATION LEVEL REPEATABLE READ`, the pull as the hosts call it, cast to text, then
`ROLLBACK`, so that every round serves the same page from the same cursor), then the SELECT of
`--page` of the team's rows as JSON (bench/sync.py's, a page's worth); the first round is
uncounted. What is counted is the server's work on the statements, not the client protocol's,
which single-user mode does not have. `--keep DIR` keeps the dumps for
`callgrind_annotate --inclusive=yes`.

Takes a minute or two per revision (valgrind runs the backend ~50x slower).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.callgrind import (  # noqa: E402
    add_revision_arguments,
    block_totals,
    counted_revisions,
    literal,
    private_cluster,
)
from bench.sync import OWN_INDEX, PAGE, Client, add_todos, seed_team  # noqa: E402

SIDES = ("pull page", "SELECT")


def prepare(url: str, rows: int, page: int) -> tuple[str, str, str, str]:
    """The pull figure's table with one team's `rows` todos, all updated after a client's bootstrap:
    (user, team, client id, the cursor of the window's second page)."""
    with psycopg.connect(url, autocommit=True) as db:
        for statement in OWN_INDEX:
            db.execute(statement)
        user, team = seed_team(db)
        add_todos(db, team, rows)
        db.execute("VACUUM ANALYZE todos")
        client = Client(url, user, as_host=True)
        client.cursor, _ = client.pull_all(None)
        db.execute("UPDATE todos SET done = NOT done WHERE team_id = %s", (team,))
        db.execute("VACUUM todos, drizzlesync.change_log")
        cursor = client.pull_page(client.cursor, page)["cursor"]
        client.conn.close()
    return user, team, client.client_id, cursor


def script(
    user: str, team: str, client_id: str, cursor: str, page: int, rounds: int
) -> tuple[str, list[str | None]]:
    """The single-user script, and what each dump before a pg_sleep measures (None: uncounted)."""
    pull = (
        f"SELECT octet_length(drizzlesync.pull({literal(user)}, '{{}}'::jsonb, {literal(client_id)}, 1, "
        f"{literal(cursor)}, {page})::text);"
    )
    select = (
        "SELECT octet_length(coalesce(json_agg(to_jsonb(t)), '[]')::text) "
        f"FROM (SELECT * FROM todos WHERE team_id = {literal(team)} LIMIT {page}) AS t;"
    )
    blocks = {"pull page": ["BEGIN ISOLATION LEVEL REPEATABLE READ;", pull, "ROLLBACK;"], "SELECT": [select]}
    lines: list[str] = []
    labels: list[str | None] = []
    for r in range(rounds + 1):
        for side in SIDES:
            lines += [*blocks[side], "SELECT pg_sleep(0);"]
            labels.append(side if r else None)  # the first round warms the caches
    return "\n".join(lines) + "\n", labels


def count(
    bindir: Path, work: Path, database: str, rows: int, page: int, rounds: int, keep: Path | None
) -> dict[str, list[int]]:
    """Instructions of each side, round by round, in `database`."""
    with private_cluster(bindir, work) as base:
        user, team, client_id, cursor = prepare(f"{base} dbname={database}", rows, page)
    text, labels = script(user, team, client_id, cursor, page, rounds)
    return block_totals(bindir, work, database, text, labels, keep)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_revision_arguments(parser)
    parser.add_argument("--rows", type=int, default=100_000, help="the team's todos, all changed")
    parser.add_argument("--page", type=int, default=PAGE, help="changes a page (bench/sync.py's)")
    parser.add_argument("--rounds", type=int, default=2, help="counted rounds, after one uncounted")
    args = parser.parse_args()

    def in_database(bindir: Path, work: Path, database: str) -> dict[str, list[int]]:
        return count(bindir, work, database, args.rows, args.page, args.rounds, args.keep)

    for revision, counts in counted_revisions(args, "drizzlesync-pull-page-callgrind-", in_database):
        pull, select = statistics.median(counts["pull page"]), statistics.median(counts["SELECT"])
        print(
            f"revision {revision}: instructions, a page of {args.page:,} of {args.rows:,} changed rows "
            f"({args.rounds} rounds after one uncounted; median, then each round)"
        )
        for side in SIDES:
            each = " / ".join(f"{c / 1e6:.1f} M" for c in counts[side])
            print(f"  {side:<10} {statistics.median(counts[side]) / 1e6:>7.1f} M  ({each})")
        print(f"  pull page / SELECT {pull / select:.2f}x (bench/sync.py's target in time: at most 2x)")


if __name__ == "__main__":
    main()
