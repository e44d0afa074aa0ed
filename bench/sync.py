"""Sync benchmarks, measured side by side in one run; prints a table of ratios.

    python bench/sync.py [--database-url URL] [--rows 100000] [--patches 10000] [--log-rows 10000000]
                         [--bootstrap-rows 100000,1000000] [--other-rows 1000000] [--http-rows 100000]
                         [--window-entries 300000] [--key-teams 100] [--other-tables 1000]
                         [--push-runs 5] [--repeat 5]
                         [--pull-revision REV] [--bootstrap-revision REV] [--push-revision REV]
                         [--only NAME,...] [--own-index]

1. Bootstrap (null cursor, pages of 5,000) of each of `--bootstrap-rows`
   rows of one team, against a plain `SELECT` of the same rows as JSON
   (target: at most 1.3x). Each page goes as the Python host sends it (`BEGIN`,
   the call cast to text, `COMMIT`, one simple query) and is parsed here.
   The same bootstrap over HTTP through `drizzlesync serve` (one worker, its
   own process) with the server's default page size, against the same
   `SELECT` (target: at most 3x), and against the same pages called in SQL
   (no target: what is left is the host's share, HTTP and JSON).
2. Bootstrap of a 1,000-row team in a table that also holds `--other-rows`
   rows of other teams, against the same bootstrap from a table holding only
   that team (target: at most 2x).
3. Pull of `--rows` changed rows, paged as the bootstrap is (one query a
   page, parsed here), against a plain `SELECT` of the same rows as JSON
   (target: at most 2x); also in CPU time, as the bootstrap.
4. Push of `--patches` patch mutations against the same changes as plain
   batched upserts into the same captured table (target: at most 2x in every
   run): `--push-runs` runs, each in a new database and the best of twice
   `--repeat` rounds a side, the worst in the table and every run's ratio in
   a closing note. Each round's request bodies are built before its timer.
   `--push-revision` also measures an older library version's push (say
   0007) in each run, right after the current one's, each in a database of
   its own.
   The same push as puts (`puts`), each its own client transaction, each
   carrying the row's team, against the same upserts (our own target, the
   patches' 2x; library version 19 applies such a batch as one statement);
   and a delete of each of the same rows (`deletes`), each its own client
   transaction, against the same keys deleted by plain batched `DELETE`s
   (our own target, 2x; library version 30 applies such a batch as one
   statement), the rows put back untimed before each round. `--push-revision`
   measures an older version's in these too.
   And 1,000 pushes of one patch each (`small`), a device's usual push,
   against as many one-row upserts, and 1,000 pulls of one change each
   against as many one-row reads as JSON (no targets: the protocol's fixed
   cost a request; `--push-revision` and `--pull-revision` add an older
   version's).
5. A 100-change pull against a change log of `--log-rows` entries, against one
   of 10,000 (target: at most 2x).
6. A 10-change pull whose window holds `--window-entries` log entries of 300
   other teams, against the same pull on a quiet log (target: at most 2x),
   each after another device's pull has planned the session's statements
   anew; and in a closing note the same as the session's first pull after
   the log's VACUUM, which replans them (see bench_busy_window).
7. The estimate a bootstrap starts with (`estimatedTotal`), for a team of
   1,000 rows and one of 200,000 (beyond the 10,000 it counts) amid
   `--other-rows` rows of other teams, against the first page of that
   bootstrap, which includes it (target: at most 0.25x); prints how far off
   each estimate was. `--estimate-revision` adds an older library version's,
   in the same run.
8. Bootstrap of a user in `--key-teams` teams of 10 todos each, todos
   indexed on (team_id, id) and read one scope key at a time through it,
   against the same bootstrap walking todos' scope index (no target: what
   reading by key costs a user with many keys; library version 13).
9. The small figures of 4 (`schema`: 1,000 one-patch pushes, 1,000 one-change
   pulls) in a database that also holds `--other-tables` synced tables, each
   with a key, a foreign key, a check and a unique constraint, against the
   same in the example's database alone (no target: what a request costs
   should not grow with the schema; since library version 22 it barely
   does). `--push-revision` and `--pull-revision` add an older version's.

`--own-index` indexes todos on (team_id, id) in every database the run
migrates, in place of the example's (team_id): the index that serves the
rule 'team:' || team_id since library version 13, so that todos has no scope
index and bootstrap pages walk the table's own index.

The SQL functions are called directly through psycopg, as every host does;
each figure is the best of `--repeat` rounds a side (5), alternated with its
baseline's, and the short figures and the push the best of twice that: on a
shared two-core machine a round's time moves by a fifth to a third from one
to the next, and with three rounds a side a run's ratio missed its target
now and then where the instructions had not moved. The bootstrap figures are also
given in CPU time (the server process of the connection and this one, which
parses the JSON on both sides) when the server runs on this machine: on a
shared, loaded machine wall times mostly measure the wait for a core. Databases are created on the
server and dropped afterwards; the example project's migrations set them up.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
import psycopg
from alembic import command
from alembic.config import Config

from alembic_drizzlesync import localdb
from alembic_drizzlesync.sync.protocol import DEFAULT_LIMITS

EXAMPLE = Path(__file__).resolve().parents[1] / "example_project"
OWN_INDEX = (
    "DROP INDEX todos_team_id_idx",
    "CREATE INDEX todos_team_id_id_idx ON todos (team_id, id)",
    "SELECT drizzlesync.index_scope(s) FROM drizzlesync.synced_table AS s WHERE s.table_name = 'todos'",
)
"""--own-index: todos indexed on (team_id, id), which serves its scope rule, and its scope index gone."""
migrated_schema: list[str] = []
"""Statements every database runs after its migrations: OWN_INDEX under --own-index (main sets it)."""
PAGE = 5000
BATCH = 1000
SMALL_PUSHES = 1000
"""The small figures: this many pushes of one patch, and pulls of one change, a round."""
UPSERT = (
    "INSERT INTO todos (id, team_id, title) "
    "SELECT id, team_id, title FROM jsonb_to_recordset({rows}::jsonb) "
    "AS r(id uuid, team_id uuid, title text) "
    "ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title"
)
"""The push figure's baseline: a batch of rows (`{rows}`, a JSON array) upserted into todos."""
DELETE_KEYS = "DELETE FROM todos WHERE id IN (SELECT k::uuid FROM jsonb_array_elements_text(%s::jsonb) AS k)"
"""The deletes figure's baseline: a batch of todos' keys (a JSON array) deleted in one statement."""
RESTORE = (
    "INSERT INTO todos (id, team_id, title) "
    "SELECT k::uuid, %s, 'todo' FROM jsonb_array_elements_text(%s::jsonb) AS k ON CONFLICT (id) DO NOTHING"
)
"""Puts back the rows a round of deletes took (a team's, by their keys) before the next round."""


