"""Convergence: writers and clients interleave, with long transactions and lost or repeated responses.

Each hypothesis example builds a fresh little world (three teams, three
users, four clients, two long-running SQL writers) in the test database and
runs a generated list of steps: SQL inserts, updates, deletes and moves
between teams; long transactions opened, extended, committed or rolled back;
memberships granted and revoked; clients staging mutations (some into teams
they do not hold), pushing and pulling with random page sizes while their
responses are dropped or their requests duplicated; compaction. At
quiescence every client must hold exactly the server's rows of its user's
scopes, and no client may ever have received a row outside them.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import httpx
import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.sync import seed
from tests.sync.syncclient import ResponseLost, SyncClient

TEAMS = 3
USERS = 3
CLIENT_USERS = (0, 1, 2, 2)  # client index -> user index: user 2 has two devices
FIRST_TEAMS = ({0}, {1}, {0, 1})
WRITERS = 2

failure = st.sampled_from(["none", "none", "drop", "duplicate"])
step = st.one_of(
    st.tuples(st.just("sql_insert"), st.integers(0, TEAMS - 1)),
    st.tuples(st.just("sql_update"), st.integers(0, 99)),
    st.tuples(st.just("sql_delete"), st.integers(0, 99)),
    st.tuples(st.just("sql_move"), st.integers(0, 99), st.integers(0, TEAMS - 1)),
    st.tuples(st.just("long_write"), st.integers(0, WRITERS - 1), st.integers(0, TEAMS - 1)),
    st.tuples(st.just("long_end"), st.integers(0, WRITERS - 1), st.booleans()),
    st.tuples(st.just("membership"), st.integers(0, USERS - 1), st.integers(0, TEAMS - 1)),
    st.tuples(
        st.just("edit"),
        st.integers(0, len(CLIENT_USERS) - 1),
        st.sampled_from(["put", "patch", "delete", "move", "pair"]),
        st.integers(0, 99),
        st.integers(0, TEAMS - 1),
    ),
    st.tuples(st.just("push"), st.integers(0, len(CLIENT_USERS) - 1), failure),
    st.tuples(st.just("pull"), st.integers(0, len(CLIENT_USERS) - 1), st.integers(1, 7), failure),
    st.tuples(st.just("compact")),
)


class World:
    """One example's actors and the rules for running a step."""

    def __init__(self, db: psycopg.Connection[Any], url: str, http: httpx.Client) -> None:
        self.db = db
        self.teams = [seed.team(db, f"team {i}") for i in range(TEAMS)]
        self.users = [seed.user(db, f"user-{uuid.uuid4().hex[:8]}") for _ in range(USERS)]
        for user, teams in zip(self.users, FIRST_TEAMS, strict=True):
            for team in teams:
                seed.join(db, user, self.teams[team])
        self.clients = [
            SyncClient(http, self.users[u], f"client-{uuid.uuid4().hex[:12]}") for u in CLIENT_USERS
        ]
        self.writers = [psycopg.connect(url) for _ in range(WRITERS)]
        self.open = [False] * WRITERS
        self.counter = 0

    def close(self) -> None:
        for writer in self.writers:
            writer.close()

    def title(self) -> str:
        self.counter += 1
        return f"title {self.counter}"

    def committed_todo(self, pick: int) -> str | None:
        rows = self.db.execute(
            "SELECT id::text FROM todos WHERE team_id = ANY(%s::uuid[]) ORDER BY id", (self.teams,)
        ).fetchall()
        return str(rows[pick % len(rows)][0]) if rows else None

    def scopes_of(self, user: str) -> set[str]:
        rows = self.db.execute("SELECT team_id::text FROM memberships WHERE user_id = %s", (user,)).fetchall()
        return {row[0] for row in rows}

    def run(self, action: tuple[Any, ...]) -> None:
        getattr(self, action[0])(*action[1:])

    def sql_insert(self, team: int) -> None:
        seed.todo(self.db, self.teams[team], self.title())

    def sql_update(self, pick: int) -> None:
        todo = self.committed_todo(pick)
        if todo:
            self.db.execute(
                "UPDATE todos SET done = NOT done, title = %s WHERE id = %s", (self.title(), todo)
            )

    def sql_delete(self, pick: int) -> None:
        todo = self.committed_todo(pick)
        if todo:
            self.db.execute("DELETE FROM todos WHERE id = %s", (todo,))

    def sql_move(self, pick: int, team: int) -> None:
        todo = self.committed_todo(pick)
        if todo:
            self.db.execute("UPDATE todos SET team_id = %s WHERE id = %s", (self.teams[team], todo))

    def long_write(self, writer: int, team: int) -> None:
        """Insert inside a transaction left open: its xid is older than later commits."""
        seed.todo(self.writers[writer], self.teams[team], self.title())
        self.open[writer] = True

    def long_end(self, writer: int, commit: bool) -> None:
        if commit:
            self.writers[writer].commit()
        else:
            self.writers[writer].rollback()
        self.open[writer] = False

    def membership(self, user: int, team: int) -> None:
        if self.teams[team] in self.scopes_of(self.users[user]):
            seed.leave(self.db, self.users[user], self.teams[team])
        else:
            seed.join(self.db, self.users[user], self.teams[team])

    def edit(self, client: int, kind: str, pick: int, team: int) -> None:
        """Stage a mutation and write it locally at once, as a client does; some will be rejected."""
        c = self.clients[client]
        todos = sorted(key for key in c.rows if key[0] == "todos")
        target = c.rows[todos[pick % len(todos)]]["id"] if todos else None
        put = {
            "table": "todos",
            "op": "put",
            "pk": {"id": str(uuid.uuid4())},
            "values": {"team_id": self.teams[team], "title": self.title()},
        }
        if kind == "put" or target is None:
            c.stage([put], optimistic=True)
            return
        change = {
            "patch": {"op": "patch", "values": {"title": self.title()}},
            "delete": {"op": "delete"},
            "move": {"op": "patch", "values": {"team_id": self.teams[team]}},
            "pair": {"op": "patch", "values": {"done": True}},
        }[kind]
        mutation = {"table": "todos", "pk": {"id": target}, **change}
        c.stage([put, mutation] if kind == "pair" else [mutation], optimistic=True)

    def push(self, client: int, fault: str) -> None:
        try:
            response = self.clients[client].push(drop=fault == "drop", duplicate=fault == "duplicate")
        except ResponseLost:
            return
        assert response is None or response.status_code == 200, response.text

    def pull(self, client: int, limit: int, fault: str) -> None:
        c = self.clients[client]
        seen = len(c.received)
        try:
            c.pull(limit, drop=fault == "drop", duplicate=fault == "duplicate")
        except ResponseLost:
            return
        self.assert_in_scope(c, c.received[seen:])

    def compact(self) -> None:
        self.db.execute("SELECT * FROM drizzlesync.compact('1 hour')")

    def assert_in_scope(self, client: SyncClient, changes: list[dict[str, Any]]) -> None:
        held = self.scopes_of(client.user_id)
        for change in changes:
            if change["op"] == "upsert":
                row = change["row"]
                team = row["id"] if change["table"] == "teams" else row["team_id"]
                assert team in held, f"{client.client_id} received a row of a team its user does not hold"

    def quiesce(self) -> None:
        for writer, is_open in enumerate(self.open):
            if is_open:
                self.long_end(writer, True)
        for client in self.clients:
            for _ in range(100):
                if client.push() is None:
                    break
            assert client.outbox == []
        for client in self.clients:
            seen = len(client.received)
            client.pull_all(limit=random.Random(client.client_id).randint(1, 9))
            self.assert_in_scope(client, client.received[seen:])

    def assert_converged(self) -> None:
        for client in self.clients:
            expected = seed.visible_rows(self.db, client.user_id)
            assert client.rows == expected, f"{client.client_id} diverged"


@settings(max_examples=25)
@given(steps=st.lists(step, min_size=20, max_size=70))
def test_clients_converge_to_their_scope_of_the_server(
    steps: list[tuple[Any, ...]], synced_db: str, http: httpx.Client
) -> None:
    with psycopg.connect(synced_db, autocommit=True) as db:
        world = World(db, synced_db, http)
        try:
            for action in steps:
                world.run(action)
            world.quiesce()
            world.assert_converged()
        finally:
            world.close()
