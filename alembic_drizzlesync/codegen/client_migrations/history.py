"""history.json: the SQLite shape recorded for each schema version, and the steps between them."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace

from .shape import TableShape, shape_hash, shape_json
from .steps import render_step

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Version:
    version: int
    hash: str
    tables: tuple[TableShape, ...]


def read_history(text: str | None) -> list[Version]:
    if not text:
        return []
    return [
        Version(v["version"], v["hash"], tuple(TableShape.from_json(t) for t in v["tables"]))
        for v in json.loads(text)["versions"]
    ]


def read_retired(text: str | None) -> dict[int, str]:
    """The versions a downgrade dropped, with the hash of the shape each had (`retire`)."""
    if not text:
        return {}
    return {int(version): digest for version, digest in json.loads(text).get("retired", {}).items()}


def render_history(history: list[Version], retired: dict[int, str] | None = None) -> str:
    versions = [
        {"version": v.version, "hash": v.hash, "tables": [shape_json(t) for t in v.tables]} for v in history
    ]
    data: dict[str, object] = {"format": 1, "versions": versions}
    if retired:
        data["retired"] = {str(version): retired[version] for version in sorted(retired)}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def retire(before: list[Version], current: Version, retired: dict[int, str]) -> dict[int, str]:
    """The retired versions once `current` is recorded: those of `before` above it join them.

    A downgrade drops versions that devices may already run. Their numbers
    are remembered with their shapes' hashes, so that autogenerate bumps past
    them (`highest_version`) and a later revision that takes one of them for
    another shape is told: devices at that number would never migrate to it.
    A number taken again for the same shape (upgrading back) is no longer
    retired.
    """
    retired = {**retired, **{v.version: v.hash for v in before if v.version > current.version}}
    highest = max([*retired, current.version])
    if retired.pop(current.version, current.hash) != current.hash:
        log.warning(
            "schema version %d was shipped with another shape before a downgrade dropped it: devices "
            "at it will not migrate to this one; bump the version past %d instead",
            current.version,
            highest,
        )
    return retired


def highest_version(text: str | None) -> int:
    """The highest schema version history.json records or remembers as retired (0: none)."""
    return max((*(v.version for v in read_history(text)), *read_retired(text)), default=0)


def record(
    history: list[Version], server_version: int | None, tables: tuple[TableShape, ...]
) -> list[Version]:
    """The history once the current shape is recorded under its schema version.

    The version is the server's when DrizzleSync is installed; otherwise the
    last recorded one, plus one if the shape changed. Versions above it are
    dropped (a downgrade), with a warning: generation runs once a command, so
    an upgrade over several versions records only the last, and a client
    built at a dropped one would meet a step computed from another shape. A
    version recorded with another shape is replaced. That deserves a warning
    when the tables or their columns changed, since clients already at that
    version will not migrate again; not when only indexes did, which
    autogenerate does not bump the version for and which change no data. So
    does a synced table whose SQLite name moved.
    """
    digest = shape_hash(tables)
    last = history[-1] if history else None
    if server_version is None:
        server_version = 1 if last is None else last.version + (last.hash != digest)
    kept = [v for v in history if v.version < server_version]
    dropped = [v.version for v in history if v.version > server_version]
    if dropped:
        log.warning(
            "schema version(s) %s dropped from the client migrations (a downgrade to %d): upgrade again "
            "one revision at a time (alembic upgrade +1) to record each version's shape; in one command "
            "the versions between are skipped, and a client left at one of them would migrate from "
            "the wrong shape",
            ", ".join(map(str, dropped)),
            server_version,
        )
    if last is not None:
        _warn_of_renames(last.tables, tables)
    same = next((v for v in history if v.version == server_version), None)
    if same is not None and same.hash == digest:
        return [*kept, same]  # as recorded, with the renames its revision made
    if same is not None and _without_indexes(same.tables) != _without_indexes(tables):
        # A bump in a later revision comes too late: its step starts from the rewritten step's
        # shape, so it is empty, and devices that ran the step as first written never get the
        # change. Only a bump in the revision that made the change keeps the step as shipped.
        log.warning(
            "the synced shape changed but the schema version is still %d: client step %d now makes "
            "the new shape, and devices that already ran version %d will not get this change, neither "
            "from this step nor from a bump in a later revision (whose step starts from this shape). "
            "Unless no device has version %d yet, bump the version in the revision that changed the "
            "shape: alembic downgrade to the revision before it, add op.bump_sync_schema_version(%d) "
            "to its upgrade() and op.revert_sync_schema_version(%d) to its downgrade(), then upgrade "
            "again",
            server_version,
            server_version,
            server_version,
            server_version,
            server_version + 1,
            server_version + 1,
        )
    return [*kept, Version(server_version, digest, tables)]


def _warn_of_renames(before: tuple[TableShape, ...], after: tuple[TableShape, ...]) -> None:
    """A synced table whose SQLite name moved: a table added since collides with it, and took its
    name or the suffix it had. The step rebuilds one table's rows under the other's name."""
    named = {shape.source: shape.name for shape in before}
    for shape in after:
        if named.get(shape.source, shape.name) != shape.name:
            log.warning(
                "synced table %s is %s in SQLite now, %s before: a table added since collides with its "
                "name; give that table another name (docs/codegen.md, Naming), or its client step moves "
                "rows between the two",
                shape.source,
                shape.name,
                named[shape.source],
            )


def _without_indexes(tables: tuple[TableShape, ...]) -> list[tuple[object, ...]]:
    return [
        (t.name, t.source, tuple(replace(c, renamed_from=None) for c in t.columns), t.primary_key)
        for t in tables
    ]


def migration_steps(history: list[Version]) -> list[tuple[int, list[str]]]:
    """(version, statements) for every recorded version, the first from an empty database."""
    previous: tuple[TableShape, ...] | None = None
    earlier: dict[str, frozenset[str]] = {}
    """Per table, the names its columns had in the versions before `previous`."""
    result = []
    for version in history:
        result.append((version.version, render_step(previous, version.tables, version.version, earlier)))
        for shape in previous or ():
            earlier[shape.source] = earlier.get(shape.source, frozenset()) | {
                c.wire_name for c in shape.columns
            }
        # A renamed table's pending writes moved to its new name, and with them the names its
        # columns had before (all read at once: two tables may swap names).
        carried = {
            s.source: earlier.get(s.renamed_from, frozenset()) for s in version.tables if s.renamed_from
        }
        for source, names in carried.items():
            earlier[source] = earlier.get(source, frozenset()) | names
        previous = version.tables
    return result
