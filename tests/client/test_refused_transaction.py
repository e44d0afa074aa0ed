"""A client transaction too large for the host even alone, against `drizzlesync serve
--max-body-bytes 20000`: the device keeps pulling while the host refuses it, gives it up with
`discardRefusedTransaction()`, and the write made after it reaches the server, numbered to follow
the server's last mutation id (a gap would be 409 `mutation_gap`). Then the same for a write the
host cannot store (a NUL character: 400 `invalid_string`, its path naming the write) between two
others: the one ahead of it is applied first, on its own."""

from __future__ import annotations

import psycopg

from tests.sync import seed

from .conftest import EXAMPLE, run_integration, serving


def test_a_transaction_too_large_for_the_host_is_given_up(synced_db: str, node22: str) -> None:
    with psycopg.connect(synced_db, autocommit=True) as db:
        user, team = seed.member(db, "ada", "crew")
    with serving(synced_db, EXAMPLE / "pyproject.toml", "--max-body-bytes", "20000") as base:
        report = run_integration(node22, "refused-transaction", base, {"USER_A": user, "TEAM_ID": team})

    refusals = report["refusals"]
    assert len(refusals) == 1 and "413 request_too_large" in refusals[0], refusals
    assert report["whileRefused"]["pending"] == 2
    assert report["whileRefused"]["state"] == "error"
    assert report["discarded"] == [{"code": "request_too_large", "op": "put"}]
    assert report["nulRefusals"] == [
        "sync: HTTP 400 invalid_string: strings must not contain NUL characters"
    ], report["nulRefusals"]
    assert report["nulDiscarded"] == [{"code": "invalid_string", "op": "put"}]
    assert report["rejected"] == ["request_too_large", "invalid_string"]
    with psycopg.connect(synced_db) as db:
        rows = db.execute("SELECT title FROM todos WHERE team_id = %s ORDER BY title", (team,))
        server = [title for (title,) in rows]
    assert server == ["after", "ahead", "before", "behind"]
    assert report["after"] == {"shown": ["after", "before"], "pending": 0, "state": "idle"}
    assert report["nulAfter"] == {"shown": server, "pending": 0, "state": "idle"}
