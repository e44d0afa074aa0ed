"""Real concurrency: threads writing through SQL and push while clients pull and the log is compacted.

The hypothesis test interleaves steps one at a time; this one lets the
database see truly simultaneous commits, lock waits, deadlocks and
serialization failures, with a fixed seed per thread.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from tests.sync import seed
from tests.sync.syncclient import ResponseLost, SyncClient

DURATION = 4.0


def writer(url: str, teams: list[str], rng: random.Random, stop: threading.Event) -> None:
    with psycopg.connect(url) as conn:
        while not stop.is_set():
            try:
                with conn.transaction():
                    for _ in range(rng.randint(1, 3)):
                        seed.todo(conn, rng.choice(teams), f"sql {rng.random()}")
                    conn.execute(
                        "UPDATE todos SET done = NOT done, team_id = %s WHERE id = "
                        "(SELECT id FROM todos WHERE team_id = ANY(%s::uuid[]) ORDER BY random() LIMIT 1)",
                        (rng.choice(teams), teams),
                    )
                    if rng.random() < 0.3:  # a long transaction: later commits overtake it
                        time.sleep(rng.uniform(0.05, 0.3))
                    conn.execute(
                        "DELETE FROM todos WHERE id = "
                        "(SELECT id FROM todos WHERE team_id = ANY(%s::uuid[]) ORDER BY random() LIMIT 1)",
                        (teams,),
                    )
            except psycopg.errors.DeadlockDetected:
                pass


def member_toggler(
    url: str, users: list[str], teams: list[str], rng: random.Random, stop: threading.Event
) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.wait(0.2):
            user, team = rng.choice(users), rng.choice(teams)
            if (
                conn.execute(
                    "DELETE FROM memberships WHERE user_id = %s AND team_id = %s", (user, team)
                ).rowcount
                == 0
            ):
                seed.join(conn, user, team)


def compactor(url: str, stop: threading.Event) -> None:
    """Compaction running all along, as `drizzlesync compact` from cron would."""
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.wait(0.3):
            conn.execute("SELECT * FROM drizzlesync.compact('1 hour', 500)")


def client_loop(client: SyncClient, teams: list[str], rng: random.Random, stop: threading.Event) -> None:
    while not stop.is_set():
        todos = [row["id"] for key, row in client.rows.items() if key[0] == "todos"]
        mutations: list[dict[str, Any]] = [
            {
                "table": "todos",
                "op": "put",
                "pk": {"id": str(uuid.uuid4())},
                "values": {"team_id": rng.choice(teams), "title": f"push {rng.random()}"},
            }
        ]
        if todos:
            target = rng.choice(todos)
            mutations.append(
                rng.choice(
                    [
                        {
                            "table": "todos",
                            "op": "patch",
                            "pk": {"id": target},
                            "values": {"done": rng.random() < 0.5},
                        },
                        {"table": "todos", "op": "delete", "pk": {"id": target}},
                    ]
                )
            )
        client.stage(mutations[: rng.randint(1, len(mutations))], optimistic=True)
        fault = rng.choice(["none", "none", "drop", "duplicate"])
        try:
            client.push(drop=fault == "drop", duplicate=fault == "duplicate")
        except ResponseLost:
            pass
        fault = rng.choice(["none", "none", "drop", "duplicate"])
        try:
            client.pull(rng.randint(1, 8), drop=fault == "drop", duplicate=fault == "duplicate")
        except ResponseLost:
            pass


def test_concurrent_writers_and_clients_converge(synced_db: str, server_url: str) -> None:
    with psycopg.connect(synced_db, autocommit=True) as db:
        teams = [seed.team(db, f"team {i}") for i in range(3)]
        users = [seed.user(db, f"user {i}") for i in range(3)]
        for i, user in enumerate(users):
            seed.join(db, user, teams[i])
        stop = threading.Event()
        https = [httpx.Client(base_url=server_url, timeout=30) for _ in range(4)]
        clients = [SyncClient(http, users[i % 3], f"device-{i}") for i, http in enumerate(https)]
        jobs: list[Callable[[], None]] = [
            lambda: writer(synced_db, teams, random.Random(1), stop),
            lambda: writer(synced_db, teams, random.Random(2), stop),
            lambda: member_toggler(synced_db, users, teams, random.Random(3), stop),
            lambda: compactor(synced_db, stop),
            *(
                lambda c=c, i=i: client_loop(c, teams, random.Random(10 + i), stop)
                for i, c in enumerate(clients)
            ),
        ]
        errors: list[BaseException] = []

        def guarded(job: Callable[[], None]) -> None:
            try:
                job()
            except BaseException as exc:  # reported below, with the thread's traceback
                errors.append(exc)
                stop.set()

        threads = [threading.Thread(target=guarded, args=(job,)) for job in jobs]
        for thread in threads:
            thread.start()
        stop.wait(DURATION)
        stop.set()
        for thread in threads:
            thread.join(60)
        if errors:
            raise errors[0]

        for client in clients:
            for _ in range(100):
                if client.push() is None:
                    break
            assert client.outbox == []
        for client in clients:
            client.pull_all(limit=5)
            assert client.rows == seed.visible_rows(db, client.user_id), client.client_id
        assert sum(len(c.received) for c in clients) > 50
        for http in https:
            http.close()
