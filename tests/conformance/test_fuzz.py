"""Hostile input against each host: generated bad requests are 4xx, never 500, and change nothing.

The generators and the three fuzz tests are tests/sync/test_fuzz.py's (1,053
requests per host). The test added here, 400 more, holds each host to the
reference answer: for a request the contract's own checks refuse (the Python
host's `protocol` module, which reads `protocol/`), the status, code and path
must be theirs.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st

from alembic_drizzlesync.sync.errors import SyncError
from alembic_drizzlesync.sync.protocol import parse_json, parse_pull, parse_push
from tests.conformance.hosts import Settings
from tests.sync.test_fuzz import *  # noqa: F403
from tests.sync.test_fuzz import RAW, corruptions, fingerprint, signed_in


def reference(path: str, content: bytes, limits: Any) -> tuple[int, str, str | None] | None:
    """How the contract's checks answer a body; None when it passes them and the database decides."""
    if len(content) > limits.max_body_bytes:
        return (413, "request_too_large", None)
    try:
        payload = parse_json(content)
        (parse_push if path == "/push" else parse_pull)(payload, limits)
    except SyncError as error:
        return (error.status, error.code, error.path)
    return None


@settings(max_examples=400)
@given(data=st.data())
def test_refused_requests_get_the_contracts_status_code_and_path(
    data: st.DataObject, world: tuple[psycopg.Connection[Any], dict[str, str]], http: httpx.Client
) -> None:
    db, names = world
    if data.draw(st.booleans()):
        path, body = data.draw(corruptions(names))
        content = json.dumps(body).encode()
    else:
        path, content = data.draw(st.sampled_from(["/push", "/pull"])), data.draw(RAW)
    expected = reference(path, content, Settings().limits)
    before = fingerprint(db)
    response = http.post(path, content=content, headers=signed_in(names))
    assert 400 <= response.status_code < 500, response.text
    assert fingerprint(db) == before
    if expected is not None:
        error = response.json()["error"]
        assert (response.status_code, error["code"], error.get("path")) == expected, content[:300]
