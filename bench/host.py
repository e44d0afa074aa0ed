"""Host concurrency: `drizzlesync serve` under many polling clients, against the bare SQL function.

    python bench/host.py [--database-url URL] [--clients 1,10,16,50] [--seconds 5] [--sql-only [--runs 3]]
                         [--workers N] [--pool-size N] [--revision REV]
    # needs wrk and pgbench (Debian: apt-get install wrk postgresql-client)

The steady state of a sync app is many idle clients polling: each request
here is an empty incremental pull of one of 50 users (each on its own team,
with its own client id and cursor). For each number of concurrent clients it
prints, side by side in one run:

- `drizzlesync serve --dev` (one process, or `--workers N`) under `wrk`,
  after a warm-up of WARM_UP_SECONDS: pulls/s and p50/p99 latency;
- the bare `drizzlesync.pull(...)` call in a REPEATABLE READ transaction under
  `pgbench` (same connections, same database), and a trivial `BEGIN; SELECT
  1; COMMIT` transaction in the same pgbench run;
- the host again with one request in ten a push of one patch (mixed), and
  how many of those requests were answered 503 (retry). The pushes change
  rows, so every client's cursor is then brought up to date: each row's
  pulls are empty.

`--sql-only` measures the last column alone (no host, no wrk), `--runs` times
in a row, and prints each run's ratio and their range: with cursors under a
minute old, as a polling client presents (an empty pull answers with the same
cursor and writes nothing), and with old cursors, as a polling client presents
once in ten minutes (once a minute before library version 23; since version
16 the pull refreshes such a cursor in place; before, it stored a new one).
A refreshed cursor is young again, so each transaction of the latter presents
a cursor of its own, made beforehand for a device of its own and dated back
(`old_cursors`): its row last written before the run, as a device's is
minutes after its last refresh; afterwards every one of those devices must
have been pulled once for each of those transactions. It then
prints the server's CPU time per empty pull from young cursors, in a DO block
that commits after each (no client, no protocol), read from the backend's
/proc/<pid>/schedstat when the server runs on this machine: a figure the
machine's load moves far less than pgbench's latencies, to compare library
versions by (`--revision`).

Targets: the host serves at least 50% of the bare function's rate at 16-50
clients; an empty pull's transaction takes at most 2x the trivial one.
Everything runs on this machine, so the load generators take CPU from the
server: the figures are ratios, not capacity.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

from alembic_drizzlesync import localdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sync import Client, backend_cpu, migrated_database, seed_team, served  # noqa: E402

USERS = 50
PUSH_EVERY = 10
# Each host is polled this long before it is measured: a new server opens its
# pool's connections as requests wait for them, and each new backend plans the
# protocol functions once; the figure is the steady state.
WARM_UP_SECONDS = 2

# wrk calls request() for each request; the bodies are filled in per run. It
# counts the 503s (retry) apart from wrk's other non-2xx responses: in the mixed
# run, two connections may pull for the same client at once while its pushes
# make its pulls write a cursor, and one of the two is told to retry, which a
# device, pulling one page at a time, never is.
WRK_SCRIPT = """
local threads = {{}}
setup = function(thread) table.insert(threads, thread) end
init = function() retries = 0 end
response = function(status) if status == 503 then retries = retries + 1 end end
done = function()
    local total = 0
    for _, thread in ipairs(threads) do total = total + thread:get("retries") end
    io.write("retried: " .. total .. "\\n")
end
local bodies = {bodies}
local users = {users}
local pushes = {pushes}
local n = 0
request = function()
    n = n + 1
    local i = n % #bodies + 1
    local headers = {{["content-type"] = "application/json", ["authorization"] = "Bearer " .. users[i]}}
    if {push_every} > 0 and n % {push_every} == 0 then
        return wrk.format("POST", "/push", headers, pushes[i])
    end
    return wrk.format("POST", "/pull", headers, bodies[i])
