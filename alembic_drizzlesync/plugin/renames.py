"""Synced tables and their columns that the revisions of a command rename, watched for code generation.

Autogenerate cannot tell a renamed column from a dropped one and a new one,
and a database read after the fact cannot either; to a client the two differ
a lot: a rename keeps the values on the device and in its pending writes. So
the plugin watches. Postgres keeps a column's number (`attnum`) through a
rename and never gives a dropped column's number to another one while the
table lives, and within one command no dump and restore can renumber a
table, so a number whose name changed between two looks is a rename. The
same holds for a table: its oid survives `ALTER TABLE ... RENAME` and
`SET SCHEMA`, so an oid whose schema or name changed is a renamed table.
The registry row of a renamed table is deleted and made again
(`disable_sync`, `enable_sync`), so the oid, not the row, is the key. The
first look is taken when env.py configures the migration context, the next
after each revision (inside its transaction); the renames since the last
generation go to the next one, which records them in history.json.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from ..catalog.registry import ColumnNumber, Fetch, sqlalchemy_fetch, synced_columns
from ..codegen.client_migrations.shape import RenamedColumns

log = logging.getLogger(__name__)

TableKey = tuple[str, str]


class RenameWatch:
    """The synced columns as last seen, and the names those renamed since the last generation had,
    and their tables' too."""

    def __init__(self, library_schema: str) -> None:
        self._library_schema = library_schema
        self._seen: dict[ColumnNumber, tuple[str, str, str]] | None = None
        self._named: dict[ColumnNumber, str] = {}
        """A renamed column's name at the last generation."""
        self._tables_named: dict[int, TableKey] = {}
        """A renamed table's schema and name at the last generation, by its oid."""
        self._started: dict[ColumnNumber, tuple[str, str, str]] = {}
        """The columns at the first look, then at the last generation."""

    def look(self, fetch: Fetch) -> None:
        now = synced_columns(fetch, self._library_schema)
        if self._seen is None:
            self._started = now
        before_tables = _tables(self._seen or {})
        for oid, table in _tables(now).items():
            before = before_tables.get(oid)
            if before is not None and before != table:
                self._tables_named.setdefault(oid, before)
        for number, (_, _, name) in now.items():
            before_column = (self._seen or {}).get(number)
            if before_column is not None and before_column[2] != name:
                self._named.setdefault(number, before_column[2])
        self._seen = now

    def look_before_migrating(self, connection: Connection) -> None:
        """The first look, through env.py's connection, which is left as it was found: a read in
        its transaction runs in a savepoint, one that began a transaction rolls it back, so that
        Alembic begins its own as usual. A read that fails (a role that may not read the library
        schema) leaves renames unwatched, as before this plugin watched them, with a warning."""
        fetch = sqlalchemy_fetch(connection)
        try:
            if connection.in_transaction():
                with connection.begin_nested():
                    self.look(fetch)
            else:
                try:
                    self.look(fetch)
                finally:
                    connection.rollback()
        except SQLAlchemyError as error:
            self._seen = None
            log.warning(
                "DrizzleSync: cannot read the synced tables' columns, so tables and columns this command "
                "renames reach devices as dropped and added: %s",
                error,
            )

    def on_version_apply(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        if not ctx.as_sql and ctx.connection is not None and self._seen is not None:
            self.look(sqlalchemy_fetch(ctx.connection))

    def renamed(self) -> RenamedColumns:
        """Per table, its columns renamed since the last generation: name now to name then."""
        renamed: dict[tuple[str, str], dict[str, str]] = {}
        for number, then in self._named.items():
            schema, table, name = (self._seen or {}).get(number, ("", "", then))
            if name != then:
                renamed.setdefault((schema, table), {})[name] = then
        return renamed

    def renamed_tables(self) -> dict[TableKey, TableKey]:
        """The tables renamed since the last generation: schema and name now to schema and name then
        (a table renamed back is none)."""
        now = _tables(self._seen or {})
        return {now[oid]: then for oid, then in self._tables_named.items() if now.get(oid, then) != then}

    def started(self) -> dict[TableKey, frozenset[str]]:
        """Per table, by its name now (by its name then if gone), its columns' names when the renames
        `renamed` and `renamed_tables` give are counted from, which the generation holds against the
        version it records them after."""
        now = _tables(self._seen or {})
        names: dict[TableKey, frozenset[str]] = {}
        for (oid, _), (schema, table, name) in self._started.items():
            key = now.get(oid, (schema, table))
            names[key] = names.get(key, frozenset()) | {name}
        return names

    def generated(self) -> None:
        """The renames so far are recorded: the next generation starts from here."""
        self._named = {}
        self._tables_named = {}
        self._started = dict(self._seen or {})


def _tables(columns: dict[ColumnNumber, tuple[str, str, str]]) -> dict[int, TableKey]:
    """The tables of `columns`, by oid: their schema and name."""
    return {oid: (schema, table) for (oid, _), (schema, table, _) in columns.items()}
