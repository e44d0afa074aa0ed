"""`relations.ts`: drizzle relations made from the foreign keys, for relational queries.

Each foreign key gives a `one()` on the referencing table and a `many()` on
the referenced one. Both carry the constraint's name as `relationName`, so
that two keys between the same tables, or a table referencing itself, never
leave drizzle guessing which `many()` pairs with which `one()`. The
schema is imported as `./schema.postgres.js`, which Node's own module
resolution needs and bundlers and TypeScript map to the `.ts` file.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog.model import ForeignKey
from ..templating import render
from .naming import camel_case, find_free_name, identifier, property_key, ts_string
from .plan import RESERVED_NAMES, Plan, TablePlan
from .tsmodule import HEADER, column_ref, import_statement, object_literal


@dataclass(frozen=True)
class _Relation:
    key: str
    call: str


def render_relations(plan: Plan, naming: str) -> str:
    taken = set(RESERVED_NAMES) | {t.variable for t in plan.tables}
    keys = {t.qualified_name: {c.key for c in t.columns} for t in plan.tables}
    relations: dict[str, list[_Relation]] = {t.qualified_name: [] for t in plan.tables}
    links = [
        (table, target, fk)
        for table in plan.tables
        for fk in table.table.foreign_keys
        if (target := plan.table(fk.target_schema, fk.target_table)) is not None  # else not generated
    ]
    for table, target, fk in links:  # the one()s first: they name themselves after their columns
        relations[table.qualified_name].append(_one(table, target, fk, keys[table.qualified_name], naming))
    for table, target, fk in links:
        many = f"many({table.variable}, {{ relationName: {ts_string(fk.name)} }})"
        key = find_free_name(table.variable, keys[target.qualified_name], reserved=())
        relations[target.qualified_name].append(_Relation(key, many))
    blocks = [
        _block(table, relations[table.qualified_name], find_free_name(f"{table.variable}Relations", taken))
        for table in plan.tables
        if relations[table.qualified_name]
    ]
    if not blocks:  # still a module, as every generated file is
        return render("ts/relations.ts.j2", header=HEADER, imports="", blocks=["export {};"])
    tables = {t.variable for t in plan.tables if relations[t.qualified_name]}
    imports = "\n".join(
        (import_statement({"relations"}, "drizzle-orm"), import_statement(tables, "./schema.postgres.js"))
    )
    return render("ts/relations.ts.j2", header=HEADER, imports=imports, blocks=blocks)


def _one(table: TablePlan, target: TablePlan, fk: ForeignKey, taken: set[str], naming: str) -> _Relation:
    """Named for its column without `_id` (`manager_id` → `manager`), else for the target table."""
    column = fk.columns[0]
    if len(fk.columns) == 1 and column.lower().endswith("_id") and len(column) > 3:
        base = column[:-3]
        name = identifier(camel_case(base) if naming == "camel" else base)
    else:
        name = target.variable
    fields = ", ".join(column_ref(table.variable, table.column(c)) for c in fk.columns)
    references = ", ".join(column_ref(target.variable, target.column(c)) for c in fk.target_columns)
    config = [
        ("fields", f"[{fields}]"),
        ("references", f"[{references}]"),
        ("relationName", ts_string(fk.name)),
    ]
    return _Relation(
        find_free_name(name, taken, reserved=()), f"one({target.variable}, {object_literal(config, '  ')})"
    )


def _block(table: TablePlan, relations: list[_Relation], variable: str) -> str:
    helpers = ", ".join(h for h in ("one", "many") if any(r.call.startswith(f"{h}(") for r in relations))
    body = "".join(f"  {property_key(r.key)}: {r.call},\n" for r in relations)
    return f"export const {variable} = relations({table.variable}, ({{ {helpers} }}) => ({{\n{body}}}));"