end
"""

PGBENCH_PULL = """\\set i random(1, {users})
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT drizzlesync.pull(c.user_id, '{{}}'::jsonb, c.client_id, 1, c.cursor, 5000)::text
FROM bench_client AS c WHERE c.i = :i;
COMMIT;
"""
# A pull from an old cursor, each transaction its own: pgbench client c's n-th transaction
# presents device c * {slots} + n's cursor (`old_cursors`; pgbench keeps :n per client, from -D n=0).
PGBENCH_OLD_PULL = """\\set n :n + 1
\\set k :client_id * {slots} + :n
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT drizzlesync.pull(d.user_id, '{{}}'::jsonb, d.client_id, 1, d.cursor, 5000)::text
FROM bench_old_device AS d WHERE d.k = :k;
COMMIT;
"""
# Older than a cursor any library version answers without refreshing it: ten minutes since version
# 23, a minute before.
OLD = "11 minutes"
# More old-cursor pulls a second than the machine does at any number of clients, with room to spare.
OLD_PULLS_PER_SECOND = 6000
PGBENCH_TRIVIAL = """BEGIN;
SELECT 1;
COMMIT;
"""


def lua_table(values: list[str]) -> str:
    return "{" + ", ".join(json.dumps(v) for v in values) + "}"


def prepare(url: str) -> tuple[list[str], list[str], list[str]]:
    """50 users on teams of 10 todos, each bootstrapped; returns users, pull bodies, push bodies."""
    users, pulls, pushes = [], [], []
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "CREATE TABLE bench_client (i integer PRIMARY KEY, user_id text, client_id text, cursor text)"
        )
        for i in range(1, USERS + 1):
            user, team = seed_team(db)
            db.execute(
                "INSERT INTO todos (team_id, title) SELECT %s, 'todo ' || g FROM generate_series(1, 10) g",
                (team,),
            )
            todo = db.execute("SELECT id::text FROM todos WHERE team_id = %s LIMIT 1", (team,)).fetchone()
            assert todo is not None
            client = Client(url, user)
            cursor, _ = client.pull_all(None)
            client.conn.close()
            db.execute(
                "INSERT INTO bench_client VALUES (%s, %s, %s, %s)", (i, user, client.client_id, cursor)
            )
            users.append(user)
            request = {"protocol": 1, "schemaVersion": 1, "clientId": client.client_id}
            pulls.append(json.dumps({**request, "cursor": cursor}))
            mutation = {"id": 1, "tx": 1, "table": "todos", "op": "patch", "pk": {"id": todo[0]},
                        "values": {"title": "pushed"}}  # fmt: skip
            pushes.append(json.dumps({**request, "mutations": [mutation]}))
        db.execute("VACUUM ANALYZE")
    return users, pulls, pushes


def current_pulls(url: str) -> list[str]:
    """Each user's pull body with its client's cursor brought up to date (stored for pgbench too):
    after the mixed run's pushes, a pull from the old cursor would carry changes, not be empty."""
    bodies = []
    with psycopg.connect(url, autocommit=True) as db:
        clients = db.execute("SELECT i, user_id, client_id, cursor FROM bench_client ORDER BY i").fetchall()
        for i, user, client_id, cursor in clients:
            client = Client(url, user, conn=db)
            client.client_id = client_id
            cursor, _ = client.pull_all(cursor)
            # Once more, as its next poll: this pull, not the benchmark's first concurrent ones,
            # deletes the cursors before the new one (two pulls deleting the same row at once:
            # one is answered 503, retry).
            assert client.pull_all(cursor)[0] == cursor
            db.execute("UPDATE bench_client SET cursor = %s WHERE i = %s", (cursor, i))
            request = {"protocol": 1, "schemaVersion": 1, "clientId": client_id, "cursor": cursor}
            bodies.append(json.dumps(request))
    return bodies


