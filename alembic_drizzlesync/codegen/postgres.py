"""`schema.postgres.ts`: every table of the introspected schemas, for drizzle-orm/pg-core."""

from __future__ import annotations

from ..catalog.model import Check, Enum, ForeignKey, Identity, Index, IndexPart, Unique
from .naming import ts_string
from .plan import ColumnPlan, Plan, TablePlan
from .tsmodule import TsModule, column_ref, object_literal

_INT_MAX = {"int2": 32767, "int4": 2147483647, "int8": 9223372036854775807}


class PostgresSchemaGenerator(TsModule):
    template = "ts/schema.postgres.ts.j2"
    core_module = "drizzle-orm/pg-core"

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan

    def render(self) -> str:
        blocks = [self.render_schema(name, variable) for name, variable in self.plan.schemas.items()]
        blocks += [self.render_enum(enum) for enum in self.plan.catalog.enums]
        blocks += [self.render_custom_type(c, variable) for c, variable in self.plan.custom_types.items()]
        blocks += [self.render_table(table) for table in self.plan.tables]
        return self.render_file(blocks)

    def render_schema(self, name: str, variable: str) -> str:
        return f"export const {variable} = {self.use('pgSchema')}({ts_string(name)});"

    def render_enum(self, enum: Enum) -> str:
        values = ", ".join(ts_string(v) for v in enum.values)
        owner = self._owner(enum.schema, "pgEnum", "enum")
        variable = self.plan.enums[(enum.schema, enum.name)]
        return f"export const {variable} = {owner}({ts_string(enum.name)}, [{values}]);"

    def render_table(self, table: TablePlan) -> str:
        comment = table.table.comment
        if table.table.partitioned:
            note = "Partitioned in Postgres: its partitions are not listed."
            comment = f"{comment}\n\n{note}" if comment else note
        owner = self._owner(table.table.schema, "pgTable", "table")
        extras_type = "PgTableExtraConfigValue" if table.table.foreign_keys else None
        return self.table_block(table, owner, table.table.name, comment, extras_type)

    def render_column(self, table: TablePlan, column: ColumnPlan) -> str:
        builder = column.mapping.pg
        if builder.enum is not None:
            function = self.plan.enums[builder.enum]
        elif builder.custom is not None:
            function = self.plan.custom_types[builder.custom]
        else:
            function = self.use(builder.function)
        source = column.column
        parts = [self.call(function, source.name, column.key, builder)]
        parts += [".array()"] * source.type.dimensions
        if table.table.primary_key == (source.name,):
            parts.append(".primaryKey()")
        elif not source.nullable:
            parts.append(".notNull()")
        if source.identity is not None:
            parts.append(self.render_identity(source.identity, source.type.name))
        if source.generated is not None:
            parts.append(f".generatedAlwaysAs({self.sql(source.generated)})")
        if column.default is not None:
            parts.append(self.render_default(column))
        return "".join(parts)

    def render_identity(self, identity: Identity, type_name: str) -> str:
        options = [
            (
                "startWith",
                identity.start,
                identity.min_value if identity.increment > 0 else identity.max_value,
            ),
            ("increment", identity.increment, 1),
            ("minValue", identity.min_value, 1 if identity.increment > 0 else -_INT_MAX[type_name] - 1),
            ("maxValue", identity.max_value, _INT_MAX[type_name] if identity.increment > 0 else -1),
            ("cache", identity.cache, 1),
            ("cycle", identity.cycle, False),
        ]
        config = ", ".join(f"{k}: {str(v).lower()}" for k, v, default in options if v != default)
        kind = "Always" if identity.always else "ByDefault"
        return f".generated{kind}AsIdentity({{ {config} }})" if config else f".generated{kind}AsIdentity()"

    def render_default(self, column: ColumnPlan) -> str:
        default = column.default
        assert default is not None
        if default.kind == "now":
            return ".defaultNow()"
        if default.kind == "random":
            return ".defaultRandom()"
        if default.kind == "literal":
            return f".default({default.ts})"
        return f".default({self.sql(default.ts)})"

    def render_constraints(self, table: TablePlan) -> list[str]:
        source = table.table
        extras = []
        if len(source.primary_key) > 1:
            columns = ", ".join(column_ref("table", table.column(c)) for c in source.primary_key)
            config = object_literal(
                [("name", ts_string(source.primary_key_name or "")), ("columns", f"[{columns}]")], "    "
            )
            extras.append(f"{self.use('primaryKey')}({config})")
        extras += [self.render_foreign_key(table, fk) for fk in source.foreign_keys]
        extras += [self.render_unique(table, unique) for unique in source.uniques]
        extras += [self.render_index(table, index) for index in source.indexes]
        extras += [self.render_check(check) for check in source.checks]
        return extras

    def render_foreign_key(self, table: TablePlan, fk: ForeignKey) -> str:
        target = self.plan.table(fk.target_schema, fk.target_table)
        columns = ", ".join(column_ref("table", table.column(c)) for c in fk.columns)
        if target is None:  # a table outside the generated schemas: nothing to point at
            return f"// {fk.name}: references {fk.target_schema}.{fk.target_table}, which is not generated"
        foreign = ", ".join(column_ref(target.variable, target.column(c)) for c in fk.target_columns)
        config = [
            ("name", ts_string(fk.name)),
            ("columns", f"[{columns}]"),
            ("foreignColumns", f"[{foreign}]"),
        ]
        text = f"{self.use('foreignKey')}({object_literal(config, '    ')})"
        for event, action in (("onUpdate", fk.on_update), ("onDelete", fk.on_delete)):
            if action != "no action":
                text += f".{event}({ts_string(action)})"
        return text

    def render_unique(self, table: TablePlan, unique: Unique) -> str:
        columns = ", ".join(column_ref("table", table.column(c)) for c in unique.columns)
        return f"{self.use('unique')}({ts_string(unique.name)}).on({columns})"

    def render_index(self, table: TablePlan, index: Index) -> str:
        kind = self.use("uniqueIndex" if index.unique else "index")
        parts = ", ".join(self.render_index_part(table, part) for part in index.parts)
        using = f".on({parts})" if index.method == "btree" else f".using({ts_string(index.method)}, {parts})"
        where = f".where({self.sql(index.where)})" if index.where else ""
        return f"{kind}({ts_string(index.name)}){using}{where}"

    def render_index_part(self, table: TablePlan, part: IndexPart) -> str:
        text = column_ref("table", table.column(part.column)) if part.column else self.sql(part.expression)
        if part.opclass:
            text += f".op({ts_string(part.opclass)})"
        if part.descending:
            text += ".desc()"
        if part.nulls_first != part.descending:
            text += ".nullsFirst()" if part.nulls_first else ".nullsLast()"
        return text

    def render_check(self, check: Check) -> str:
        return f"{self.use('check')}({ts_string(check.name)}, {self.sql(check.expression)})"

    def _owner(self, schema: str, core_function: str, method: str) -> str:
        if schema == self.plan.default_schema:
            return self.use(core_function)
        return f"{self.plan.schemas[schema]}.{method}"
