"""An idle poll's server CPU by the form of the scopes query, as other users' memberships grow.

    python bench/scopes_query.py [--database-url URL] [--others 100000] [--rounds 3]

Every push and pull resolves the user's scope keys with the project's `user_scopes_query`. The
example's is the memberships of the user, in a table keyed by uuid. Three ways to write it:

- `user_id = :user_uuid`: the id cast once, when it has a uuid's shape (null otherwise), compared
  with the column, which the table's primary key (user_id, team_id) serves;
- `user_id::text = :user_id`: each row's uuid cast to text and compared, which no index serves
  (the example's query before its revision 0017);
- `user_id = :user_id::uuid`: served by the index too, but it raises on an id that is not a uuid.

bench/host.py's 50 bench users (one team each) poll with empty pulls from young cursors, in a
committing DO loop, and the backend's CPU time per pull is read from /proc: first as they are, then
with `--others` memberships of other users added (and the table analyzed). The forms take turns in
each round; each figure is the best of `--rounds`, with its ratio to the `:user_uuid` form's.
No target: the figure says whether a poll costs its user's rows or every user's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import psycopg

from alembic_drizzlesync import localdb
from alembic_drizzlesync.ops import SetUserScopesOp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host import USERS, cpu_per_pull, prepare  # noqa: E402
from sync import migrated_database  # noqa: E402

FORMS = {
    "user_id = :user_uuid": "SELECT 'team:' || team_id FROM public.memberships WHERE user_id = :user_uuid",
    "user_id::text = :user_id": (
        "SELECT 'team:' || team_id FROM public.memberships WHERE user_id::text = :user_id"
    ),
    "user_id = :user_id::uuid": (
        "SELECT 'team:' || team_id FROM public.memberships WHERE user_id = :user_id::uuid"
    ),
}
PULLS = 1000
"""Pulls a measured loop; a form that reads every membership runs PULLS * USERS / memberships."""


def set_form(url: str, query: str) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        for statement in SetUserScopesOp(query).statements():
            db.execute(statement)


def add_others(url: str, others: int) -> int:
    """`others` users in one team of their own; returns the memberships in all."""
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "INSERT INTO users (email, name) SELECT g || '@others.bench', 'o' FROM generate_series(1, %s) g",
            (others,),
        )
        db.execute("INSERT INTO teams (name) VALUES ('others')")
        db.execute(
            "INSERT INTO memberships (user_id, team_id) "
            "SELECT u.id, (SELECT t.id FROM teams AS t WHERE t.name = 'others') "
            "FROM users AS u WHERE u.email LIKE '%%@others.bench'"
        )
        db.execute("VACUUM ANALYZE")
        row = db.execute("SELECT count(*) FROM memberships").fetchone()
    assert row is not None
    return int(row[0])


def measure(url: str, memberships: int, rounds: int) -> dict[str, float] | None:
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, query in FORMS.items():
            set_form(url, query)
            reads_all = name.startswith("user_id::text")
            pulls = max(USERS, PULLS * USERS // memberships) if reads_all else PULLS
            each = cpu_per_pull(url, pulls, rounds=1)
            if each is None:
                return None
            best[name] = min(best.get(name, each[0]), each[0])
    return best


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None, help="a server to create databases on")
    parser.add_argument("--others", type=int, default=100_000, help="other users' memberships added")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = args.database_url or localdb.find_server()

    with migrated_database(server, "head") as url:
        prepare(url)
        print("an empty poll's server CPU (a committing DO loop), by the form of the scopes query")
        print(f"{'memberships':>12}" + "".join(f"{name:>30}" for name in FORMS))
        memberships = USERS
        for step in ("as set up", "with others"):
            if step == "with others":
                memberships = add_others(url, args.others)
            best = measure(url, memberships, args.rounds)
            if best is None:
                print("the server's process cannot be read here: run this on the database's machine")
                return 1
            base = best["user_id = :user_uuid"]
            cells = "".join(
                f"{f'{us:,.0f} us ({us / base:.2f}x)':>30}" for us in (best[name] for name in FORMS)
            )
            print(f"{memberships:>12,}{cells}")
        print("ratios to the user_id = :user_uuid form's; no target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