def wrk(
    base: str, clients: int, seconds: int, script: str, retries_allowed: bool = False
) -> tuple[float, float, float, int]:
    """Requests/s, p50 and p99 in ms, and how many were answered 503 (retry): an error unless
    `retries_allowed`; any other non-2xx response always is."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        threads = str(min(clients, 2))
        command = ["wrk", "-t", threads, "-c", str(clients), "-d", f"{seconds}s", "--latency"]
        result = subprocess.run(
            [*command, "-s", file.name, base],
            capture_output=True,
            text=True,
            check=True,
        )
    out = result.stdout
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    retried = int(re.search(r"retried: (\d+)", out).group(1))  # type: ignore[union-attr]
    if failed and (int(failed.group(1)) > retried or not retries_allowed):
        raise RuntimeError(f"wrk saw errors:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    return rate, latency(out, "50%"), latency(out, "99%"), retried


def latency(out: str, percentile: str) -> float:
    match = re.search(rf"{percentile}\s+([0-9.]+)(us|ms|s)\b", out)
    if match is None:
        raise RuntimeError(f"wrk printed no {percentile} latency:\n{out}")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def pgbench(url: str, clients: int, seconds: int, scripts: list[str]) -> list[float]:
    """Transactions per second of each script, run together (pgbench's -f per script, equal weights)."""
    out = run_pgbench(url, clients, seconds, scripts, [])
    if len(scripts) == 1:
        return [tps(out)]
    # With several scripts pgbench also prints each one's own figures after its name.
    return [tps(part) for part in re.split(r"\nSQL script \d+: ", out)[1:]]


def run_pgbench(url: str, clients: int, seconds: int, scripts: list[str], options: list[str]) -> str:
    files = []
    try:
        command = ["pgbench", "-n", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds)]
        command += options
        for script in scripts:
            file = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
            file.write(script)
            file.close()
            files.append(file.name)
            command += ["-f", file.name]
        return subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    finally:
        for name in files:
            os.unlink(name)


def tps(out: str) -> float:
    match = re.search(r"tps = ([0-9.]+)", out)
    if match is None:
        raise RuntimeError(f"pgbench printed no tps:\n{out}")
    return float(match.group(1))


def bare_rates(url: str, clients: int, seconds: int) -> tuple[float, float]:
    """The bare pull's transactions/s; and, from one run of the pull and the trivial transaction
    mixed, the ratio of their mean times (pgbench's per-statement latencies, summed per script)."""
    [alone] = pgbench(url, clients, seconds, [PGBENCH_PULL.format(users=USERS)])
    pull_ms, trivial_ms = script_latencies(url, clients, seconds)
    return alone, pull_ms / trivial_ms


def script_latencies(url: str, clients: int, seconds: int, old: bool = False) -> tuple[float, float]:
    """Mean milliseconds of a pull transaction and of a trivial one, run together; with `old`, a pull
    from an old cursor, each transaction a device of its own (`old_cursors`)."""
    if old:
        pull = PGBENCH_OLD_PULL.format(slots=old_cursors(url, clients, seconds))
    else:
        pull = PGBENCH_PULL.format(users=USERS)
    out = run_pgbench(url, clients, seconds, [pull, PGBENCH_TRIVIAL], ["-r", "-D", "n=0"])
    parts = re.split(r"\nSQL script \d+: ", out)[1:]
    sums = []
    for part in parts:
        latencies = part.split("statement latencies", 1)[1]
        sums.append(sum(float(m) for m in re.findall(r"^\s+([0-9.]+)\s", latencies, re.M)))
    if old:
        pulls = int(re.search(r" - (\d+) transactions", parts[0]).group(1))  # type: ignore[union-attr]
        # A client's transaction still running when the time is up may commit uncounted.
        pulled = old_devices_pulled(url)
        if not pulls <= pulled <= pulls + clients:
            raise RuntimeError(f"{pulls} old-cursor pulls reached {pulled} devices: not one device each")
    pull_ms, trivial_ms = sums
    return pull_ms, trivial_ms


