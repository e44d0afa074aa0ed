"""A push batch in instructions executed by the server (callgrind), against the batched upsert.

    python bench/push_instructions.py [--revision REV] [--compare-revision REV] [--patches 1000]
                                      [--puts | --runs N | --deletes] [--rounds 3] [--keep DIR]
                                      # needs valgrind and the Postgres server binaries
                                      # (--bindir, else pg_config's); as root it runs
                                      # them as the OS user `postgres`

bench/sync.py's push figure (10,000 patches through `drizzlesync.push` in batches of 1,000,
against the same changes as batched upserts, at most 2x in every run of five) is a ratio of
times on a shared machine, which moves by a third between rounds; the instructions the backend
executes repeat to a percent, so they tell two forms of the push apart. This sets
up bench/sync.py's push table in a private cluster made for the run, one database per revision
(todos indexed on (team_id, id), as `--own-index` does), then runs each database's single-user
backend under `valgrind --tool=callgrind`, collecting inside PostgresMain and dumping before each
`pg_sleep`. A round is one batch of `--patches` title patches through `drizzlesync.push` (`BEGIN`,
the call, `COMMIT`, each statement a line) and then the same changes as one batched upsert, each
side after a `VACUUM` of the table and the log, which is left out; the first round is uncounted.
`--puts` sends each change as a `put` carrying the row's team too, each its own client transaction
(`title_puts`): library version 19 applies such a batch as one `INSERT ... ON CONFLICT`
(`apply_puts`), as a batch of patches to one table is one `UPDATE`; version 18 (revision 0019)
applied it one client transaction at a time. `--runs N` alternates N puts and N patches, the mix
of a device's batch: since version 19 each run of puts or patches is one statement (`apply_runs`),
where version 18 applied such a batch one client transaction at a time. `--deletes` sends a
delete of each row instead, each its own client transaction, against one `DELETE` of the same keys
(bench/sync.py's `DELETE_KEYS`), the rows put back before each side, uncounted: library version 30
applies such a batch as one `DELETE`, where version 29 (revision 0030) applied it one client
transaction at a time.
`--keep DIR` keeps the dumps for `callgrind_annotate --inclusive=yes`.

Takes a minute or two per revision (valgrind runs the backend ~50x slower).
"""

from __future__ import annotations

import argparse
import json
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
from bench.sync import (  # noqa: E402
    BATCH,
    DELETE_KEYS,
    OWN_INDEX,
    RESTORE,
    UPSERT,
    add_todos,
    key_deletes,
    seed_team,
    title_patches,
    title_puts,
    title_rows,
)

CLIENT = "bench-push"
SETTLE = "VACUUM todos, drizzlesync.change_log;"
SIDES = ("push", "upsert")


