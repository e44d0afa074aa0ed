"""Two devices of one team, on the runtime's node:sqlite and sql.js adapters, sync through a real
`drizzlesync serve` over HTTP and converge with the server: writes in both directions, a column
merge, deletes winning over an offline edit, and a rejected write undone locally."""

from __future__ import annotations

import psycopg

from tests.sync import seed

from .conftest import run_integration


def test_two_devices_converge_with_the_server(synced_db: str, sync_server: str, node22: str) -> None:
    with psycopg.connect(synced_db, autocommit=True) as db:
        user_a, team = seed.member(db, "ada", "crew")
        user_b = seed.user(db, "bob")
        seed.join(db, user_b, team)
        _, other_team = seed.member(db, "eve", "elsewhere")

    env = {"USER_A": user_a, "USER_B": user_b, "TEAM_ID": team, "OTHER_TEAM_ID": other_team}
    report = run_integration(node22, "two-devices", sync_server, env)
    ids, steps, devices = report["ids"], report["steps"], report["devices"]

    assert steps["bootstrap"] == {"a": {"received": 3, "total": 3, "done": True}, "teams": 1}
    assert steps["optimistic"]["a"][ids["first"]] == {"title": "write docs", "done": False}
    assert steps["optimistic"]["pendingA"] == 2
    assert steps["afterExchange"]["a"] == steps["afterExchange"]["b"]
    assert set(steps["afterExchange"]["a"]) == {ids["first"], ids["second"]}
    merged = {"title": "write better docs", "done": True}
    assert steps["columnMerge"] == {"a": merged, "b": merged}
    assert steps["deleteWins"] == {"b": None}
    assert steps["foreignBeforeSync"] == {"title": "not my team", "done": False}
    assert steps["foreignAfterSync"] is None
    assert devices["b"]["rejected"] == [
        {"code": "not_found", "op": "patch", "pk": {"id": ids["second"]}},
        {"code": "forbidden", "op": "put", "pk": {"id": ids["foreign"]}},
    ]
    assert devices["a"]["rejected"] == []

    with psycopg.connect(synced_db) as db:
        server_todos = {
            str(row[0]): {"title": row[1], "done": row[2]}
            for row in db.execute("SELECT id, title, done FROM todos WHERE team_id = %s", (team,))
        }
        projects = db.execute("SELECT id FROM projects WHERE team_id = %s", (team,))
        server_projects = [str(row[0]) for row in projects]
        foreign = db.execute("SELECT count(*) FROM todos WHERE id = %s", (ids["foreign"],)).fetchone()
    assert server_todos == {ids["first"]: merged}
    assert foreign == (0,)
    for name in ("a", "b"):
        assert devices[name]["todos"] == server_todos, name
        assert devices[name]["projects"] == server_projects, name
        assert devices[name]["pending"] == 0, name
        assert devices[name]["state"] == "idle", name