def old_cursors(url: str, clients: int, seconds: int) -> int:
    """Devices for a run of old-cursor pulls, `slots` for each pgbench client (returned): each device
    one of the bench users' (in turn), its one cursor a copy of that user's bench client's dated back
    by OLD, vacuumed, so that its row was last written before the run."""
    # Twice a client's share: pgbench's clients do not run alike (one thread's may do 1.25 times the
    # mean), and a client past its slots would pull the next one's devices a second time.
    slots = 2 * OLD_PULLS_PER_SECOND * seconds // clients + 100
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DELETE FROM drizzlesync.client WHERE client_id LIKE 'bench-old-%'")  # cursors cascade
        db.execute("DROP TABLE IF EXISTS bench_old_device")
        db.execute(
            "CREATE TABLE bench_old_device AS"
            " SELECT k, c.user_id, 'bench-old-' || k AS client_id, gen_random_uuid() AS cursor_id,"
            "        split_part(c.cursor, '.', 1) || '.' AS epoch,"
            "        split_part(c.cursor, '.', 2)::uuid AS copied"
            " FROM generate_series(1, %s) AS k JOIN bench_client AS c ON c.i = k %% %s + 1",
            (clients * slots, USERS),
        )
        db.execute(
            "ALTER TABLE bench_old_device ADD PRIMARY KEY (k),"
            " ADD COLUMN cursor text GENERATED ALWAYS AS (epoch || cursor_id::text) STORED"
        )
        db.execute(
            "INSERT INTO drizzlesync.client (client_id, user_id)"
            " SELECT client_id, user_id FROM bench_old_device"
        )
        db.execute(
            "INSERT INTO drizzlesync.pull_cursor"
            " SELECT (jsonb_populate_record(p, jsonb_build_object('id', d.cursor_id,"
            "     'client_id', d.client_id, 'created_at', now() - %s::interval))).*"
            " FROM bench_old_device AS d JOIN drizzlesync.pull_cursor AS p ON p.id = d.copied",
            (OLD,),
        )
        db.execute("VACUUM ANALYZE drizzlesync.client, drizzlesync.pull_cursor, bench_old_device")
    return slots


def old_devices_pulled(url: str) -> int:
    """How many of `old_cursors`' devices a pull reached: since library version 16 their cursor
    refreshed in place, before it a new cursor stored; either way a cursor under a minute old."""
    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute(
            "SELECT count(*) FROM bench_old_device AS d"
            " WHERE EXISTS (SELECT FROM drizzlesync.pull_cursor AS p"
            "               WHERE p.client_id = d.client_id AND p.created_at > now() - interval '1 minute')"
        ).fetchone()
    assert row is not None
    return int(row[0])


def empty_pull_ratios(url: str, clients: list[int], seconds: int, runs: int) -> None:
    """The empty pull's transaction against the trivial one, `runs` times at each client count: first
    presenting a cursor under a minute old, as a polling client does (the pull answers with it and
    writes nothing), then an old one, as it does once in ten minutes (the pull refreshes it)."""
    print(f"empty incremental pull transaction / BEGIN; SELECT 1; COMMIT (pgbench, {seconds} s a run)")
    for young in (True, False):
        print("cursor under a minute old:" if young else f"cursor {OLD} old:")
        for count in clients:
            ratios = []
            for _ in range(runs):
                young_cursors(url)
                pull_ms, trivial_ms = script_latencies(url, count, seconds, old=not young)
                ratios.append(pull_ms / trivial_ms)
            each = " ".join(f"{r:.2f}" for r in ratios)
            spread = f"range {min(ratios):.2f}-{max(ratios):.2f}x; load {os.getloadavg()[0]:.1f}"
            print(f"{count:>7} clients: {each}  ({spread})")
    print("target: <= 2.0x")


# Every bench client's empty pull in turn, each its own REPEATABLE READ transaction (COMMIT AND
# CHAIN keeps the isolation level the session's default gives the first).
CPU_LOOP = """DO $$
DECLARE
    c record;
    done integer := 0;
BEGIN
    WHILE done < {pulls} LOOP
        FOR c IN SELECT * FROM bench_client ORDER BY i LOOP
            PERFORM drizzlesync.pull(c.user_id, '{{}}'::jsonb, c.client_id, 1, c.cursor, 5000)::text;
            COMMIT AND CHAIN;
            done := done + 1;
        END LOOP;
    END LOOP;
END
$$"""


def cpu_per_pull(url: str, pulls: int = 2000, rounds: int = 3) -> list[float] | None:
    """The server's CPU time (us) per empty pull from a young cursor in each of `rounds` loops of
    `pulls`; None where the server's process cannot be read (not on this machine)."""
    young_cursors(url)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("SET default_transaction_isolation = 'repeatable read'")
        db.execute(CPU_LOOP.format(pulls=USERS))  # each cursor presented once: the ones before it go
        each = []
        for _ in range(rounds):
            before = backend_cpu(db)
            db.execute(CPU_LOOP.format(pulls=pulls))
            after = backend_cpu(db)
            if before is None or after is None:
                return None
            each.append((after - before) / pulls * 1e6)
    return each