def title_rows(ids: list[str], team: str, label: str) -> list[dict[str, str]]:
    """The push figure's baseline batch: the rows `UPSERT` writes for the same title changes."""
    return [{"id": todo, "team_id": team, "title": f"{label} {i}"} for i, todo in enumerate(ids)]


def title_patches(ids: list[str], first_id: int, label: str) -> list[dict[str, Any]]:
    """The push figure's batch: a title patch to each of `ids`, numbered from `first_id`."""
    return [
        {
            "id": first_id + i,
            "tx": first_id + i,
            "table": "todos",
            "op": "patch",
            "pk": {"id": todo},
            "values": {"title": f"{label} {i}"},
        }
        for i, todo in enumerate(ids)
    ]


def key_deletes(ids: list[str], first_id: int) -> list[dict[str, Any]]:
    """A delete of each of `ids`, numbered from `first_id`, each its own client transaction, as a
    device that clears a list offline queues them."""
    return [
        {"id": first_id + i, "tx": first_id + i, "table": "todos", "op": "delete", "pk": {"id": todo}}
        for i, todo in enumerate(ids)
    ]


def title_puts(ids: list[str], first_id: int, label: str, team: str) -> list[dict[str, Any]]:
    """The same changes as `title_patches`, each a put carrying the row's team, as a device that
    writes one row at a time queues them: each its own client transaction."""
    return [
        {**m, "op": "put", "values": {**m["values"], "team_id": team}}
        for m in title_patches(ids, first_id, label)
    ]


GROUPS = (
    "bootstrap",
    "http",
    "tenant",
    "pull",
    "push",
    "puts",
    "deletes",
    "small",
    "schema",
    "log",
    "window",
    "estimate",
    "keys",
)


def best(run: Callable[[], object], repeat: int, setup: Callable[[], object] = lambda: None) -> float:
    """The fastest of `repeat` runs, each after an untimed `setup`."""
    times = []
    for _ in range(repeat):
        setup()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def backend_cpu(conn: psycopg.Connection[Any]) -> float | None:
    """CPU seconds the connection's server process has run, when the server is on this machine
    (Linux's /proc/<pid>/schedstat, in nanoseconds); None otherwise."""
    pid = conn.info.backend_pid
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def best_cpu(
    run: Callable[[], object], conn: psycopg.Connection[Any], repeat: int
) -> tuple[float, float] | None:
    """The CPU time of the cheapest of `repeat` runs: the server process of `conn`, and this
    process (parsing the JSON). On a loaded machine CPU time varies far less than wall time, which
    counts waiting for a core; None when the server's process cannot be read."""
    times = []
    for _ in range(repeat):
        server, client = backend_cpu(conn), time.process_time()
        run()
        after = backend_cpu(conn)
        if server is None or after is None:
            return None
        times.append((after - server, time.process_time() - client))
    return min(times, key=sum)


CpuTimes = tuple[float, float] | None


def total_cpu(times: CpuTimes) -> float | None:
    """Server and client CPU time together, or None when the server's could not be read."""
    return None if times is None else sum(times)


@contextmanager
def frozen_gc() -> Iterator[None]:
    """The process's objects frozen for the timed rounds of a figure whose sides parse JSON.

    Both sides' JSON becomes Python objects, and the cyclic GC runs while they are made, walking
    every object the process holds in the generations it collects; without a freeze, that cost
    depended on what this process did before (migrations, another figure or revision's run): the
    same SELECT's parse took 0.15 s or 0.20 s. Frozen, the objects from before are never walked
    again.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def migrate(url: str, revision: str = "head") -> None:
    """Run the example project's migrations on `url` (a SQLAlchemy URL) up to `revision`."""
    sys.path.insert(0, str(EXAMPLE))
    os.environ["DATABASE_URL"] = url  # the example's env.py reads it first
    command.upgrade(Config(str(EXAMPLE / "alembic.ini")), revision)
    sys.path.remove(str(EXAMPLE))
    for name in ("app.models", "app"):
        sys.modules.pop(name, None)


@contextmanager
def migrated_database(
    server: str, revision: str = "head", schema: tuple[str, ...] | None = None
) -> Iterator[str]:
    """A database migrated to `revision`, then running `schema` (default: `migrated_schema`)."""
    with localdb.temporary_database(server, prefix="drizzlesync_bench") as url:
        migrate(url, revision)
        with psycopg.connect(localdb.libpq_url(url), autocommit=True) as db:
            for statement in migrated_schema if schema is None else schema:
                db.execute(statement)
        yield localdb.libpq_url(url)


