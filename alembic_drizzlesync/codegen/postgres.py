"""`schema.postgres.ts`: every table of the introspected schemas, for drizzle-orm/pg-core."""

from __future__ import annotations

import re

from ..catalog.model import (
    Check,
    Enum,
    ForeignKey,
    Identity,
    Index,
    IndexPart,
    Policy,
    Sequence,
    SequenceOptions,
    Unique,
)
from .naming import camel_case, property_key, ts_string
from .plan import ColumnPlan, Plan, TablePlan, ViewPlan
from .tsmodule import TsModule, column_note, column_ref, doc_comment, object_literal

_INT_MAX = {"int2": 32767, "int4": 2147483647, "int8": 9223372036854775807}
_SAFE_INTEGER = 2**53 - 1


def sequence_options(options: SequenceOptions, type_name: str) -> list[tuple[str, str]]:
    """The options of a sequence or identity that differ from Postgres' defaults for its type.

    Numbers beyond JavaScript's safe integers are written as strings, which drizzle also takes.
    """
    ascending = options.increment > 0
    values = [
        ("startWith", options.start, options.min_value if ascending else options.max_value),
        ("increment", options.increment, 1),
        ("minValue", options.min_value, 1 if ascending else -_INT_MAX[type_name] - 1),
        ("maxValue", options.max_value, _INT_MAX[type_name] if ascending else -1),
        ("cache", options.cache, 1),
        ("cycle", options.cycle, False),
    ]
    return [
        (key, str(value).lower() if isinstance(value, bool) or abs(value) <= _SAFE_INTEGER else f'"{value}"')
        for key, value, default in values
        if value != default
    ]


_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_MATERIALIZED_VIEW_OPTIONS = frozenset(
    """
    fillfactor toastTupleTarget parallelWorkers autovacuumEnabled vacuumIndexCleanup vacuumTruncate
    autovacuumVacuumThreshold autovacuumVacuumScaleFactor autovacuumVacuumCostDelay autovacuumVacuumCostLimit
    autovacuumFreezeMinAge autovacuumFreezeMaxAge autovacuumFreezeTableAge autovacuumMultixactFreezeMinAge
    autovacuumMultixactFreezeMaxAge autovacuumMultixactFreezeTableAge logAutovacuumMinDuration
    userCatalogTable
    """.split()
)
"""The storage parameters drizzle's `PgMaterializedViewWithConfig` lists; `toast.*` ones it does not."""


def _view_options(options: tuple[tuple[str, str], ...], materialized: bool) -> str:
    """`.with({ securityInvoker: true, checkOption: "cascaded" })`, values typed as drizzle-kit reads them."""
    entries = [
        (key, value if value in ("true", "false") or _is_number(value) else ts_string(value))
        for key, value in ((camel_case(k), v) for k, v in options)
        if not materialized or key in _MATERIALIZED_VIEW_OPTIONS
    ]
    return f".with({object_literal(entries)})" if entries else ""


def _is_number(text: str) -> bool:
    return _NUMBER.fullmatch(text) is not None


def _undeclarable(*clauses: str | None) -> str:
    """A comment naming what a constraint or index has that drizzle-orm has no words for."""
    missing = [clause for clause in clauses if clause]
    return f" /* {', '.join(missing)}: drizzle-orm cannot declare it */" if missing else ""


