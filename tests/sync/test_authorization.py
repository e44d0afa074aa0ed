"""Authorization property: no user writes, or receives, a row of a scope it does not hold."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.sync import seed
from tests.sync.syncclient import SyncClient

MEMBERSHIPS = ({0}, {1}, {0, 2})
action = st.tuples(
    st.integers(0, len(MEMBERSHIPS) - 1),
    st.sampled_from(["put", "patch", "move", "delete"]),
    st.integers(0, 99),
    st.integers(0, 2),
)


def team_of(db: psycopg.Connection[Any], todo_id: str) -> str | None:
    row = db.execute("SELECT team_id::text FROM todos WHERE id = %s", (todo_id,)).fetchone()
    return None if row is None else str(row[0])


def row_image(db: psycopg.Connection[Any], todo_id: str) -> Any:
    return db.execute("SELECT to_jsonb(t) FROM todos AS t WHERE id = %s", (todo_id,)).fetchone()


@settings(max_examples=15)
@given(actions=st.lists(action, min_size=5, max_size=25))
def test_writes_and_reads_stay_inside_the_users_scopes(
    actions: list[tuple[int, str, int, int]], synced_db: str, http: httpx.Client
) -> None:
    with psycopg.connect(synced_db, autocommit=True) as db:
        teams = [seed.team(db, f"team {i}") for i in range(3)]
        users = [seed.user(db, f"u-{uuid.uuid4().hex[:8]}") for _ in MEMBERSHIPS]
        for user, held in zip(users, MEMBERSHIPS, strict=True):
            for team in held:
                seed.join(db, user, teams[team])
        todos = [seed.todo(db, team, "seed") for team in teams for _ in range(2)]
        clients = [SyncClient(http, user, f"c-{uuid.uuid4().hex[:12]}") for user in users]

        for who, op, pick, team in actions:
            client, held = clients[who], {teams[i] for i in MEMBERSHIPS[who]}
            target = todos[pick % len(todos)] if op != "put" else str(uuid.uuid4())
            before_team, before = team_of(db, target), row_image(db, target)
            mutation: dict[str, Any] = {"table": "todos", "op": op, "pk": {"id": target}}
            if op == "put":
                mutation["values"] = {"team_id": teams[team], "title": "put"}
                todos.append(target)
            elif op == "patch":
                mutation["values"] = {"title": f"patched by {who}"}
            elif op == "move":
                mutation |= {"op": "patch", "values": {"team_id": teams[team]}}
            (mutation_id,) = client.stage([mutation])
            client.push()

            after_team = teams[team] if op in ("put", "move") else before_team
            if before_team is None and op in ("patch", "move"):
                expected: str | None = "not_found"
            elif before_team is not None and before_team not in held:
                expected = "forbidden"
            else:
                expected = None if op == "delete" or after_team in held else "forbidden"
            assert client.rejected.get(mutation_id) == expected, (op, who)
            if expected is not None:
                assert row_image(db, target) == before

        for user, client in zip(users, clients, strict=True):
            client.pull_all(limit=3)
            held = {teams[i] for i in MEMBERSHIPS[users.index(user)]}
            for change in client.received:
                if change["op"] == "upsert":
                    row = change["row"]
                    assert (row["id"] if change["table"] == "teams" else row["team_id"]) in held
            assert client.rows == seed.visible_rows(db, user)
