"""Values that a hand-made quoting gets wrong reach the database as sent, on each host.

Both hosts write a request's values into its query's text as literals, one
simple query a request (one round trip): quotes, backslashes under either
string syntax, dollar quotes, a statement's end and non-ASCII text, in a pushed
value, a claim, the user id and a cursor, arrive byte for byte, and nothing else
runs, whether the server reads a backslash in a plain literal as itself
(standard_conforming_strings on, the default) or as an escape (off).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
import pytest

from tests.sync import seed
from tests.sync.signing import claims, hs256
from tests.sync.test_processor_connections import AWKWARD


def post(url: str, endpoint: str, token: str, body: dict[str, Any]) -> httpx.Response:
    request = {"protocol": 1, "schemaVersion": 1, **body}
    return httpx.post(f"{url}/{endpoint}", json=request, headers={"authorization": f"Bearer {token}"})


@pytest.mark.parametrize("conforming", ["on", "off"])
def test_awkward_values_arrive_as_sent(jwt_url: str, db: psycopg.Connection[Any], conforming: str) -> None:
    # For the connections made from now on: the Worker makes one a request.
    db.execute(f"ALTER DATABASE {db.info.dbname} SET standard_conforming_strings = {conforming}")
    alice, team = seed.member(db, "alice", "A")
    token = hs256(claims(alice, note=AWKWARD))
    todo = str(uuid.uuid4())
    values = {"team_id": team, "title": AWKWARD}
    mutation = {"id": 1, "tx": 1, "table": "todos", "op": "put", "pk": {"id": todo}, "values": values}
    pushed = post(jwt_url, "push", token, {"clientId": "alice-1", "mutations": [mutation]})
    assert pushed.status_code == 200, pushed.text
    assert db.execute("SELECT title FROM todos WHERE id = %s", (todo,)).fetchall() == [(AWKWARD,)]

    refused = post(jwt_url, "pull", token, {"clientId": "alice-1", "cursor": AWKWARD})
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_cursor")
    page = post(jwt_url, "pull", token, {"clientId": "alice-1", "cursor": None})
    assert page.status_code == 200, page.text
    titles = [c["row"]["title"] for c in page.json()["changes"] if c["table"] == "todos"]
    assert titles == [AWKWARD]

    # The user id is written in too: a stranger of that id holds no scope and is served nothing,
    # and their client's row holds the id as sent.
    stranger = post(jwt_url, "pull", hs256(claims(AWKWARD)), {"clientId": "stranger-1", "cursor": None})
    assert stranger.status_code == 200, stranger.text
    assert [c for c in stranger.json()["changes"] if c["table"] == "todos"] == []
    owner = db.execute("SELECT user_id FROM drizzlesync.client WHERE client_id = 'stranger-1'").fetchone()
    assert owner == (AWKWARD,)
