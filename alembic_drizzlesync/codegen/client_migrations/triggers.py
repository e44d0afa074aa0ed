"""The outbox triggers of one synced table."""

from __future__ import annotations

from ...quoting import literal, quote
from ..plan import OUTBOX_TABLE, STATE_TABLE
from .key_checks import key_check_names
from .shape import ColumnShape, TableShape


def _exact(real: str, only_if: str | None = None) -> str:
    """A REAL as a JSON number with every digit.

    SQLite's JSON functions write a double with 15 significant digits (0.30000000000000004
    became 0.3 on the server, and on every device after the next pull). 17 digits name any
    double, and `json()` keeps the number as printed; SQLite's printing gets all 17 right from
    about 1e-82 to 1e118 (3.49 to 3.54: measured on random doubles), off by one in the last
    digit now and then beyond. An infinity (no digits) and NULL fail the test and go as before.
    """
    finite = f"abs({real}) <= 1.7976931348623157e308"
    if only_if is not None:
        finite = f"{only_if} AND {finite}"
    return f"CASE WHEN {finite} THEN json(printf('%!.17g', {real})) ELSE {real} END"


def _value(column: ColumnShape, row: str) -> str:
    """A column's value for the outbox's JSON; JSON cannot hold blobs, so they travel as hex."""
    ref = f"{row}.{quote(column.name)}"
    return f"CASE WHEN {ref} IS NULL THEN NULL ELSE hex({ref}) END" if column.storage == "BLOB" else ref


def _json_value(column: ColumnShape, row: str) -> str:
    """A column's value as an argument of a JSON function, which reads `json()`'s number as one."""
    return _exact(_value(column, row)) if column.storage == "REAL" else _value(column, row)


def _json_object(columns: tuple[ColumnShape, ...], row: str, indent: str = "    ") -> str:
    """`json_object('a', NEW."a", …)`, one pair a line when there are more than two."""
    pairs = [f"{literal(c.wire_name)}, {_json_value(c, row)}" for c in columns]
    if len(pairs) <= 2:
        return f"json_object({', '.join(pairs)})"
    return "json_object(\n" + ",\n".join(f"{indent}  {pair}" for pair in pairs) + f"\n{indent})"


def _outbox_insert(shape: TableShape, op: str, row: str, values: str) -> str:
    pk = _json_object(tuple(c for c in shape.columns if c.name in shape.primary_key), row)
    return (
        f'  INSERT INTO {quote(OUTBOX_TABLE)} ("tx", "table", "op", "pk", "values")\n'
        f"  SELECT \"tx\", {literal(shape.source)}, '{op}', {pk},\n    {values}\n"
        f"  FROM {quote(STATE_TABLE)};\n"
    )


def render_triggers(shape: TableShape) -> list[str]:
    return [sql for _, sql in outbox_triggers(shape)]


def trigger_names(shape: TableShape) -> list[str]:
    """The names of every trigger a build may have made on the table: its outbox triggers and its
    key checks (`key_checks`)."""
    return [name for name, _ in outbox_triggers(shape)] + key_check_names(shape.name)


def outbox_triggers(shape: TableShape) -> list[tuple[str, str]]:
    """(name, statement) of each outbox trigger: a put per insert, a patch of the changed columns
    per update, a delete.

    An update that changes the primary key is a delete of the old key and a
    put of the new row. None of them fire while the client applies pulled
    changes (`_sync_state.applying`).
    """
    table, pushed = quote(shape.name), tuple(c for c in shape.columns if c.pushed)
    not_applying = f'(SELECT "applying" FROM {quote(STATE_TABLE)}) = 0'
    same_key = " AND ".join(f"NEW.{quote(c)} IS OLD.{quote(c)}" for c in shape.primary_key)
    full_row = _json_object(pushed, "NEW")

    def trigger(event: str, suffix: str, when: str, body: str) -> tuple[str, str]:
        name = f"{shape.name}_outbox_{suffix}"
        return name, f"CREATE TRIGGER {quote(name)} AFTER {event} ON {table}\nWHEN {when}\nBEGIN\n{body}END"

    triggers = [
        trigger("INSERT", "insert", not_applying, _outbox_insert(shape, "put", "NEW", full_row)),
        trigger("DELETE", "delete", not_applying, _outbox_insert(shape, "delete", "OLD", "NULL")),
        trigger(
            "UPDATE",
            "rekey",
            f"{not_applying} AND NOT ({same_key})",
            _outbox_insert(shape, "delete", "OLD", "NULL") + _outbox_insert(shape, "put", "NEW", full_row),
        ),
    ]
    changeable = tuple(c for c in pushed if c.name not in shape.primary_key)
    if changeable:
        changed = [f"NEW.{quote(c.name)} IS NOT OLD.{quote(c.name)}" for c in changeable]
        pairs = "\n      UNION ALL ".join(
            f'SELECT {literal(c.wire_name)} AS "column", {_value(c, "NEW")} AS "value" WHERE {test}'
            for c, test in zip(changeable, changed, strict=True)
        )
        value = '"value"'
        if any(c.storage == "REAL" for c in changeable):
            # A value leaves the subquery without json()'s mark (it would go as a string): a REAL,
            # known by its type, is made exact out here.
            value = _exact(value, only_if=f"typeof({value}) = 'real'")
        patch = f'(SELECT json_group_object("column", {value}) FROM (\n      {pairs}))'
        when = f"{not_applying} AND {same_key}\n  AND ({' OR '.join(changed)})"
        triggers.insert(2, trigger("UPDATE", "update", when, _outbox_insert(shape, "patch", "NEW", patch)))
    return triggers