class Client:
    """A client of one user, calling the protocol functions like a host does.

    With `as_host`, a pull page is what the Python host sends (processor.py): `BEGIN`, the call
    with its JSON cast to text, and `COMMIT` as one simple query, one round trip; the text is then
    parsed here, as the device would. Without it, three round trips (psycopg's transaction
    block), the JSON parsed by psycopg's loader. `conn`: a connection of another client to share
    (another device on the same backend), else one of its own."""

    def __init__(
        self, url: str, user: str, as_host: bool = False, conn: psycopg.Connection[Any] | None = None
    ) -> None:
        self.conn = conn or psycopg.connect(url)
        self.user = user
        self.client_id = f"bench-{uuid.uuid4().hex[:8]}"
        self.cursor: str | None = None
        self.next_id = 1
        self.as_host = as_host

    def pull_page(self, cursor: str | None, limit: int) -> dict[str, Any]:
        arguments = (self.user, self.client_id, cursor, limit)
        if self.as_host:
            self.conn.autocommit = True  # the transaction is the query's explicit BEGIN ... COMMIT
            call = psycopg.ClientCursor(self.conn).execute(
                "BEGIN ISOLATION LEVEL REPEATABLE READ; "
                "SELECT CAST(drizzlesync.pull(%s, '{}'::jsonb, %s, 1, %s, %s) AS text); COMMIT",
                arguments,
            )
            call.nextset()  # from BEGIN's result to the call's
            result = call.fetchone()
        else:
            self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with self.conn.transaction():
                result = self.conn.execute(
                    "SELECT drizzlesync.pull(%s, '{}'::jsonb, %s, 1, %s, %s)", arguments
                ).fetchone()
        assert result is not None
        # A library version whose pull returns text (as the hosts read it) gives a str here too.
        page: dict[str, Any] = json.loads(result[0]) if isinstance(result[0], str) else result[0]
        return page

    def pull_all(self, cursor: str | None, limit: int = PAGE) -> tuple[str, int]:
        changes = 0
        while True:
            page = self.pull_page(cursor, limit)
            changes += len(page["changes"])
            cursor = page["cursor"]
            if not page["hasMore"]:
                assert cursor is not None
                return cursor, changes

    def push(self, mutations: str) -> None:
        """Push `mutations`, a request's JSON array as text, as a host passes the body on."""
        self.conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
        with self.conn.transaction():
            self.conn.execute(
                "SELECT drizzlesync.push(%s, '{}'::jsonb, %s, 1, %s::jsonb)",
                (self.user, self.client_id, mutations),
            )


def seed_team(db: psycopg.Connection[Any]) -> tuple[str, str]:
    user = db.execute(
        "INSERT INTO users (email, name) VALUES (gen_random_uuid() || '@bench', 'b') RETURNING id::text"
    ).fetchone()
    team = db.execute("INSERT INTO teams (name) VALUES ('bench') RETURNING id::text").fetchone()
    assert user and team
    db.execute("INSERT INTO memberships (user_id, team_id) VALUES (%s, %s)", (user[0], team[0]))
    return str(user[0]), str(team[0])


def add_todos(db: psycopg.Connection[Any], team: str, count: int) -> None:
    db.execute(
        "INSERT INTO todos (team_id, title) SELECT %s, 'todo ' || i FROM generate_series(1, %s) AS i",
        (team, count),
    )


def bench_pull(url: str, rows: int, repeat: int) -> tuple[float, float, float | None, float | None]:
    with psycopg.connect(url, autocommit=True) as db:
        user, team = seed_team(db)
        add_todos(db, team, rows)
        client = Client(url, user, as_host=True)  # one round trip a page, as the host pages
        client.cursor, _ = client.pull_all(None)

        def touch_every_row() -> None:
            db.execute("UPDATE todos SET done = NOT done WHERE team_id = %s", (team,))
            # Both sides then read settled pages: the first reader after a
            # 100,000-row UPDATE would otherwise pay its hint-bit writes alone.
            db.execute("VACUUM todos, drizzlesync.change_log")

        def pull() -> None:
            client.cursor, changes = client.pull_all(client.cursor)
            assert changes == rows, changes

        def select() -> None:
            select_team_as_json(db, team, rows)

        # Alternated, one of each per round after one update of every row:
        # on a shared machine the load moves between two phases run one
        # after the other.
        pulls, selects = [], []
        pull_cpus: list[float | None] = []
        select_cpus: list[float | None] = []
        with frozen_gc():
            for _ in range(repeat):
                pulls.append(best(pull, 1, setup=touch_every_row))
                selects.append(best(select, 1))
                # The same again in CPU time (server and client), which the load
                # of a shared machine moves far less than wall time.
                touch_every_row()
                pull_cpus.append(total_cpu(best_cpu(pull, client.conn, 1)))
                select_cpus.append(total_cpu(best_cpu(select, db, 1)))
        pull_cpu = None if None in pull_cpus else min(c for c in pull_cpus if c is not None)
        select_cpu = None if None in select_cpus else min(c for c in select_cpus if c is not None)
        return min(pulls), min(selects), pull_cpu, select_cpu


def select_team_as_json(db: psycopg.Connection[Any], team: str, rows: int) -> None:
    """The baseline of the pull and bootstrap figures: the team's todos as JSON in one SELECT."""
    row = db.execute(
        "SELECT coalesce(json_agg(to_jsonb(t)), '[]') FROM todos AS t WHERE team_id = %s", (team,)
    ).fetchone()
    assert row is not None and len(row[0]) == rows


def bench_bootstrap(url: str, rows: int, repeat: int) -> tuple[float, float, CpuTimes, CpuTimes]:
    """A new device's first pull of `rows` rows, against reading them as JSON in one SELECT: wall
    times, then CPU times (server and client, see `best_cpu`)."""
    with psycopg.connect(url, autocommit=True) as db:
        user, team = seed_team(db)
        add_todos(db, team, rows)
        db.execute("VACUUM ANALYZE")
        # Paged as the host pages (one round trip a page), not three round trips a page: on a
        # loaded machine each round trip is a wait for a core that no host pays.
        client = Client(url, user, as_host=True)

        def bootstrap() -> None:
            client.client_id = f"bench-{uuid.uuid4().hex[:8]}"  # a new device, on a pooled connection
            _, changes = client.pull_all(None)
            assert changes == rows + 2, changes  # the team and the membership come too

        def select() -> None:
            select_team_as_json(db, team, rows)

        # Alternated, one of each per round: on a shared machine the load moves between two
        # phases run one after the other.
        boots: list[float] = []
        selects: list[float] = []
        boot_cpus: list[CpuTimes] = []
        select_cpus: list[CpuTimes] = []
        with frozen_gc():
            for _ in range(repeat):
                boots.append(best(bootstrap, 1))
                selects.append(best(select, 1))
                boot_cpus.append(best_cpu(bootstrap, client.conn, 1))
                select_cpus.append(best_cpu(select, db, 1))
        return min(boots), min(selects), cheapest(boot_cpus), cheapest(select_cpus)