def push_batch(
    user: str, team: str, ids: list[str], first_id: int, label: str, put_run: int, deletes: bool
) -> list[str]:
    """bench/sync.py's push of title changes to `ids`, as a host sends it, a statement a line: the
    changes in runs of `put_run` puts and `put_run` patches, alternating (0: all patches); with
    `deletes`, a delete of each row instead."""
    if deletes:
        batch = key_deletes(ids, first_id)
    else:
        patches, puts = title_patches(ids, first_id, label), title_puts(ids, first_id, label, team)
        batch = [puts[i] if put_run and (i // put_run) % 2 == 0 else patches[i] for i in range(len(ids))]
    mutations = literal(json.dumps(batch))
    call = (
        f"SELECT drizzlesync.push({literal(user)}, '{{}}'::jsonb, {literal(CLIENT)}, 1, {mutations}::jsonb);"
    )
    return ["BEGIN;", call, "COMMIT;"]


def upsert_batch(team: str, ids: list[str], label: str, deletes: bool) -> list[str]:
    """The same changes as bench/sync.py's batched upsert of them (`deletes`: its one DELETE)."""
    if deletes:
        return [DELETE_KEYS.replace("%s", literal(json.dumps(ids))) + ";"]
    return [UPSERT.format(rows=literal(json.dumps(title_rows(ids, team, label)))) + ";"]


def script(
    user: str, team: str, ids: list[str], rounds: int, put_run: int, deletes: bool
) -> tuple[str, list[str | None]]:
    """The single-user script, and what each dump before a pg_sleep measures (None: uncounted)."""
    lines: list[str] = []
    labels: list[str | None] = []
    next_id = 1
    restore = RESTORE.replace("%s", literal(team), 1).replace("%s", literal(json.dumps(ids)), 1)
    for r in range(rounds + 1):
        for side in SIDES:
            if deletes:
                lines.append(restore + ";")
            lines += [SETTLE, "SELECT pg_sleep(0);"]
            labels.append(None)
            if side == "push":
                lines += push_batch(user, team, ids, next_id, f"push {r}", put_run, deletes)
                next_id += len(ids)
            else:
                lines += upsert_batch(team, ids, f"upsert {r}", deletes)
            lines.append("SELECT pg_sleep(0);")
            labels.append(side if r else None)  # the first round warms the caches
    return "\n".join(lines) + "\n", labels


def count(
    bindir: Path,
    work: Path,
    database: str,
    patches: int,
    rounds: int,
    put_run: int,
    deletes: bool,
    keep: Path | None,
) -> dict[str, list[float]]:
    """Instructions per patch of each side's batches, round by round, in `database`."""
    with private_cluster(bindir, work) as base:
        url = f"{base} dbname={database}"
        with psycopg.connect(url, autocommit=True) as db:
            for statement in OWN_INDEX:
                db.execute(statement)
            user, team = seed_team(db)
            add_todos(db, team, patches)
            db.execute("VACUUM ANALYZE todos")
            ids = [str(r[0]) for r in db.execute("SELECT id FROM todos WHERE team_id = %s", (team,))]
    text, labels = script(user, team, ids, rounds, put_run, deletes)
    totals = block_totals(bindir, work, database, text, labels, keep)
    return {side: [total / patches for total in totals[side]] for side in SIDES}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_revision_arguments(parser)
    parser.add_argument("--patches", type=int, default=BATCH, help="patches in a batch (bench/sync.py's)")
    mix = parser.add_mutually_exclusive_group()
    mix.add_argument("--puts", action="store_true", help="each change a put, its own client transaction")
    mix.add_argument("--runs", type=int, default=0, help="alternate runs of this many puts and patches")
    mix.add_argument("--deletes", action="store_true", help="each change a delete of the row")
    parser.add_argument("--rounds", type=int, default=3, help="counted rounds, after one uncounted")
    args = parser.parse_args()
    put_run = args.patches if args.puts else args.runs

    def in_database(bindir: Path, work: Path, database: str) -> dict[str, list[float]]:
        return count(bindir, work, database, args.patches, args.rounds, put_run, args.deletes, args.keep)

    for revision, counts in counted_revisions(args, "drizzlesync-push-callgrind-", in_database):
        push, upsert = statistics.median(counts["push"]), statistics.median(counts["upsert"])
        kind = (
            "deletes"
            if args.deletes
            else "puts"
            if args.puts
            else f"alternating runs of {args.runs} puts and patches"
            if args.runs
            else "patches"
        )
        print(
            f"revision {revision}: instructions a change, batches of {args.patches} {kind} "
            f"({args.rounds} rounds after one uncounted; median, then each round)"
        )
        baseline = "DELETE" if args.deletes else "upsert"
        for side in SIDES:
            rounds = " / ".join(f"{c / 1000:.1f}k" for c in counts[side])
            name = baseline if side == "upsert" else side
            print(f"  {name:<7} {statistics.median(counts[side]) / 1000:>7.1f}k  ({rounds})")
        print(f"  push / {baseline} {push / upsert:.2f}x (bench/sync.py's target in time: at most 2x)")


if __name__ == "__main__":
    main()
