"""Triggers that refuse a local write whose uuid key Postgres would spell otherwise.

Postgres stores a uuid in one spelling (lowercase, hyphenated) whatever spelling it was given, and
pulls send that one. A row made on the device under another spelling (`6F9619FF-…`, from an
uppercase generator, or in braces) was stored on the server under Postgres's, came back in the
next pull under it, and the device kept both rows for good. Refusing the write when it is made
loses nothing: the app hears why, at the statement that made it, and can write the key again.

The checks depend on Postgres's types, which the recorded shapes do not hold, so they are not
part of a schema version's step: the runtime makes them on open with the outbox triggers of the
current version (the last step's `triggers`).
"""

from __future__ import annotations

from ...quoting import literal, quote
from ..plan import STATE_TABLE, TablePlan


def _respelled(value: str) -> str:
    """Whether Postgres would take `value` as a uuid and write it otherwise: 32 hex digits among
    braces and hyphens only, yet an uppercase digit, a brace, or hyphens not where `uuid_out` puts
    them. A value that is no uuid at all is left to the server, which refuses it by name
    (`invalid_value`); this errs only towards refusing such a value here too."""
    digits = f"replace(replace(replace({value}, '-', ''), '{{', ''), '}}', '')"
    return (
        f"{value} NOT GLOB '*[^0-9a-fA-F{{}}-]*' AND length({digits}) = 32\n"
        f"    AND ({value} GLOB '*[A-F{{}}]*' OR {value} NOT GLOB '????????-????-????-????-????????????')"
    )


def key_checks(table: TablePlan) -> list[tuple[str, str]]:
    """(name, statement) of the table's key checks: none unless a primary key column is a uuid
    (a domain over one included). A key changed by an update is checked as an insert's is."""
    keys = [table.column(name) for name in table.table.primary_key]
    uuids = [k.sqlite_name for k in keys if k.column.type.name == "uuid" and not k.column.type.dimensions]
    if not uuids:
        return []
    columns = " and ".join(f"{table.sqlite_name}.{name}" for name in uuids)
    message = literal(
        f"drizzlesync: write {columns} as Postgres writes a uuid, lowercase with hyphens (as "
        "crypto.randomUUID() does): the row would come back from the server under that spelling, "
        "and the device would keep both"
    )
    not_applying = f'(SELECT "applying" FROM {quote(STATE_TABLE)}) = 0'
    target = quote(table.sqlite_name)

    def trigger(event: str, suffix: str, tests: list[str]) -> tuple[str, str]:
        name = f"{table.sqlite_name}_key_{suffix}"
        return name, (
            f"CREATE TRIGGER {quote(name)} BEFORE {event} ON {target}\n"
            f"WHEN {not_applying}\n  AND ({' OR '.join(tests)})\n"
            f"BEGIN\n  SELECT RAISE(ABORT, {message});\nEND"
        )

    respelled = {name: _respelled(f"NEW.{quote(name)}") for name in uuids}
    return [
        trigger("INSERT", "insert", [f"({test})" for test in respelled.values()]),
        # Only a key the update changes: a row kept from before these checks can still be updated.
        trigger(
            f"UPDATE OF {', '.join(map(quote, uuids))}",
            "update",
            [f"(NEW.{quote(name)} IS NOT OLD.{quote(name)} AND {test})" for name, test in respelled.items()],
        ),
    ]
