"""A model sync client for the tests: what the generated TypeScript runtime does, in a few lines.

It keeps the rows the server confirmed (keyed by table and primary key), an
outbox of mutations with increasing ids, and the opaque cursor; it pushes
the outbox, pulls until `hasMore` is false, and starts over on `reset`.
Failures can be injected per call: `drop` loses the response after the
server committed, `duplicate` sends the same request twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

PRIMARY_KEYS = {
    "teams": ("id",),
    "memberships": ("user_id", "team_id"),
    "projects": ("id",),
    "todos": ("id",),
    "users": ("id",),  # synced without a scope rule by one test
    "app.Notes": ("id",),  # and this one by another
}
SCHEMA_VERSION = 1

RowKey = tuple[str, str]


def row_key(table: str, values: dict[str, Any]) -> RowKey:
    return (table, json.dumps({c: values[c] for c in PRIMARY_KEYS[table]}, sort_keys=True))


class ResponseLost(Exception):
    """The injected failure: the server answered, the client never saw it."""


@dataclass
class SyncClient:
    http: httpx.Client
    user_id: str
    client_id: str
    rows: dict[RowKey, dict[str, Any]] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    cursor: str | None = None
    last_mutation_id: int = 0
    next_id: int = 1
    next_tx: int = 1
    rejected: dict[int, str] = field(default_factory=dict)
    resets: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def post(
        self, path: str, body: dict[str, Any], *, drop: bool = False, duplicate: bool = False
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.user_id}"}
        response = self.http.post(path, json=body, headers=headers)
        if duplicate:
            response = self.http.post(path, json=body, headers=headers)
        if drop:
            raise ResponseLost(path)
        return response

    def stage(self, mutations: Iterable[dict[str, Any]], *, optimistic: bool = False) -> list[int]:
        """Queue mutations (each without id/tx) as one client transaction; returns their ids.

        `optimistic` also writes them to the local rows at once, as the
        generated client's triggers do; the server's pulls must undo those
        that it rejects.
        """
        ids = []
        for mutation in mutations:
            self.outbox.append({"id": self.next_id, "tx": self.next_tx, **mutation})
            ids.append(self.next_id)
            self.next_id += 1
            if optimistic:
                self.write_locally(mutation)
        self.next_tx += 1
        return ids

    def write_locally(self, mutation: dict[str, Any]) -> None:
        key = row_key(mutation["table"], mutation["pk"])
        if mutation["op"] == "delete":
            self.rows.pop(key, None)
        elif mutation["op"] == "put":
            self.rows[key] = {**mutation["pk"], **mutation["values"]}
        elif key in self.rows:
            self.rows[key] = {**self.rows[key], **mutation["values"]}

    def push(self, *, drop: bool = False, duplicate: bool = False, batch: int = 50) -> httpx.Response | None:
        if not self.outbox:
            return None
        body = {
            "protocol": 1,
            "schemaVersion": self.schema_version,
            "clientId": self.client_id,
            "mutations": self.outbox[:batch],
        }
        response = self.post("/push", body, drop=drop, duplicate=duplicate)
        if response.status_code == 200:
            result = response.json()
            for rejection in result["rejected"]:
                self.rejected[rejection["id"]] = rejection["code"]
            self.outbox = [m for m in self.outbox if m["id"] > result["lastMutationId"]]
        return response

    def pull(self, limit: int = 100, *, drop: bool = False, duplicate: bool = False) -> dict[str, Any]:
        body = {
            "protocol": 1,
            "schemaVersion": self.schema_version,
            "clientId": self.client_id,
            "cursor": self.cursor,
            "limit": limit,
        }
        response = self.post("/pull", body, drop=drop, duplicate=duplicate)
        if response.status_code == 503:  # a transient conflict: nothing happened, pull again
            return {"hasMore": True, "reset": False, "changes": []}
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        if result["reset"]:
            self.cursor = None
            self.resets += 1
            return result
        if self.cursor is None:  # a bootstrap replaces whatever the client held
            self.rows.clear()
        for change in result["changes"]:
            self.received.append(change)
            if change["op"] == "upsert":
                self.rows[row_key(change["table"], change["row"])] = change["row"]
            else:
                self.rows.pop(row_key(change["table"], change["pk"]), None)
        self.cursor = result["cursor"]
        self.last_mutation_id = result["lastMutationId"]
        return result

    def pull_all(self, limit: int = 100) -> None:
        for _ in range(10_000):
            if not self.pull(limit)["hasMore"]:
                return
        raise AssertionError("pull never caught up")

    def sync(self, limit: int = 100) -> None:
        """Push the whole outbox, then pull to the end: what a client does when it comes online."""
        for _ in range(1_000):
            response = self.push()
            if response is None:
                break
            assert response.status_code in (200, 503), response.text
        assert not self.outbox
        self.pull_all(limit)