def cheapest(times: list[CpuTimes]) -> CpuTimes:
    """The run of least CPU time (server and client together), or None if any could not be read."""
    known = [t for t in times if t is not None]
    return None if len(known) < len(times) else min(known, key=sum)


def bench_http_bootstrap(url: str, rows: int, repeat: int) -> tuple[float, float, float]:
    """A new device's first sync over HTTP, pages of the host's default size, against one SELECT;
    and the same pages called in SQL, which leaves the host's own share (HTTP, JSON in and out)."""
    with psycopg.connect(url, autocommit=True) as db, served(url) as base:
        user, team = seed_team(db)
        add_todos(db, team, rows)
        db.execute("VACUUM ANALYZE")
        http = httpx.Client(base_url=base, headers={"authorization": f"Bearer {user}"}, timeout=120)
        client = Client(url, user)

        def bootstrap() -> None:
            request = {"protocol": 1, "schemaVersion": 1, "clientId": f"bench-{uuid.uuid4().hex[:8]}"}
            cursor, changes = None, 0
            while True:
                page = http.post("/pull", json={**request, "cursor": cursor}).json()
                changes += len(page["changes"])
                cursor = page["cursor"]
                if not page["hasMore"]:
                    break
            assert changes == rows + 2, changes

        def in_sql() -> None:
            client.client_id = f"bench-{uuid.uuid4().hex[:8]}"
            _, changes = client.pull_all(None, DEFAULT_LIMITS.max_changes)
            assert changes == rows + 2, changes

        def select() -> None:
            select_team_as_json(db, team, rows)

        return best(bootstrap, repeat), best(select, repeat), best(in_sql, repeat)


