"""`schema.sqlite.ts`: the synced tables as the client stores them, for drizzle-orm/sqlite-core.

Only primary keys and plain indexes are kept: foreign keys, unique and check
constraints are the server's to enforce, and a client that pulls a partial,
out-of-order view of the data must accept every row it is sent.
"""

from __future__ import annotations

from .naming import ts_string
from .plan import ColumnPlan, Plan, SqliteIndex, TablePlan
from .tsmodule import TsModule, column_ref, object_literal
from .typemap import BLOB, SQLITE_BYTES, TIMESTAMP


class SqliteSchemaGenerator(TsModule):
    template = "ts/schema.sqlite.ts.j2"
    core_module = "drizzle-orm/sqlite-core"

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan

    def render(self) -> str:
        tables = [self.render_table(table) for table in self.plan.synced]
        columns = [column for table in self.plan.synced for column in table.columns]
        if not any(column.mapping.sqlite == SQLITE_BYTES for column in columns):
            return self.render_file(tables)
        return self.render_file([self.render_custom_type(BLOB, SQLITE_BYTES.function), *tables])

    def render_table(self, table: TablePlan) -> str:
        comment = f"Postgres {table.qualified_name}" + (
            f": {table.table.comment}" if table.table.comment else ""
        )
        return self.table_block(table, self.use("sqliteTable"), table.sqlite_name, comment)

    def render_column(self, table: TablePlan, column: ColumnPlan) -> str:
        mapping = column.mapping
        builder = mapping.sqlite
        function = builder.function if builder.custom is not None else self.use(builder.function)
        parts = [self.call(function, column.sqlite_name, column.key, builder)]
        if mapping.sqlite_type is not None:
            parts.append(f".$type<{mapping.sqlite_type}>()")
        if table.table.primary_key == (column.column.name,):
            parts.append(".primaryKey()")
        elif table.sqlite_not_null(column):
            parts.append(".notNull()")
        if column.default is not None:
            parts.append(self.render_default(column))
        return "".join(parts)

    def render_default(self, column: ColumnPlan) -> str:
        """Literals are SQLite defaults too; `now()`, random uuids and array literals are made on
        the client. An array's default is the client's alone (`$defaultFn`), not a column default:
        the recorded SQLite shapes, and with them the schema version, stay as they were, and an
        insert that leaves the column out no longer fails `NOT NULL` on the device."""
        default = column.default
        assert default is not None
        if not column.made_on_client:
            return ""  # the server's to fill in: a put leaves such a column's null out
        if default.kind == "literal":
            return f".default({default.ts})"
        if default.kind == "now":
            now = "new Date()" if column.mapping.codec == TIMESTAMP else "new Date().toISOString()"
            return f".$defaultFn(() => {now})"
        if default.kind == "random":
            return ".$defaultFn(() => crypto.randomUUID())"
        return f".$defaultFn(() => {default.ts})"  # an array literal

    def render_constraints(self, table: TablePlan) -> list[str]:
        extras = []
        if len(table.table.primary_key) > 1:
            columns = ", ".join(column_ref("table", table.column(c)) for c in table.table.primary_key)
            extras.append(
                f"{self.use('primaryKey')}({object_literal([('columns', f'[{columns}]')], '    ')})"
            )
        extras += [self.render_index(table, index) for index in table.sqlite_indexes]
        return extras

    def render_index(self, table: TablePlan, index: SqliteIndex) -> str:
        by_name = {c.sqlite_name: c for c in table.columns}
        columns = ", ".join(column_ref("table", by_name[name]) for name in index.columns)
        return f"{self.use('index')}({ts_string(index.name)}).on({columns})"