def server_cpu_per_pull(url: str, pulls: int = 2000, rounds: int = 3) -> None:
    """The server's CPU time per empty pull from a young cursor, best of `rounds` loops of `pulls`."""
    each = cpu_per_pull(url, pulls, rounds)
    if each is None:
        print("server CPU per empty pull: the server's process cannot be read here")
        return
    rounds_us = ", ".join(f"{us:.0f}" for us in each)
    print(f"server CPU per empty pull (young cursor, a committing DO loop): {min(each):.0f} us")
    print(f"  (rounds of {pulls}: {rounds_us} us)")


def young_cursors(url: str) -> None:
    """Give every bench client a cursor from a pull just now: its cursors dated back first, so that the
    pull refreshes its cursor (library version 16) or stores a new one (earlier versions)."""
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("UPDATE drizzlesync.pull_cursor SET created_at = now() - %s::interval", (OLD,))
        for i, user, client_id, cursor in db.execute("SELECT * FROM bench_client ORDER BY i").fetchall():
            db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            row = db.execute(
                "SELECT drizzlesync.pull(%s, '{}'::jsonb, %s, 1, %s, 5000)::json->>'cursor'",
                (user, client_id, cursor),
            ).fetchone()
            db.execute("COMMIT")
            assert row is not None
            db.execute("UPDATE bench_client SET cursor = %s WHERE i = %s", (row[0], i))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None, help="a server to create databases on")
    parser.add_argument("--clients", default="1,10,16,50", help="comma-separated connection counts")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--sql-only", action="store_true", help="only the empty pull vs trivial")
    parser.add_argument("--runs", type=int, default=3, help="with --sql-only, runs per client count")
    parser.add_argument("--workers", type=int, default=1, help="drizzlesync serve --workers")
    parser.add_argument("--pool-size", type=int, default=None, help="drizzlesync serve --pool-size")
    parser.add_argument(
        "--revision", default="head", help="the example's revision to migrate to (0006: library version 6)"
    )
    args = parser.parse_args()
    server = args.database_url or localdb.find_server()

    with migrated_database(server, args.revision) as url:
        users, pulls, pushes = prepare(url)
        if args.sql_only:
            empty_pull_ratios(url, [int(c) for c in args.clients.split(",")], args.seconds, args.runs)
            server_cpu_per_pull(url)
            return 0
        host = f"drizzlesync serve --workers {args.workers}"
        host += "" if args.pool_size is None else f" --pool-size {args.pool_size}"
        print(f"empty incremental pulls of {USERS} users; host: {host}")
        print(f"{'clients':>7} {'host req/s':>11} {'p50 ms':>7} {'p99 ms':>7} {'mixed req/s':>12} {'p50':>6} "
              f"{'p99':>6} {'503s':>5} {'bare tps':>9} {'host/bare':>10} {'txn/trivial':>12}")  # fmt: skip
        for clients in (int(c) for c in args.clients.split(",")):
            # The host's pulls and the bare function's see the same database; the mixed run's
            # pushes come last, and the cursors are brought up to date after them.
            scripts = {
                every: WRK_SCRIPT.format(
                    bodies=lua_table(pulls),
                    users=lua_table(users),
                    pushes=lua_table(pushes),
                    push_every=every,
                )
                for every in (0, PUSH_EVERY)
            }
            with served(url, args.workers, args.pool_size) as base:
                wrk(base, clients, WARM_UP_SECONDS, scripts[0])  # the pool's connections opened
                rate, p50, p99, _ = wrk(base, clients, args.seconds, scripts[0])
                bare, pull_to_trivial = bare_rates(url, clients, args.seconds)
                mixed_rate, mixed_p50, mixed_p99, retried = wrk(
                    base, clients, args.seconds, scripts[PUSH_EVERY], retries_allowed=True
                )
            pulls = current_pulls(url)
            print(f"{clients:>7} {rate:>11.0f} {p50:>7.1f} {p99:>7.1f} {mixed_rate:>12.0f} {mixed_p50:>6.1f} "
                  f"{mixed_p99:>6.1f} {retried:>5} {bare:>9.0f} {rate / bare:>9.2f}x "
                  f"{pull_to_trivial:>11.2f}x")  # fmt: skip
        print("targets: host/bare >= 0.50 at 16-50 clients; pull txn/trivial <= 2.0")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
