"""The generated TypeScript compiles under `tsc --strict` with the pinned drizzle-orm.

The type-level check is generated here from the plan: for every synced
table, the select types of the two schemas must be equal once the columns
documented as lossy in type are left out, and the columns the server fills
in for a device's row (`NOT NULL` on Postgres, not on SQLite) must be the
Postgres type or null.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from alembic_drizzlesync.codegen.generate import Options
from alembic_drizzlesync.codegen.naming import ts_string
from tests.support import EXAMPLE, EXAMPLE_OUTPUT

from .conftest import fixture_plan, generate_into, tsc

TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "noEmit": True,
        "target": "ES2022",
        "module": "ESNext",
        "moduleResolution": "Bundler",
        "lib": ["ES2022", "DOM"],
        "skipLibCheck": True,
        "verbatimModuleSyntax": True,
        "noUnusedLocals": True,
        "types": [],
    },
    "include": ["**/*.ts"],
}

EQUAL = (
    "type Equal<A, B> =\n"
    "  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;\n"
)


def type_equality_module(url: str, options: Options) -> str:
    plan = fixture_plan(url, options)
    lines = ['import * as pg from "./schema.postgres";\nimport * as lite from "./schema.sqlite";\n', EQUAL]
    for table in plan.synced:
        select = "typeof {0}.{1}.$inferSelect".format
        pg, lite = select("pg", table.variable), select("lite", table.variable)
        filled = [
            c
            for c in table.columns
            if c.mapping.same_type and not c.column.nullable and not table.sqlite_not_null(c)
        ]
        left_out = [c for c in table.columns if not c.mapping.same_type] + filled
        lossy = " | ".join(ts_string(c.key) for c in left_out) or "never"
        lines.append(
            f"export const {table.variable}Equal: Equal<Omit<{pg}, {lossy}>, Omit<{lite}, {lossy}>> = true;\n"
        )
        for i, column in enumerate(filled):
            key = ts_string(column.key)
            lines.append(
                f"export const {table.variable}Filled{i}: Equal<{pg}[{key}] | null, {lite}[{key}]> = true;\n"
            )
    return "".join(lines)


def typescript_project(directory: Path, node_modules: Path) -> Path:
    (directory / "node_modules").symlink_to(node_modules)
    (directory / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    return directory


def generated_project(url: str, out: Path, node_modules: Path, options: Options) -> Path:
    """Generated files plus the type-level equality check, ready for tsc."""
    generate_into(url, out, options)
    (out / "equal-types.ts").write_text(type_equality_module(url, options))
    return typescript_project(out, node_modules)


def test_fixture_schema_compiles_with_equal_select_types(
    fixture_url: str, tmp_path: Path, node_modules: Path
) -> None:
    result = tsc(generated_project(fixture_url, tmp_path, node_modules, Options()), node_modules)
    assert result.returncode == 0, result.stdout
    assert "Filled0: Equal<" in (tmp_path / "equal-types.ts").read_text()  # the serial and identity columns


def test_preserved_names_and_string_timestamps_compile(
    fixture_url: str, tmp_path: Path, node_modules: Path
) -> None:
    options = Options(naming="preserve", timestamp_mode="string")
    project = generated_project(fixture_url, tmp_path, node_modules, options)
    result = tsc(project, node_modules)
    assert result.returncode == 0, result.stdout
    # In string mode a timestamp is the wire's string on every side: SQLite text, the runtime's text codec
    # (no Date in between), and pg-core's string mode; equal-types.ts holds the two select types equal.
    files = {
        name: (project / name).read_text()
        for name in ("schema.sqlite.ts", "sync-meta.ts", "schema.postgres.ts")
    }
    assert "    tstz: text().$defaultFn(() => new Date().toISOString())," in files["schema.sqlite.ts"]
    assert 'column: "tstz", codec: "text",' in files["sync-meta.ts"]
    assert 'codec: "timestamp"' not in files["sync-meta.ts"]
    assert 'tstz: timestamp({ withTimezone: true, mode: "string" })' in files["schema.postgres.ts"]


def test_the_example_projects_output_compiles(tmp_path: Path, node_modules: Path) -> None:
    shutil.copytree(EXAMPLE / EXAMPLE_OUTPUT, tmp_path / "generated")
    result = tsc(typescript_project(tmp_path / "generated", node_modules), node_modules)
    assert result.returncode == 0, result.stdout


def test_a_type_mismatch_fails_the_equality_check(
    fixture_url: str, tmp_path: Path, node_modules: Path
) -> None:
    """The check itself can fail: break one SQLite column type and tsc must object."""
    project = generated_project(fixture_url, tmp_path, node_modules, Options())
    sqlite = project / "schema.sqlite.ts"
    sqlite.write_text(sqlite.read_text().replace("    doc: text(),", "    doc: integer(),"))
    result = tsc(project, node_modules)
    assert result.returncode != 0
    assert "equal-types.ts" in result.stdout
    assert "schema.sqlite.ts" not in result.stdout
