"""The protocol contract, read from the data in `protocol/` (packaged as `alembic_drizzlesync.protocol`).

The JSON Schemas and the error table are the one source that this host, the
Worker host and the TypeScript client all validate against, so nothing here
restates them: a request schema is compiled once (jsonschema-rs, in Rust,
cheaper than walking a batch in Python) and a failing keyword becomes the
protocol's error code through the contract's own mapping (`keywordCodes`,
refined per subschema by `errorCodes`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jsonschema_rs

PACKAGE = "alembic_drizzlesync.protocol"
MAX_MESSAGE = 200
"""Schema messages quote the offending value; a client's megabyte string stays out of the answer."""


@dataclass(frozen=True)
class ErrorCode:
    """One row of `errors.json`: a code, the HTTP status it is answered with, why it happens."""

    code: str
    status: int
    description: str
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class Violation:
    """The first way a request breaks its schema, in protocol terms."""

    code: str
    message: str
    path: str | None


def _read(*parts: str) -> Any:
    return json.loads(resources.files(PACKAGE).joinpath(*parts).read_text(encoding="utf-8"))


@cache
def contract() -> Mapping[str, Any]:
    """`errors.json` as it is."""
    data: Mapping[str, Any] = _read("errors.json")
    return data


def retry_after_seconds() -> int:
    """The `Retry-After` every 503 carries (`errors.json`'s `retryAfter`), the same behind either host."""
    seconds: int = contract()["retryAfter"]["seconds"]
    return seconds


def is_transient(sqlstate: str) -> bool:
    """Whether a Postgres error is temporary (503, retried), as `errors.json`'s `sqlstates` says."""
    transient = contract()["sqlstates"]["transient"]
    return sqlstate[:2] in transient["classes"] or sqlstate in transient["states"]


def is_misconfiguration(sqlstate: str) -> bool:
    """Whether a Postgres error escaping to a host means the database lacks what the functions name."""
    return sqlstate in contract()["sqlstates"]["misconfigured"]["states"]


@cache
def default_limits() -> Mapping[str, int]:
    """`limits.json`: the limits every host applies unless configured otherwise."""
    data: Mapping[str, int] = _read("limits.json")
    return data


@cache
def jwks_timings() -> Mapping[str, float]:
    """`jwks.json`: when every host fetches a JWKS URL's keys (seconds), how long an answer may be (bytes)."""
    data: Mapping[str, Any] = _read("jwks.json")
    return {key: float(value) for key, value in data.items() if not key.startswith("$")}


@cache
def cors_origin_rule() -> Mapping[str, Any]:
    """`cors.json`: the form a configured CORS origin must have, and what to say when it has not."""
    data: Mapping[str, Any] = _read("cors.json")
    return data


@cache
def error_codes() -> Mapping[str, ErrorCode]:
    """The HTTP error codes by name."""
    return {
        row["code"]: ErrorCode(row["code"], row["status"], row["description"], tuple(row.get("extra", ())))
        for row in contract()["errors"]
    }


@cache
def schemas() -> Mapping[str, Mapping[str, Any]]:
    """Every schema of `protocol/schemas`, by its `$id`."""
    folder = resources.files(PACKAGE).joinpath("schemas")
    loaded = [_read("schemas", entry.name) for entry in folder.iterdir() if entry.name.endswith(".json")]
    return {schema["$id"]: schema for schema in loaded}


def schema_named(name: str) -> Mapping[str, Any]:
    """A schema by file name, e.g. `push-request` for `schemas/push-request.schema.json`."""
    (schema,) = [s for key, s in schemas().items() if key.endswith(f"/{name}.schema.json")]
    return schema


@cache
def validator(name: str) -> jsonschema_rs.Validator:
    """A schema of the folder compiled once, its references resolved among the folder's files."""
    registry = jsonschema_rs.Registry([(key, dict(schema)) for key, schema in schemas().items()])
    return jsonschema_rs.validator_for(dict(schema_named(name)), registry=registry)


class RequestSchema:
    """A request schema compiled once; `violation` names the first error the way clients read it.

    "First" is in document order (object fields by name, array items by
    index), a missing or unknown field before its siblings' contents, and a
    protocol mismatch before anything else: a client speaking another
    version learns that, not the fields version 1 would want.
    """

    def __init__(self, name: str) -> None:
        self._validator = validator(name)

    def violation(self, payload: Any) -> Violation | None:
        if self._validator.is_valid(payload):
            return None
        found = [_violation(error) for error in self._validator.iter_errors(_within_reach(payload))]
        if not found:  # only what lies beyond the schemas' reach was wrong: no schema looks there
            return Violation("invalid_type", "the request does not have the protocol's shape", None)
        return min(found, key=lambda pair: pair[0])[1]


SCHEMA_DEPTH = 16
"""Deeper than any field of a request schema: the values of a mutation's columns start at depth 4."""


def _within_reach(value: Any, depth: int = 0) -> Any:
    """The payload with what lies deeper than SCHEMA_DEPTH emptied, keeping its JSON type.

    jsonschema-rs gives up with a ValueError ("Recursion limit reached") on an error
    whose instance is nested a few hundred deep, a cursor sent as a deep array say:
    it was a 500. No schema of the protocol looks that deep, so the first error and
    its path are the same without it.
    """
    if isinstance(value, list):
        return [] if depth >= SCHEMA_DEPTH else [_within_reach(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return (
            {}
            if depth >= SCHEMA_DEPTH
            else {key: _within_reach(item, depth + 1) for key, item in value.items()}
        )
    return value


_FIRST_CODES = ("protocol_unsupported",)
_FIELD_KEYWORDS = ("required", "additionalProperties")


def _violation(error: jsonschema_rs.ValidationError) -> tuple[tuple[Any, ...], Violation]:
    """The error in protocol terms, with its sort key (see `RequestSchema`)."""
    location, _, pointer = (error.absolute_keyword_location or "").partition("#")
    steps = [step.replace("~1", "/").replace("~0", "~") for step in pointer.split("/")[1:]]
    subschema: Any = schemas()[location]
    for step in steps[:-1]:
        subschema = subschema[int(step) if isinstance(subschema, list) else step]
    keyword = steps[-1]
    codes = subschema.get("errorCodes", {})
    code = codes.get(keyword) or contract()["keywordCodes"].get(keyword, "invalid_type")
    parent = list(error.instance_path)
    path = list(parent)
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        path.append(kind.property)
    elif isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
        path.append(kind.unexpected[0])
    rank = 0 if code in _FIRST_CODES else 1 if keyword in _FIELD_KEYWORDS else 2
    message = error.message if len(error.message) <= MAX_MESSAGE else error.message[: MAX_MESSAGE - 1] + "…"
    return (rank != 0, parent, rank), Violation(code, message, field_path(path))


def field_path(steps: list[str | int]) -> str | None:
    """`["mutations", 3, "values", "title"]` as clients see it: `mutations[3].values.title`."""
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else f".{step}" if text else step
    return text or None
