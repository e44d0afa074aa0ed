"""The outbox triggers of one synced table."""

from __future__ import annotations

from ...quoting import literal, quote
from ..plan import OUTBOX_TABLE, STATE_TABLE
from .shape import ColumnShape, TableShape


def _value(column: ColumnShape, row: str) -> str:
    """A column as a JSON value in the outbox; JSON cannot hold blobs, so they travel as hex."""
    ref = f"{row}.{quote(column.name)}"
    return f"CASE WHEN {ref} IS NULL THEN NULL ELSE hex({ref}) END" if column.storage == "BLOB" else ref


def _json_object(columns: tuple[ColumnShape, ...], row: str, indent: str = "    ") -> str:
    """`json_object('a', NEW."a", …)`, one pair a line when there are more than two."""
    pairs = [f"{literal(c.wire_name)}, {_value(c, row)}" for c in columns]
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
    """Outbox triggers: a put per insert, a patch of the changed columns per update, a delete.

    An update that changes the primary key is a delete of the old key and a
    put of the new row. None of them fire while the client applies pulled
    changes (`_sync_state.applying`).
    """
    table, pushed = quote(shape.name), tuple(c for c in shape.columns if c.pushed)
    not_applying = f'(SELECT "applying" FROM {quote(STATE_TABLE)}) = 0'
    same_key = " AND ".join(f"NEW.{quote(c)} IS OLD.{quote(c)}" for c in shape.primary_key)
    full_row = _json_object(pushed, "NEW")

    def trigger(event: str, suffix: str, when: str, body: str) -> str:
        name = quote(f"{shape.name}_outbox_{suffix}")
        return f"CREATE TRIGGER {name} AFTER {event} ON {table}\nWHEN {when}\nBEGIN\n{body}END"

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
        patch = f'(SELECT json_group_object("column", "value") FROM (\n      {pairs}))'
        when = f"{not_applying} AND {same_key}\n  AND ({' OR '.join(changed)})"
        triggers.insert(2, trigger("UPDATE", "update", when, _outbox_insert(shape, "patch", "NEW", patch)))
    return triggers
