"""Triggers that refuse a local write whose key Postgres would store otherwise.

Postgres stores a uuid in one spelling (lowercase, hyphenated) whatever spelling it was given, and
pulls send that one. A row made on the device under another spelling (`6F9619FF-…`, from an
uppercase generator, or in braces) was stored on the server under Postgres's, came back in the
next pull under it, and the device kept both rows for good. So with a `char(n)` key, which
Postgres pads with spaces to n characters (`'ab'` comes back as `'ab   '`), and a `varchar(n)` key
longer than n, whose trailing spaces Postgres cuts (and which it refuses otherwise). Refusing the
write when it is made loses nothing: the app hears why, at the statement that made it, and can
write the key again.

The checks depend on Postgres's types, which the recorded shapes do not hold, so they are not
part of a schema version's step: the runtime makes them on open with the outbox triggers of the
current version (the last step's `triggers`).
"""

from __future__ import annotations

from ...quoting import literal, quote
from ..plan import STATE_TABLE, ColumnPlan, TablePlan


def _respelled(value: str) -> str:
    """Whether Postgres would take `value` as a uuid and write it otherwise: 32 hex digits among
    braces and hyphens only, yet an uppercase digit, a brace, or hyphens not where `uuid_out` puts
    them. A value that is no uuid at all is left to the server, which refuses it by name
    (`invalid_value`); this errs only towards refusing such a value here too."""
    digits = f"replace(replace(replace({value}, '-', ''), '{{', ''), '}}', '')"
    # Postgres's own spelling fails the first test, so a key made by crypto.randomUUID() costs two
    # GLOBs, not the digits' count as well.
    return (
        f"({value} GLOB '*[A-F{{}}]*' OR {value} NOT GLOB '????????-????-????-????-????????????')\n"
        f"    AND {value} NOT GLOB '*[^0-9a-fA-F{{}}-]*' AND length({digits}) = 32"
    )


def _misfit_length(column: ColumnPlan) -> tuple[str, str] | None:
    """(test of `NEW`'s value, what to write) for a `char(n)` or `varchar(n)` key column whose value
    Postgres would store otherwise: a `char(n)` not n characters long, a `varchar(n)` longer."""
    pg_type = column.column.type
    if pg_type.dimensions or not pg_type.modifiers:
        return None
    value, length = f"NEW.{quote(column.sqlite_name)}", pg_type.modifiers[0]
    if pg_type.name == "bpchar":
        return f"length({value}) <> {length}", f"padded with spaces to {length} characters (a char({length}))"
    if pg_type.name == "varchar":
        return f"length({value}) > {length}", f"at most {length} characters long (a varchar({length}))"
    return None


SPELLING, LENGTH = "", "length_"
"""The kinds of key check, as their names spell them: a uuid's spelling, a `char(n)`'s or
`varchar(n)`'s length."""


def key_check_name(sqlite_table: str, kind: str, suffix: str) -> str:
    return f"{sqlite_table}_key_{kind}{suffix}"


def key_check_names(sqlite_table: str) -> list[str]:
    """Every name a key check of the table may have: a step that renames the table drops them, as
    it cannot tell which ones the device's build made (they follow Postgres's types, which the
    recorded shapes do not hold), and the runtime makes the current ones on open."""
    return [
        key_check_name(sqlite_table, kind, suffix)
        for kind in (SPELLING, LENGTH)
        for suffix in ("insert", "update")
    ]


def key_checks(table: TablePlan) -> list[tuple[str, str]]:
    """(name, statement) of the table's key checks: none unless a primary key column is a uuid, a
    `char(n)` or a `varchar(n)` (a domain over one included). A key changed by an update is checked
    as an insert's is."""
    keys = [table.column(name) for name in table.table.primary_key]
    not_applying = f'(SELECT "applying" FROM {quote(STATE_TABLE)}) = 0'
    target = quote(table.sqlite_name)

    def triggers(kind: str, tests: dict[str, str], message: str) -> list[tuple[str, str]]:
        def trigger(event: str, suffix: str, when: list[str]) -> tuple[str, str]:
            # The test is the body's, not the WHEN's: SQLite evaluates an AND's side without a
            # subquery first, so `not_applying AND test` ran the test on every pulled row, and
            # made a bootstrap take half as long again.
            name = key_check_name(table.sqlite_name, kind, suffix)
            return name, (
                f"CREATE TRIGGER {quote(name)} BEFORE {event} ON {target}\n"
                f"WHEN {not_applying}\n"
                f"BEGIN\n  SELECT RAISE(ABORT, {literal(message)})\n  WHERE {' OR '.join(when)};\nEND"
            )

        return [
            trigger("INSERT", "insert", [f"({test})" for test in tests.values()]),
            # Only a key the update changes: a row kept from before these checks can still be updated.
            trigger(
                f"UPDATE OF {', '.join(map(quote, tests))}",
                "update",
                [f"(NEW.{quote(name)} IS NOT OLD.{quote(name)} AND {test})" for name, test in tests.items()],
            ),
        ]

    checks: list[tuple[str, str]] = []
    uuids = [k.sqlite_name for k in keys if k.column.type.name == "uuid" and not k.column.type.dimensions]
    if uuids:
        columns = " and ".join(f"{table.sqlite_name}.{name}" for name in uuids)
        message = (
            f"drizzlesync: write {columns} as Postgres writes a uuid, lowercase with hyphens (as "
            "crypto.randomUUID() does): the row would come back from the server under that spelling, "
            "and the device would keep both"
        )
        checks += triggers(SPELLING, {name: _respelled(f"NEW.{quote(name)}") for name in uuids}, message)
    lengths = {k.sqlite_name: misfit for k in keys if (misfit := _misfit_length(k)) is not None}
    if lengths:
        rules = "; ".join(f"{table.sqlite_name}.{name} {rule}" for name, (_, rule) in lengths.items())
        message = (
            f"drizzlesync: write the key as Postgres stores it, {rules}: the row would come back from "
            "the server under Postgres's value, and the device would keep both"
        )
        checks += triggers(LENGTH, {name: test for name, (test, _) in lengths.items()}, message)
    return checks
