"""Push and pull requests checked before anything reaches the database.

The shape of a request is the contract's (`protocol/schemas`, through
`contract.RequestSchema`). What JSON Schema cannot say is checked here:
strings the database could not store (NUL, lone surrogates) and numbers JSON
cannot carry, which would otherwise surface as driver errors, not as 400s;
ids increasing and each `tx` adjacent within a batch; and the limits this
server was configured with. The SQL functions check what only the database
knows (synced tables, their columns and keys, the schema version, the
client's mutation counter). Garbage costs no round trip, and every bad field
is reported with its path.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from . import exact_json
from .contract import RequestSchema, default_limits, field_path
from .deep_json import first_too_deep
from .errors import SyncError, batch_too_large, unauthenticated

PROTOCOL_VERSION = 1

MAX_DEPTH: int = default_limits()["maxDepth"]
"""How deep arrays and objects may nest in a body or in claims (the root is level 1); not
configurable: Python's parser gives up some 900 levels down, and the Worker host would hand
Postgres a value nested 20,000 deep, which fails the whole statement (a 500)."""


@dataclass(frozen=True)
class Limits:
    """Request limits; a request over one is refused whole, with 413."""

    max_body_bytes: int = default_limits()["maxBodyBytes"]
    max_mutations: int = default_limits()["maxMutations"]
    max_changes: int = default_limits()["maxChanges"]


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


T = TypeVar("T")
_PUSH = RequestSchema("push-request")
_PULL = RequestSchema("pull-request")
_EXTRA = {"protocol_unsupported": {"supported": PROTOCOL_VERSION}}


def invalid(code: str, message: str, path: str | None = None) -> SyncError:
    return SyncError.of(code, message, path)


def parse_json(body: bytes) -> Any:
    """The checked body of a request whose numbers are checked, never stored (a pull): read by
    `json.loads` with its default decoder, which costs less than one made for each body, unless
    the body may hold a number jsonb cannot hold or one longer than int() reads, which are
    answered as in a push."""
    if _MAY_HOLD_ODD_NUMBERS.search(body):
        return read_json(body)[0]
    payload = _loaded(json.loads, body)
    _check_storable(payload, "")
    return payload


_MAY_HOLD_ODD_NUMBERS = re.compile(rb"[eE][-+]?0*\d{4}|\.\d{1000}|\d{309}")
"""An exponent of four digits or more, a thousand digits after a point, or 309 digits in a row."""


def read_json(body: bytes) -> tuple[Any, bool]:
    """The checked request body, and whether one of its numbers has digits its float lost."""
    payload, rounded = _loaded(exact_json.loads_noting_rounding, body, exact_json.loads)
    _check_storable(payload, "")
    return payload, rounded


def _loaded(load: Callable[[str], T], body: bytes, payload_of: Callable[[bytes], Any] = json.loads) -> T:
    """`load(body)`; a body too deep for it is read again as `payload_of` reads one (`deep_refusal`).

    The body is UTF-8 (RFC 8259), a leading byte order mark allowed, as the Worker host reads it:
    `json.loads` would take bytes in UTF-16 or UTF-32 too, and surrogates encoded as UTF-8.
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise invalid("malformed_json", "the request body is not valid JSON") from None
    try:
        return load(text)
    except RecursionError:
        raise deep_refusal(payload_of, body, "") from None
    except ValueError:
        raise invalid("malformed_json", "the request body is not valid JSON") from None


def too_deep(path: str | None) -> SyncError:
    return invalid("nesting_too_deep", f"arrays and objects may nest at most {MAX_DEPTH} levels", path)


def deep_refusal(load: Callable[[bytes], Any], body: bytes, root: str) -> SyncError:
    """What a body too deep for `json` gets, as the Worker host answers it (`deep_json`):
    malformed if it is not JSON; else the first value before its first array or object past
    MAX_DEPTH that the database could not store, else the depth, at that array or object."""
    try:
        deep = first_too_deep(body.decode(json.detect_encoding(body)), MAX_DEPTH)
    except ValueError:
        return invalid("malformed_json", "the request body is not valid JSON")
    if deep is None:  # `json` gave up short of the limit, deep in a caller's own stack
        return too_deep(root or None)
    try:
        _check_storable(load(deep.prefix.encode()), root)
    except SyncError as error:
        return error
    return too_deep(field_path([*([root] if root else []), *deep.steps]))