class PostgresSchemaGenerator(TsModule):
    template = "ts/schema.postgres.ts.j2"
    core_module = "drizzle-orm/pg-core"

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan

    def render(self) -> str:
        blocks = [self.render_schema(name, variable) for name, variable in self.plan.schemas.items()]
        blocks += [self.render_enum(enum) for enum in self.plan.catalog.enums]
        blocks += [
            self.render_sequence(sequence, variable) for sequence, variable in self.plan.sequences.items()
        ]
        blocks += [self.render_custom_type(c, variable) for c, variable in self.plan.custom_types.items()]
        blocks += [self.render_table(table) for table in self.plan.tables]
        blocks += [self.render_view(view) for view in self.plan.views]
        return self.render_file(blocks)

    def render_schema(self, name: str, variable: str) -> str:
        return f"export const {variable} = {self.use('pgSchema')}({ts_string(name)});"

    def render_enum(self, enum: Enum) -> str:
        values = ", ".join(ts_string(v) for v in enum.values)
        owner = self._owner(enum.schema, "pgEnum", "enum")
        variable = self.plan.enums[(enum.schema, enum.name)]
        return f"export const {variable} = {owner}({ts_string(enum.name)}, [{values}]);"

    def render_sequence(self, sequence: Sequence, variable: str) -> str:
        owner = self._owner(sequence.schema, "pgSequence", "sequence")
        options = sequence_options(sequence.options, sequence.type_name)
        config = f", {object_literal(options)}" if options else ""
        return f"export const {variable} = {owner}({ts_string(sequence.name)}{config});"

    def render_view(self, view: ViewPlan) -> str:
        source = view.view
        kind = ("pgMaterializedView", "materializedView") if source.materialized else ("pgView", "view")
        owner = self._owner(source.schema, *kind)
        columns = "".join(
            f"{doc_comment(column_note(c.column), '  ')}  {property_key(c.key)}: {self.render_type(c)},\n"
            for c in view.columns
        )
        options = _view_options(source.options, source.materialized)
        body = (
            f"{owner}({ts_string(source.name)}, {{\n{columns}}}){options}.as({self.sql(source.definition)})"
        )
        return f"{doc_comment(source.comment)}export const {view.variable} = {body};"

    def render_table(self, table: TablePlan) -> str:
        comment = table.table.comment
        if table.table.partitioned:
            note = "Partitioned in Postgres: its partitions are not listed."
            comment = f"{comment}\n\n{note}" if comment else note
        owner = self._owner(table.table.schema, "pgTable", "table")
        extras_type = "PgTableExtraConfigValue" if table.table.foreign_keys else None
        rls = ".enableRLS()" if table.table.row_security else ""
        return self.table_block(table, owner, table.table.name, comment, extras_type, rls)

    def render_type(self, column: ColumnPlan) -> str:
        """The builder call that gives a column its type: `varchar("name", { length: 20 }).array()`."""
        builder = column.mapping.pg
        if builder.enum is not None:
            function = self.plan.enums[builder.enum]
        elif builder.custom is not None:
            function = self.plan.custom_types[builder.custom]
        else:
            function = self.use(builder.function)
        arrays = ".array()" * column.mapping.pg_arrays
        return self.call(function, column.column.name, column.key, builder) + arrays

    def render_column(self, table: TablePlan, column: ColumnPlan) -> str:
        source = column.column
        parts = [self.render_type(column)]
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
        kind = "Always" if identity.always else "ByDefault"
        options = sequence_options(identity.options, type_name)
        return f".generated{kind}AsIdentity({object_literal(options) if options else ''})"

    def render_default(self, column: ColumnPlan) -> str:
        default = column.default
        assert default is not None
        if default.kind == "now" and default.ts == "now()":  # the others are no `now()` to drizzle-kit
            return ".defaultNow()"
        if default.kind == "random":
            return ".defaultRandom()"
        if default.kind == "literal" and default.quoted is not None:
            return f".default({self.sql(default.quoted)})"
        if default.kind in ("literal", "array"):
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
        extras += [self.render_policy(policy) for policy in source.policies]
        return extras

    def render_policy(self, policy: Policy) -> str:
        """`pgPolicy("name", { … })` with what differs from drizzle's: permissive, for all, to public."""
        roles = [ts_string(role) for role in policy.roles]
        config = [
            ("as", '"restrictive"') if not policy.permissive else None,
            ("for", ts_string(policy.command)) if policy.command != "all" else None,
            ("to", roles[0] if len(roles) == 1 else f"[{', '.join(roles)}]")
            if policy.roles != ("public",)
            else None,
            ("using", self.sql(policy.using)) if policy.using is not None else None,
            ("withCheck", self.sql(policy.with_check)) if policy.with_check is not None else None,
        ]
        entries = [entry for entry in config if entry is not None]
        options = f", {object_literal(entries, '    ')}" if entries else ""
        return f"{self.use('pgPolicy')}({ts_string(policy.name)}{options})"

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
        return text + _undeclarable(fk.deferrable)

    def render_unique(self, table: TablePlan, unique: Unique) -> str:
        columns = ", ".join(column_ref("table", table.column(c)) for c in unique.columns)
        nulls = ".nullsNotDistinct()" if unique.nulls_not_distinct else ""
        deferrable = _undeclarable(unique.deferrable)
        return f"{self.use('unique')}({ts_string(unique.name)}).on({columns}){nulls}{deferrable}"

    def render_index(self, table: TablePlan, index: Index) -> str:
        kind = self.use("uniqueIndex" if index.unique else "index")
        parts = ", ".join(self.render_index_part(table, part) for part in index.parts)
        using = f".on({parts})" if index.method == "btree" else f".using({ts_string(index.method)}, {parts})"
        where = f".where({self.sql(index.where)})" if index.where else ""
        storage = [(camel_case(key), ts_string(value)) for key, value in index.options]
        with_ = f".with({object_literal(storage)})" if storage else ""
        missing = [f"INCLUDE ({', '.join(index.include)})"] if index.include else []
        missing += ["NULLS NOT DISTINCT"] if index.nulls_not_distinct else []
        return f"{kind}({ts_string(index.name)}){using}{with_}{where}{_undeclarable(*missing)}"

    def render_index_part(self, table: TablePlan, part: IndexPart) -> str:
        """A column with drizzle's order methods, or an expression with Postgres' words inside its `sql`.

        drizzle orders nulls last unless told otherwise, also after `.desc()`,
        where Postgres puts them first: a descending key always says which.
        An expression (a `sql` value) has no `.op()` or `.desc()`.
        """
        if part.column is None:
            suffix = f" {part.opclass}" if part.opclass else ""
            suffix += " DESC" if part.descending else ""
            if part.nulls_first != part.descending:
                suffix += " NULLS FIRST" if part.nulls_first else " NULLS LAST"
            return self.sql(part.expression + suffix)
        text = column_ref("table", table.column(part.column))
        if part.opclass:
            text += f".op({ts_string(part.opclass)})"
        if part.descending:
            text += ".desc()"
        if part.descending or part.nulls_first:
            text += ".nullsFirst()" if part.nulls_first else ".nullsLast()"
        return text

    def render_check(self, check: Check) -> str:
        return f"{self.use('check')}({ts_string(check.name)}, {self.sql(check.expression)})"

    def _owner(self, schema: str, core_function: str, method: str) -> str:
        if schema == self.plan.default_schema:
            return self.use(core_function)
        return f"{self.plan.schemas[schema]}.{method}"
