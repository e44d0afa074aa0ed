"""Columns of synced tables that the revisions of a command rename, watched for code generation.

Autogenerate cannot tell a renamed column from a dropped one and a new one,
and a database read after the fact cannot either; to a client the two differ
a lot: a rename keeps the values on the device and in its pending writes. So
the plugin watches. Postgres keeps a column's number (`attnum`) through a
rename and never gives a dropped column's number to another one while the
table lives, and within one command no dump and restore can renumber a
table, so a number whose name changed between two looks is a rename. The
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


class ColumnWatch:
    """The synced columns as last seen, and the names those renamed since the last generation had."""

    def __init__(self, library_schema: str) -> None:
        self._library_schema = library_schema
        self._seen: dict[ColumnNumber, tuple[str, str, str]] | None = None
        self._named: dict[ColumnNumber, str] = {}
        """A renamed column's name at the last generation."""
        self._started: dict[ColumnNumber, tuple[str, str, str]] = {}
        """The columns at the first look, then at the last generation."""

    def look(self, fetch: Fetch) -> None:
        now = synced_columns(fetch, self._library_schema)
        if self._seen is None:
            self._started = now
        for number, (_, _, name) in now.items():
            before = (self._seen or {}).get(number)
            if before is not None and before[2] != name:
                self._named.setdefault(number, before[2])
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
                "DrizzleSync: cannot read the synced tables' columns, so columns this command renames "
                "reach devices as dropped and added: %s",
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

    def started(self) -> dict[tuple[str, str], frozenset[str]]:
        """Per table, its columns' names when the renames `renamed` gives are counted from, which
        the generation holds against the version it records them after."""
        names: dict[tuple[str, str], frozenset[str]] = {}
        for schema, table, name in self._started.values():
            names[(schema, table)] = names.get((schema, table), frozenset()) | {name}
        return names

    def generated(self) -> None:
        """The renames so far are recorded: the next generation starts from here."""
        self._named = {}
        self._started = dict(self._seen or {})