def mutations_json(body: bytes, request: PushRequest, rounded: bool) -> str:
    """The mutations as the database function takes them, every number with the digits the client wrote.

    A body whose floats all write back as sent (the common case) is written
    from the checked request; else it is read again keeping each number's
    text (jsonb stores numbers exactly), with the ids and tx the checks made
    integers taken from the request.
    """
    if not rounded:
        return json.dumps(request.mutations)
    exact: list[dict[str, Any]] = exact_json.loads(body)["mutations"]
    for mutation, checked in zip(exact, request.mutations, strict=True):
        mutation["id"], mutation["tx"] = checked["id"], checked["tx"]
    return exact_json.dumps(exact)


def check_identity(user_id: str, claims: Mapping[str, Any]) -> str:
    """The claims as the JSON the query takes; 401 for an identity the database cannot take: a
    NUL or an unpaired surrogate in the user id or a claim (a signed token may carry any text a
    user could edit, a name say), a claim that is not a finite number, or claims nested past
    MAX_DEPTH. Checked before the query, which would otherwise fail as a 500 on every request of
    that user."""
    try:
        _check_text(user_id, "user_id")
        _check_storable(dict(claims), "claims")
    except SyncError as error:
        raise identity_refused(error) from None
    return json.dumps(dict(claims)) if claims else "{}"


def identity_refused(error: SyncError) -> SyncError:
    """The 401 for an identity with a value the database cannot take, naming where it sits."""
    where = f"{error.path}: " if error.path else ""
    return unauthenticated(message=f"the identity cannot be stored: {where}{error.message}")


def _check_storable(value: Any, path: str, depth: int = 1) -> None:
    """Raises for the first value, in document order, that the database could not store."""
    if isinstance(value, list | dict) and depth > MAX_DEPTH:
        raise too_deep(path or None)
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, exact_json.UnstorableNumber):
        raise invalid("invalid_number", value.message, path or None)
    elif isinstance(value, float) and not math.isfinite(value):
        raise invalid("invalid_number", "numbers must be finite", path or None)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_storable(item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, path)
            _check_storable(item, f"{path}.{key}" if path else key, depth + 1)


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise invalid("invalid_string", "strings must not contain NUL characters", path or None)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid("invalid_string", "strings must be valid Unicode", path or None) from None


def _check_shape(schema: RequestSchema, payload: Any) -> None:
    violation = schema.violation(payload)
    if violation is not None:
        extra = _EXTRA.get(violation.code, {})
        raise SyncError.of(violation.code, violation.message, violation.path, **extra)


def _integer(value: int | float) -> int:
    """JSON Schema's integers include `1.0`; the database functions take them as the integers they are."""
    return int(value)


def parse_push(payload: Any, limits: Limits) -> PushRequest:
    mutations = payload.get("mutations") if isinstance(payload, dict) else None
    if isinstance(mutations, list) and len(mutations) > limits.max_mutations:
        raise batch_too_large(limits.max_mutations)
    _check_shape(_PUSH, payload)
    _check_order(payload["mutations"])
    return PushRequest(_integer(payload["schemaVersion"]), payload["clientId"], payload["mutations"])


def _check_order(mutations: list[dict[str, Any]]) -> None:
    """Ids strictly increase; the mutations of one `tx` are adjacent, as they apply together.

    Integral floats (`1.0`) among ids and tx are made ints on the way, so that
    the database and this check see one number where the client wrote one.
    """
    seen_tx: set[Any] = set()
    for index, mutation in enumerate(mutations):
        mutation["id"] = _integer(mutation["id"])
        if isinstance(mutation["tx"], float):
            mutation["tx"] = _integer(mutation["tx"])
        if index == 0:
            continue
        before, path = mutations[index - 1], f"mutations[{index}].id"
        if mutation["id"] == before["id"]:
            raise invalid("duplicate_mutation_id", f"mutation id {mutation['id']} appears twice", path)
        if mutation["id"] < before["id"]:
            raise invalid("unordered_mutation_ids", "mutation ids must increase within a push", path)
        if mutation["tx"] != before["tx"]:
            seen_tx.add(_tx_key(before["tx"]))
            if _tx_key(mutation["tx"]) in seen_tx:
                raise invalid(
                    "tx_not_contiguous",
                    "the mutations of one transaction must be adjacent",
                    f"mutations[{index}].tx",
                )


def _tx_key(tx: Any) -> tuple[str, Any]:
    return (type(tx).__name__, tx)


def parse_pull(payload: Any, limits: Limits) -> PullRequest:
    _check_shape(_PULL, payload)
    limit = _integer(payload.get("limit", limits.max_changes))
    if limit > limits.max_changes:
        raise invalid("out_of_range", f"expected an integer from 1 to {limits.max_changes}", "limit")
    return PullRequest(_integer(payload["schemaVersion"]), payload["clientId"], payload.get("cursor"), limit)
