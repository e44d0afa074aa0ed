"""Shape checks of push and pull requests, before anything reaches the database.

The SQL functions check what only the database knows (synced tables, their
columns and keys, the schema version, the client's mutation counter); this
module checks everything else, so that garbage costs no round trip and every
bad field is reported with its path. Strings the database could not store
(NUL, lone surrogates) and numbers JSON cannot carry are refused here too:
they would otherwise surface as driver errors, not as 400s.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from .errors import SyncError

PROTOCOL_VERSION = 1
MAX_ID = 2**63 - 1
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_OPS = ("put", "patch", "delete")


@dataclass(frozen=True)
class Limits:
    """Request limits; a request over one is refused whole, with 413."""

    max_body_bytes: int = 4 * 1024 * 1024
    max_mutations: int = 1000
    max_changes: int = 1000


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class PushRequest:
    schema_version: int
    client_id: str
    mutations: list[dict[str, Any]]


@dataclass(frozen=True)
class PullRequest:
    schema_version: int
    client_id: str
    cursor: str | None
    limit: int


def invalid(code: str, message: str, path: str | None = None) -> SyncError:
    return SyncError(400, code, message, path)


def parse_json(body: bytes) -> Any:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise invalid("malformed_json", "the request body is not valid JSON") from None
    _check_storable(payload, "")
    return payload


def _check_storable(value: Any, path: str) -> None:
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, float) and not math.isfinite(value):
        raise invalid("invalid_number", "numbers must be finite", path or None)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_storable(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, path)
            _check_storable(item, f"{path}.{key}" if path else key)


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise invalid("invalid_string", "strings must not contain NUL characters", path or None)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid("invalid_string", "strings must be valid Unicode", path or None) from None


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid("invalid_type", "expected an object", path or None)
    return value


def _fields(
    value: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    obj = _object(value, path)
    prefix = f"{path}." if path else ""
    for name in required:
        if name not in obj:
            raise invalid("missing_field", f"{name} is required", prefix + name)
    for name in obj:
        if name not in required and name not in optional:
            raise invalid("unknown_field", f"{name} is not a field of this request", prefix + name)
    return obj


def _integer(value: Any, path: str, minimum: int, maximum: int = MAX_ID) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid("invalid_type", "expected an integer", path)
    if not minimum <= value <= maximum:
        raise invalid("out_of_range", f"expected an integer from {minimum} to {maximum}", path)
    return value


def _string(value: Any, path: str, max_length: int = 256) -> str:
    if not isinstance(value, str):
        raise invalid("invalid_type", "expected a string", path)
    if not 0 < len(value) <= max_length:
        raise invalid("out_of_range", f"expected 1 to {max_length} characters", path)
    return value


def _header(
    payload: Any, required: tuple[str, ...], optional: tuple[str, ...]
) -> tuple[dict[str, Any], int, str]:
    obj = _fields(payload, "", ("protocol", "schemaVersion", "clientId", *required), optional)
    if type(obj["protocol"]) is not int or obj["protocol"] != PROTOCOL_VERSION:
        raise SyncError(
            400,
            "protocol_unsupported",
            f"this server speaks protocol {PROTOCOL_VERSION}",
            "protocol",
            {"supported": PROTOCOL_VERSION},
        )
    schema_version = _integer(obj["schemaVersion"], "schemaVersion", 1, 2**31 - 1)
    client_id = _string(obj["clientId"], "clientId", 128)
    if not _CLIENT_ID.match(client_id):
        raise invalid("invalid_client_id", "clientId may hold letters, digits and . _ : -", "clientId")
    return obj, schema_version, client_id


def parse_push(payload: Any, limits: Limits) -> PushRequest:
    obj, schema_version, client_id = _header(payload, ("mutations",), ())
    mutations = obj["mutations"]
    if not isinstance(mutations, list):
        raise invalid("invalid_type", "expected an array", "mutations")
    if len(mutations) > limits.max_mutations:
        raise SyncError(
            413,
            "batch_too_large",
            f"at most {limits.max_mutations} mutations per push",
            "mutations",
            {"maxMutations": limits.max_mutations},
        )
    checked = [_mutation(m, f"mutations[{i}]") for i, m in enumerate(mutations)]
    _check_order(checked)
    return PushRequest(schema_version, client_id, checked)


def _mutation(value: Any, path: str) -> dict[str, Any]:
    m = _fields(value, path, ("id", "tx", "table", "op", "pk"), ("values",))
    _integer(m["id"], f"{path}.id", 1)
    tx = m["tx"]
    if isinstance(tx, bool) or not isinstance(tx, int | str):
        raise invalid("invalid_type", "expected an integer or a string", f"{path}.tx")
    if isinstance(tx, str):
        _string(tx, f"{path}.tx")
    _string(m["table"], f"{path}.table")
    if m["op"] not in _OPS:
        raise invalid("invalid_op", "op must be put, patch or delete", f"{path}.op")
    pk = _object(m["pk"], f"{path}.pk")
    if not pk:
        raise invalid("invalid_pk", "pk names the primary key columns", f"{path}.pk")
    for column, key in pk.items():
        if key is None or isinstance(key, dict | list):
            raise invalid(
                "invalid_pk", "primary key values are strings, numbers or booleans", f"{path}.pk.{column}"
            )
    if m["op"] != "delete" and "values" not in m:
        raise invalid("missing_field", "values is required for put and patch", f"{path}.values")
    if "values" in m:
        _object(m["values"], f"{path}.values")
    return m


def _check_order(mutations: list[dict[str, Any]]) -> None:
    """Ids strictly increase; the mutations of one `tx` are adjacent, as they apply together."""
    seen_tx: set[Any] = set()
    for index, (before, after) in enumerate(zip(mutations, mutations[1:], strict=False), start=1):
        path = f"mutations[{index}].id"
        if after["id"] == before["id"]:
            raise invalid("duplicate_mutation_id", f"mutation id {after['id']} appears twice", path)
        if after["id"] < before["id"]:
            raise invalid("unordered_mutation_ids", "mutation ids must increase within a push", path)
        if after["tx"] != before["tx"]:
            seen_tx.add(_tx_key(before["tx"]))
            if _tx_key(after["tx"]) in seen_tx:
                raise invalid(
                    "tx_not_contiguous",
                    "the mutations of one transaction must be adjacent",
                    f"mutations[{index}].tx",
                )


def _tx_key(tx: Any) -> tuple[str, Any]:
    return (type(tx).__name__, tx)


def parse_pull(payload: Any, limits: Limits) -> PullRequest:
    obj, schema_version, client_id = _header(payload, (), ("cursor", "limit"))
    cursor = obj.get("cursor")
    if cursor is not None:
        _string(cursor, "cursor", 200)
    limit = _integer(obj.get("limit", limits.max_changes), "limit", 1, limits.max_changes)
    return PullRequest(schema_version, client_id, cursor, limit)