@contextmanager
def served(url: str, workers: int = 1, pool_size: int | None = None) -> Iterator[str]:
    """`drizzlesync serve --dev` of the example project (the benchmark's users are made up) on a
    free port, in its own process as a host runs, its output discarded; yields the base URL.
    `pool_size`: serve's --pool-size, its default unless given."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(Path(sys.executable).parent / "drizzlesync"), "serve", "--dev", "--port", str(port)]
    command += ["--workers", str(workers)]
    if pool_size is not None:
        command += ["--pool-size", str(pool_size)]
    env = {**os.environ, "DATABASE_URL": url}
    server = subprocess.Popen(
        command, cwd=EXAMPLE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.post(f"{base}/pull", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, "drizzlesync serve exited"
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def bench_tenant_bootstrap(server: str, other_rows: int, repeat: int) -> tuple[float, float]:
    """Bootstrap of a 1,000-row team amid `other_rows` rows of 1,000-row teams, and alone."""
    return _team_bootstrap(server, other_rows, repeat), _team_bootstrap(server, 0, repeat)


def add_other_teams(db: psycopg.Connection[Any], other_rows: int) -> None:
    """`other_rows` todos in teams of 1,000 that the benchmark's user is not in."""
    db.execute(
        "INSERT INTO teams (name) SELECT 'other ' || i FROM generate_series(1, %s) AS i",
        (other_rows // 1000,),
    )
    db.execute(
        "INSERT INTO todos (team_id, title) SELECT t.id, 'todo ' || i FROM teams AS t "
        "CROSS JOIN generate_series(1, 1000) AS i"
    )


def _team_bootstrap(server: str, other_rows: int, repeat: int) -> float:
    with migrated_database(server) as url, psycopg.connect(url, autocommit=True) as db:
        add_other_teams(db, other_rows)
        user, team = seed_team(db)
        add_todos(db, team, 1000)
        db.execute("VACUUM ANALYZE")
        client = Client(url, user)

        def bootstrap() -> None:
            client.client_id = f"bench-{uuid.uuid4().hex[:8]}"
            _, changes = client.pull_all(None)
            assert changes == 1002, changes

        return best(bootstrap, repeat)


def bench_many_keys(server: str, teams: int, repeat: int) -> tuple[float, float]:
    """Bootstrap of a user in `teams` teams of 10 todos each: through todos' own index, one key at
    a time, and through its scope index."""
    by_key = _many_keys_bootstrap(server, teams, repeat, OWN_INDEX)
    return by_key, _many_keys_bootstrap(server, teams, repeat, ())


def _many_keys_bootstrap(server: str, teams: int, repeat: int, schema: tuple[str, ...]) -> float:
    with migrated_database(server, schema=schema) as url, psycopg.connect(url, autocommit=True) as db:
        user, _ = seed_team(db)
        db.execute(
            "WITH t AS (INSERT INTO teams (name) SELECT 'more ' || i FROM generate_series(2, %s) AS i"
            " RETURNING id) INSERT INTO memberships (user_id, team_id) SELECT %s, t.id FROM t",
            (teams, user),
        )
        db.execute(
            "INSERT INTO todos (team_id, title) SELECT m.team_id, 'todo ' || i FROM memberships AS m"
            " CROSS JOIN generate_series(1, 10) AS i WHERE m.user_id = %s",
            (user,),
        )
        db.execute("VACUUM ANALYZE")
        client = Client(url, user, as_host=True)

        def bootstrap() -> None:
            client.client_id = f"bench-{uuid.uuid4().hex[:8]}"
            _, changes = client.pull_all(None)
            assert changes == teams * 12, changes  # a team, a membership and 10 todos each

        return best(bootstrap, repeat)


def bench_estimate(
    server: str, team_rows: int, other_rows: int, repeat: int, revision: str = "head"
) -> tuple[float, float, int]:
    """A bootstrap's estimate for a team of `team_rows` amid `other_rows`, against the bootstrap's
    first page; and the estimate itself. `revision`: the example's revision to migrate to."""
    with migrated_database(server, revision) as url, psycopg.connect(url, autocommit=True) as db:
        add_other_teams(db, other_rows)
        user, team = seed_team(db)
        add_todos(db, team, team_rows)
        db.execute("VACUUM ANALYZE")
        client = Client(url, user)
        query = "SELECT drizzlesync.snapshot_estimate(ARRAY(SELECT drizzlesync.user_scopes(%s, '{}'::jsonb)))"
        estimated = 0

        def estimate() -> None:
            nonlocal estimated
            with db.transaction():
                row = db.execute(query, (user,)).fetchone()
            assert row is not None
            estimated = int(row[0])

        def first_page() -> None:
            client.client_id = f"bench-{uuid.uuid4().hex[:8]}"
            page = client.pull_page(None, PAGE)
            assert page["estimatedTotal"] == estimated, page["estimatedTotal"]

        took = best(estimate, repeat)
        return took, best(first_page, repeat), estimated


PushKind = Literal["patches", "puts", "deletes"]
"""What a push figure's mutations are: title patches, the same as puts, or deletes of the rows."""


def bench_push(
    url: str, patches: int, repeat: int, kind: PushKind = "patches", batch_size: int = BATCH
) -> tuple[float, float, float | None, float | None]:
    """A push of `patches` patch mutations (`kind` "puts": the same as puts, `title_puts`;
    "deletes": a delete of each row instead, `key_deletes`) in batches of `batch_size` through
    `drizzlesync.push`, against the same changes as batched upserts (deletes: `DELETE_KEYS`) into
    the same (captured) table: the best of `repeat` rounds each, alternated; wall times, then CPU
    times (the side's server process and this one, see `best_cpu`).

    Both sides run on warm connections (a host pushes on a pooled one), on a table that has
    statistics, and each round starts from a vacuumed table and log: every round updates each
    row once, and a round that found its predecessor's dead rows in place (or not, if
    autovacuum came by) would pay for them, or not, by chance. Each round's request bodies are
    JSON text made before its timer starts: a device builds its mutations and a host passes the
    body on as text, so building them here in Python (33 ms a round of pushes, 14 ms of
    upserts) is neither side's cost. Before a round of deletes the rows are put back, untimed."""
    with psycopg.connect(url, autocommit=True) as db:
        user, team = seed_team(db)
        add_todos(db, team, patches)
        db.execute("VACUUM ANALYZE todos")
        ids = [str(r[0]) for r in db.execute("SELECT id FROM todos WHERE team_id = %s", (team,))]
        batches = [ids[start : start + batch_size] for start in range(0, patches, batch_size)]
        rounds = iter(range(1_000_000))
        client = Client(url, user)

        def push_bodies() -> list[str]:
            r, bodies = next(rounds), []
            for batch in batches:
                label = f"push {r}"
                changes = (
                    title_puts(batch, client.next_id, label, team)
                    if kind == "puts"
                    else key_deletes(batch, client.next_id)
                    if kind == "deletes"
                    else title_patches(batch, client.next_id, label)
                )
                bodies.append(json.dumps(changes))
                client.next_id += len(batch)
            return bodies

        def upsert_bodies() -> list[str]:
            r = next(rounds)
            if kind == "deletes":
                return [json.dumps(batch) for batch in batches]
            return [json.dumps(title_rows(batch, team, f"upsert {r}")) for batch in batches]

        def push(bodies: list[str]) -> None:
            for body in bodies:
                client.push(body)

        def upsert(bodies: list[str]) -> None:
            statement = DELETE_KEYS if kind == "deletes" else UPSERT.format(rows="%s")
            for body in bodies:
                with db.transaction():
                    db.execute(statement, (body,))

        def timed(
            run: Callable[[list[str]], None], bodies: list[str], conn: psycopg.Connection[Any]
        ) -> tuple[float, float | None]:
            if kind == "deletes":
                db.execute(RESTORE, (team, json.dumps(ids)))
            db.execute("VACUUM todos, drizzlesync.change_log")
            server, process, start = backend_cpu(conn), time.process_time(), time.perf_counter()
            run(bodies)
            wall, after = time.perf_counter() - start, backend_cpu(conn)
            if server is None or after is None:
                return wall, None
            return wall, after - server + time.process_time() - process

        # Untimed: both connections' plans and caches warm, as on a host that has served a push.
        timed(push, push_bodies(), client.conn)
        timed(upsert, upsert_bodies(), db)
        pushes, upserts = [], []
        for _ in range(repeat):
            pushes.append(timed(push, push_bodies(), client.conn))
            upserts.append(timed(upsert, upsert_bodies(), db))
        client.conn.close()
        push_cpu = [cpu for _, cpu in pushes if cpu is not None]
        upsert_cpu = [cpu for _, cpu in upserts if cpu is not None]
        return (
            min(wall for wall, _ in pushes),
            min(wall for wall, _ in upserts),
            min(push_cpu) if push_cpu else None,
            min(upsert_cpu) if upsert_cpu else None,
        )


def bench_small_pulls(url: str, pulls: int, repeat: int) -> tuple[float, float]:
    """`pulls` pulls of one change each (a todo renamed, then pulled as the host sends it), against
    as many reads of that row as JSON (`SELECT to_jsonb(t)`, one round trip each): the best of
    `repeat` rounds a side, alternated, each side's time summed over its own calls (the renames
    are outside the timers)."""
    with psycopg.connect(url, autocommit=True) as db, psycopg.connect(url, autocommit=True) as reader:
        user, team = seed_team(db)
        add_todos(db, team, 100)
        db.execute("VACUUM ANALYZE todos")
        ids = [str(r[0]) for r in db.execute("SELECT id FROM todos WHERE team_id = %s", (team,))]
        client = Client(url, user, as_host=True)
        cursor, _ = client.pull_all(None)
        renames = itertools.count()

        def rename(i: int) -> str:
            todo = ids[i % len(ids)]
            db.execute("UPDATE todos SET title = %s WHERE id = %s", (f"small {next(renames)}", todo))
            return todo

        def pull() -> float:
            nonlocal cursor
            cursor, _ = client.pull_all(cursor)  # untimed: the reads' renames
            spent = 0.0
            for i in range(pulls):
                rename(i)
                start = time.perf_counter()
                page = client.pull_page(cursor, PAGE)
                spent += time.perf_counter() - start
                assert len(page["changes"]) == 1, len(page["changes"])
                cursor = page["cursor"]
            return spent

        def select() -> float:
            spent = 0.0
            for i in range(pulls):
                todo = rename(i)
                start = time.perf_counter()
                row = reader.execute(
                    "SELECT to_jsonb(t)::text FROM todos AS t WHERE id = %s", (todo,)
                ).fetchone()
                assert row is not None
                json.loads(row[0])
                spent += time.perf_counter() - start
            return spent

        pull(), select()  # untimed: plans and caches warm, as on a host that has served a pull
        pulled, selected = [], []
        for _ in range(repeat):
            pulled.append(pull())
            selected.append(select())
        client.conn.close()
        return min(pulled), min(selected)


def add_synced_tables(url: str, count: int) -> None:
    """`count` more synced tables beside the example's (`extra_<n>`, scoped by team), each with a
    key, a foreign key, a check and a unique constraint: a schema of a large application's size."""
    with psycopg.connect(url, autocommit=True) as db:
        for n in range(count):
            db.execute(
                f"CREATE TABLE extra_{n} (id uuid PRIMARY KEY, team_id uuid NOT NULL REFERENCES teams (id),"
                " title text CHECK (length(title) < 1000), rank integer UNIQUE)"
            )
            rule = "'team:' || team_id"
            db.execute("SELECT drizzlesync.enable_sync('public', %s, %s)", (f"extra_{n}", rule))
        db.execute("ANALYZE")


def bench_log_size(server: str, log_rows: int, repeat: int) -> float:
    """Time of a pull of 100 fresh changes with `log_rows` older entries in the log."""
    with migrated_database(server) as url, psycopg.connect(url, autocommit=True) as db:
        user, team = seed_team(db)
        db.execute(
            "INSERT INTO drizzlesync.change_log (table_id, op, pk, scope_after, scope_hash) "
            "SELECT s.id, 'I', jsonb_build_object('id', gen_random_uuid()), 'team:elsewhere', "
            "hashtext('team:elsewhere') "
            "FROM drizzlesync.synced_table AS s, generate_series(1, %s) WHERE s.table_name = 'todos'",
            (log_rows,),
        )
        db.execute("VACUUM ANALYZE drizzlesync.change_log")
        db.execute(
            "INSERT INTO todos (team_id, title) SELECT %s, 'new' FROM generate_series(1, 100)", (team,)
        )
        client = Client(url, user, as_host=True)  # one round trip a page, as the host pages
        client.cursor, _ = client.pull_all(None)

        def touch_100_rows() -> None:
            db.execute("UPDATE todos SET done = NOT done WHERE team_id = %s", (team,))

        def pull() -> None:
            client.cursor, changes = client.pull_all(client.cursor, limit=1000)
            assert changes == 100, changes

        return best(pull, repeat, setup=touch_100_rows)


def bench_busy_window(server: str, other_entries: int, repeat: int) -> tuple[float, float, float, float]:
    """A 10-change pull whose window also holds `other_entries` log entries of 300 other teams,
    against the same pull on a quiet log: (busy, quiet) with the session's plans warm, then the same
    as the session's first pull after the log's VACUUM. The other teams' entries are written
    straight into the log, as capture writes them, half before the user's changes and half after.

    A VACUUM that changes the log's statistics (the busy side's 300,000 entries do, the quiet
    side's 10 do not) makes every backend plan the pull's statements again on its next pull: a
    cost of each change of the statistics, not of the entries a pull reads. So before each timed
    pull another device of the same user pulls on the same connection, which plans them; the
    first figures leave that out, the second ones include it."""
    with migrated_database(server) as url, psycopg.connect(url, autocommit=True) as db:
        user, team = seed_team(db)
        add_todos(db, team, 1000)
        table_id = db.execute("SELECT id FROM drizzlesync.synced_table WHERE table_name = 'todos'").fetchone()
        assert table_id is not None
        client = Client(url, user, as_host=True)  # one round trip a page, as the host pages
        client.cursor, _ = client.pull_all(None)
        other_device = Client(url, user, as_host=True, conn=client.conn)  # the backend whose plans it warms
        other_device.cursor, _ = other_device.pull_all(None)
        warm = True

        def other_teams(count: int) -> None:
            db.execute(
                "INSERT INTO drizzlesync.change_log "
                "(table_id, op, pk, scope_before, scope_after, scope_hash) "
                "SELECT %s, 'U', jsonb_build_object('id', gen_random_uuid()), 'team:other-' || i %% 300, "
                "'team:other-' || i %% 300, hashtext('team:other-' || i %% 300) "
                "FROM generate_series(1, %s) AS i",
                (table_id[0], count),
            )

        def ten_changes() -> None:
            db.execute(
                "UPDATE todos SET done = NOT done WHERE id IN "
                "(SELECT id FROM todos WHERE team_id = %s ORDER BY id LIMIT 10)",
                (team,),
            )

        def settled() -> None:
            db.execute("VACUUM drizzlesync.change_log")
            if warm:
                other_device.cursor, _ = other_device.pull_all(other_device.cursor, limit=1000)

        def busy_window() -> None:
            other_teams(other_entries // 2)
            ten_changes()
            other_teams(other_entries - other_entries // 2)
            settled()

        def quiet_window() -> None:
            ten_changes()
            settled()

        def pull() -> None:
            client.cursor, changes = client.pull_all(client.cursor, limit=1000)
            assert changes == 10, changes

        busy, quiet = best(pull, repeat, setup=busy_window), best(pull, repeat, setup=quiet_window)
        warm = False
        return busy, quiet, best(pull, repeat, setup=busy_window), best(pull, repeat, setup=quiet_window)


def push_figures(
    name: str,
    runs: list[tuple[float, float, float | None, float | None]],
    repeat: int,
    baseline: str = "batched upserts",
) -> tuple[tuple[str, float, str, float], list[str]]:
    """The table row of a set of push runs (the worst run's ratio) and its closing notes (every
    run's ratio, in wall and in CPU time)."""
    ratios = [run[0] / run[1] for run in runs]
    worst = max(range(len(runs)), key=lambda i: ratios[i])
    if len(runs) > 1:
        name += f", worst of {len(runs)}"
    notes = [
        f"{name}: {len(runs)} runs (each a new database, best of {repeat}): "
        + ", ".join(f"{ratio:.2f}x" for ratio in ratios)
        + f"; range {min(ratios):.2f}-{max(ratios):.2f}x"
        + f" ({min(run[0] for run in runs):.3f}-{max(run[0] for run in runs):.3f} s against"
        + f" {min(run[1] for run in runs):.3f}-{max(run[1] for run in runs):.3f} s)"
    ]
    cpu = [run[2] / run[3] for run in runs if run[2] is not None and run[3] is not None]
    if cpu:
        notes.append(
            f"{name}, the same runs in CPU time (server and client): "
            + ", ".join(f"{ratio:.2f}x" for ratio in cpu)
            + f"; range {min(cpu):.2f}-{max(cpu):.2f}x"
        )
    return (name, runs[worst][0], baseline, runs[worst][1]), notes


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None, help="a server to create databases on")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--patches", type=int, default=10_000)
    parser.add_argument("--log-rows", type=int, default=10_000_000)
    parser.add_argument("--bootstrap-rows", default="100000,1000000", help="comma-separated row counts")
    parser.add_argument("--other-rows", type=int, default=1_000_000)
    parser.add_argument("--http-rows", type=int, default=100_000)
    parser.add_argument("--window-entries", type=int, default=300_000)
    parser.add_argument("--key-teams", type=int, default=100, help="teams of the user in the keys group")
    parser.add_argument(
        "--other-tables", type=int, default=1000, help="synced tables beside the example's, schema group"
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="rounds a side of a figure (the short ones and the push: twice)"
    )
    parser.add_argument("--push-runs", type=int, default=5, help="push runs, each a new database")
    parser.add_argument(
        "--pull-revision",
        default=None,
        help="also measure the pull on a database migrated only to this revision of the example"
        " (e.g. 0006, the previous library version), in the same run",
    )
    parser.add_argument(
        "--bootstrap-revision",
        default=None,
        help="also measure the bootstrap on a database migrated only to this revision of the"
        " example (e.g. 0007, the previous library version), in the same run",
    )
    parser.add_argument(
        "--push-revision",
        default=None,
        help="also measure the push on a database migrated only to this revision of the example"
        " (e.g. 0007, the previous library version), alternating with the current one in each run",
    )
    parser.add_argument(
        "--estimate-revision",
        default=None,
        help="also measure the estimate on databases migrated only to this revision of the example"
        " (e.g. 0011, the previous library version), in the same run",
    )
    parser.add_argument("--only", default=None, help=f"comma-separated, of: {', '.join(GROUPS)}")
    parser.add_argument(
        "--own-index", action="store_true", help="index todos on (team_id, id), which serves its scope rule"
    )
    args = parser.parse_args()
    if args.own_index:
        migrated_schema.extend(OWN_INDEX)
    server = args.database_url or localdb.find_server()

    only = set(args.only.split(",")) if args.only else set(GROUPS)
    unknown = only - set(GROUPS)
    if unknown:
        parser.error(f"--only takes {', '.join(GROUPS)}; not {', '.join(sorted(unknown))}")
    Row = tuple[str, float, str, float, float | None]
    rows: list[Row] = []
    notes: list[str] = []
    if "bootstrap" in only:
        # With --bootstrap-revision, an older library version's bootstrap too, in the same run.
        bootstrap_revisions = ["head"] + ([args.bootstrap_revision] if args.bootstrap_revision else [])
        for count, revision in (
            (int(n), r) for n in args.bootstrap_rows.split(",") for r in bootstrap_revisions
        ):
            with migrated_database(server, revision) as url:
                bootstrap, select, bootstrap_cpu, select_cpu = bench_bootstrap(url, count, args.repeat)
            name = f"bootstrap {count:,} rows (pages of {PAGE})"
            if revision == "head":
                rows.append((name, bootstrap, "plain SELECT as JSON", select, 1.3))
            else:
                name = f"the same at revision {revision}"
                rows.append((name, bootstrap, "plain SELECT as JSON", select, None))
            if bootstrap_cpu is not None and select_cpu is not None:
                ours, base = sum(bootstrap_cpu), sum(select_cpu)
                notes.append(
                    f"{name}, CPU time (server and client): {ours:.3f} s against"
                    f" {base:.3f} s, {ours / base:.2f}x; the server's {bootstrap_cpu[0]:.3f} s against"
                    f" {select_cpu[0]:.3f} s, {bootstrap_cpu[0] / select_cpu[0]:.2f}x; the client's"
                    f" (parsing the JSON) {bootstrap_cpu[1]:.3f} s against {select_cpu[1]:.3f} s,"
                    f" {bootstrap_cpu[1] / select_cpu[1]:.2f}x"
                )
    if "http" in only:
        with migrated_database(server) as url:
            over_http, select, in_sql = bench_http_bootstrap(url, args.http_rows, args.repeat)
        name = f"bootstrap {args.http_rows:,} rows over HTTP (pages of {DEFAULT_LIMITS.max_changes})"
        rows.append((name, over_http, "plain SELECT as JSON", select, 3.0))
        rows.append((name, over_http, "the same pages in SQL", in_sql, None))
    if "tenant" in only:
        crowded, alone = bench_tenant_bootstrap(server, args.other_rows, args.repeat)
        name = f"bootstrap 1,000 rows among {args.other_rows:,}"
        rows.append((name, crowded, "1,000 rows alone", alone, 2.0))
    if "keys" in only:
        by_key, by_range = bench_many_keys(server, args.key_teams, args.repeat)
        name = f"bootstrap, {args.key_teams} keys, own index"
        rows.append((name, by_key, "scope index", by_range, None))
    if "pull" in only:
        # With --pull-revision, an older library version's pull too, in the same run.
        revisions = ["head"] + ([args.pull_revision] if args.pull_revision else [])
        for revision in revisions:
            with migrated_database(server, revision) as url:
                pull, select, ours_cpu, base_cpu = bench_pull(url, args.rows, args.repeat)
            if revision == "head":
                name = f"pull {args.rows:,} changed rows (pages of {PAGE})"
                rows.append((name, pull, "plain SELECT as JSON", select, 2.0))
            else:
                name = f"the same at revision {revision}"
                rows.append((name, pull, "plain SELECT as JSON", select, None))
            if ours_cpu is not None and base_cpu is not None:
                notes.append(
                    f"{name}, CPU time (server and client): {ours_cpu:.3f} s against"
                    f" {base_cpu:.3f} s, {ours_cpu / base_cpu:.2f}x"
                )
    # The pushes of 10,000 changes: patches, the same as puts (each its own client transaction,
    # carrying the row's team; library version 19 applies a batch of them as one statement) and
    # deletes of the same rows (version 30), each against its plain batched statement. The target
    # holds in every run: several runs, each in a new database, and the worst in the table; the
    # puts' and deletes' are our own, the patches'. With --push-revision, each run also measures an
    # older library version's push in a database of its own, right after the current one's, so
    # that both see the same load. Twice the rounds of the other figures: a round's server CPU
    # time moves by a third from one round to the next on a shared machine, where its
    # instructions do not (bench/push_instructions.py), and a round takes well under a second.
    push_rounds = args.repeat * 2
    pushes: tuple[tuple[str, PushKind, str], ...] = (
        ("push", "patches", "batched upserts"),
        ("puts", "puts", "batched upserts"),
        ("deletes", "deletes", "batched DELETEs"),
    )
    for group, kind, baseline in pushes:
        if group not in only:
            continue
        revisions = ["head"] + ([args.push_revision] if args.push_revision else [])
        runs: dict[str, list[tuple[float, float, float | None, float | None]]] = {r: [] for r in revisions}
        for _ in range(args.push_runs):
            for revision in revisions:
                with migrated_database(server, revision) as url:
                    runs[revision].append(bench_push(url, args.patches, push_rounds, kind))
        for revision in revisions:
            name = f"push {args.patches:,} {kind} (batches of {BATCH})"
            if revision != "head":
                name = f"the same at revision {revision}"
            row, run_notes = push_figures(name, runs[revision], push_rounds, baseline)
            rows.append((*row, 2.0 if revision == "head" else None))
            notes.extend(run_notes)
    # A device's usual push is a mutation or two: a push of one patch, each its own request,
    # against the one-row upsert, which pays no protocol; and its usual pull a change or two. Our
    # own figures, without a target; with --push-revision and --pull-revision, an older library
    # version's too, in the same run.
    small_requests: list[tuple[str, str | None, str, Callable[[str], tuple[float, float]]]] = [
        (
            "pushes of one patch each",
            args.push_revision,
            "one-row upserts",
            lambda url: bench_push(url, SMALL_PUSHES, args.repeat * 2, batch_size=1)[:2],
        ),
        (
            "pulls of one change each",
            args.pull_revision,
            "one-row SELECTs as JSON",
            lambda url: bench_small_pulls(url, SMALL_PUSHES, args.repeat * 2),
        ),
    ]
    if "small" in only:
        for what, older, baseline, measure in small_requests:
            for revision in ["head"] + ([older] if older else []):
                with migrated_database(server, revision) as url:
                    ours, base = measure(url)
                name = (
                    f"{SMALL_PUSHES:,} {what}" if revision == "head" else f"the same at revision {revision}"
                )
                rows.append((name, ours, baseline, base, None))
    if "schema" in only:
        # The same small requests where the database holds many more synced tables: the cost of a
        # request should follow its own tables, not the schema's size.
        for what, older, _, measure in small_requests:
            for revision in ["head"] + ([older] if older else []):
                with migrated_database(server, revision) as example_url:
                    with migrated_database(server, revision) as larger_url:
                        add_synced_tables(larger_url, args.other_tables)
                        among, by_itself = measure(larger_url)[0], measure(example_url)[0]
                name = f"{SMALL_PUSHES:,} {what}, {args.other_tables:,} other tables"
                name = name if revision == "head" else f"the same at revision {revision}"
                rows.append((name, among, "the example alone", by_itself, None))
    if "log" in only:
        small = bench_log_size(server, 10_000, args.repeat * 2)
        big = bench_log_size(server, args.log_rows, args.repeat * 2)
        rows.append((f"100-change pull, {args.log_rows:,}-entry log", big, "10,000-entry log", small, 2.0))
    if "window" in only:
        busy, quiet, busy_first, quiet_first = bench_busy_window(server, args.window_entries, args.repeat * 2)
        name = f"10-change pull amid {args.window_entries:,} others'"
        rows.append((name, busy, "the same, quiet log", quiet, 2.0))
        notes.append(
            f"{name}, as the session's first pull after the log's VACUUM (its statements planned again): "
            f"{busy_first * 1000:.1f} ms against {quiet_first * 1000:.1f} ms, {busy_first / quiet_first:.2f}x"
        )
    accuracy: list[str] = []
    if "estimate" in only:
        # With --estimate-revision, an older library version's estimate too, in the same run.
        revisions = ["head"] + ([args.estimate_revision] if args.estimate_revision else [])
        for team_rows in (1000, 200_000):
            for revision in revisions:
                took, page, estimated = bench_estimate(
                    server, team_rows, args.other_rows, args.repeat * 2, revision
                )
                current = revision == "head"
                name = f"estimate of {team_rows:,} rows among {args.other_rows:,}"
                name = name if current else f"the same at revision {revision}"
                rows.append((name, took, f"first page of {PAGE:,}", page, 0.25 if current else None))
                actual = team_rows + 2  # the team and the membership come too
                off = (estimated - actual) / actual
                accuracy.append(f"{name}: {estimated:,} for {actual:,} ({off:+.2%})")
    print(f"{'measured':<46} {'s':>8}   {'baseline':<22} {'s':>8} {'ratio':>7} {'target':>7}")
    for name, ours, base_name, base, target in rows:
        ratio = ours / base
        aim = f"{target:>6g}x" if target is not None else "      -"
        print(f"{name:<46} {ours:8.3f}   {base_name:<22} {base:8.3f} {ratio:6.2f}x {aim}")
    for line in notes + accuracy:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
