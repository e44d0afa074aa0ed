"""A scope key can come from the verified token: `:claims` in `user_scopes_query`."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from alembic_drizzlesync import localdb
from alembic_drizzlesync.ops import SetUserScopesOp
from alembic_drizzlesync.sync import Identity, SyncProcessor
from tests.support import apply_ops
from tests.sync import seed

MEMBERS = "SELECT 'team:' || team_id FROM public.memberships WHERE user_id = :user_uuid"
MEMBERS_OR_CLAIMED = f"{MEMBERS} UNION SELECT 'team:' || t FROM jsonb_array_elements_text(:claims->'teams') t"


def call(processor: SyncProcessor, kind: str, identity: Identity, **body: Any) -> dict[str, Any]:
    request = {"protocol": 1, "schemaVersion": 1, "clientId": "bob-laptop", **body}
    serve = processor.pull if kind == "pull" else processor.push
    response = serve(identity, json.dumps(request).encode())
    assert response.status == 200, response.body
    result: dict[str, Any] = json.loads(response.body)
    return result


def test_a_scope_claimed_by_the_token_is_served_and_writable_until_the_claim_goes(
    synced_db: str, db: psycopg.Connection[Any], processor: SyncProcessor
) -> None:
    apply_ops(
        localdb.sqlalchemy_url(synced_db).render_as_string(hide_password=False),
        SetUserScopesOp(MEMBERS_OR_CLAIMED, old_query=MEMBERS),
    )
    _, team = seed.member(db, "alice", "A")
    todo = seed.todo(db, team, "shared with the token's holders")
    bob = seed.user(db, "bob")  # a member of nothing
    claimed = Identity(bob, {"teams": [team]})

    bootstrap = call(processor, "pull", claimed, cursor=None)
    assert {(c["table"], c["op"]) for c in bootstrap["changes"]} == {
        ("teams", "upsert"),
        ("memberships", "upsert"),
        ("todos", "upsert"),
    }
    patch = {"table": "todos", "op": "patch", "pk": {"id": todo}}
    done = {"id": 1, "tx": 1, **patch, "values": {"done": True}}
    assert call(processor, "push", claimed, mutations=[done]) == {"lastMutationId": 1, "rejected": []}
    assert db.execute("SELECT done FROM todos WHERE id = %s", (todo,)).fetchone() == (True,)

    unclaimed = Identity(bob)
    undone = {"id": 2, "tx": 2, **patch, "values": {"done": False}}
    pushed = call(processor, "push", unclaimed, mutations=[undone])
    assert [r["code"] for r in pushed["rejected"]] == ["forbidden"]
    after = call(processor, "pull", unclaimed, cursor=bootstrap["cursor"])
    assert {(c["table"], c["op"]) for c in after["changes"]} == {
        ("teams", "delete"),
        ("memberships", "delete"),
        ("todos", "delete"),
    }


def test_an_identity_the_database_cannot_store_is_401_not_500(
    db: psycopg.Connection[Any], processor: SyncProcessor
) -> None:
    """A signed token may carry any text a user could edit (a display name): a NUL or an unpaired
    surrogate in a claim or the user id cannot reach Postgres, and used to fail every request of
    that user with a 500."""
    bob = seed.user(db, "bob")
    request = json.dumps({"protocol": 1, "schemaVersion": 1, "clientId": "bob-laptop", "cursor": None})
    refused = [
        (Identity(bob, {"name": "Bob\x00"}), "claims.name"),
        (Identity(bob, {"names": ["\ud800"]}), "claims.names[0]"),
        (Identity(bob, {"score": float("nan")}), "claims.score"),
        (Identity(bob + "\x00"), "user_id"),
    ]
    for identity, path in refused:
        response = processor.pull(identity, request.encode())
        error = json.loads(response.body)["error"]
        assert (response.status, error["code"]) == (401, "unauthenticated"), identity
        assert error["message"].startswith(f"the identity cannot be stored: {path}: "), error
    assert call(processor, "pull", Identity(bob, {"name": "Bob"}), cursor=None)["changes"] == []


def test_claims_nested_past_the_limit_are_401_not_500(
    db: psycopg.Connection[Any], processor: SyncProcessor
) -> None:
    """Claims nested 5,000 deep (an `authenticate` of one's own may hand any): some 980 deep broke
    the JSON the query takes (RecursionError), a 500 on every request of that user. Refused at
    the first array past the protocol's limit, 512 levels with the claims object the first."""
    bob = seed.user(db, "bob")
    nested: Any = "leaf"
    for _ in range(5_000):
        nested = [nested]
    request = json.dumps({"protocol": 1, "schemaVersion": 1, "clientId": "bob-laptop", "cursor": None})
    response = processor.pull(Identity(bob, {"profile": nested}), request.encode())
    error = json.loads(response.body)["error"]
    assert (response.status, error["code"]) == (401, "unauthenticated")
    where = "claims.profile" + "[0]" * 511
    assert (
        error["message"]
        == f"the identity cannot be stored: {where}: arrays and objects may nest at most 512 levels"
    )
