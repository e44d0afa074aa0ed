"""schema.postgres.ts says what the database holds, whatever the shape of its schemas."""

from __future__ import annotations

from pathlib import Path

import psycopg

from alembic_drizzlesync.localdb import libpq_url
from alembic_drizzlesync.sql import LIBRARY_VERSION, install_script
from tests.support import execute

from .conftest import generate_into


def test_schemas_of_views_or_sequences_only(fixture_url: str, tmp_path: Path) -> None:
    postgres = generate_into(fixture_url, tmp_path)["schema.postgres.ts"]
    assert 'export const reportsSchema = pgSchema("reports");' in postgres
    assert 'export const reportsTextMoods = reportsSchema.view("text_moods", {' in postgres
    assert 'export const countersSchema = pgSchema("counters");' in postgres
    assert 'export const countersTickets = countersSchema.sequence("tickets");' in postgres


def test_virtual_generated_columns_are_generated_columns(pg18_url: str, tmp_path: Path) -> None:
    """Postgres 18 keeps a virtual column's expression where a default would be; it is no default."""
    execute(
        pg18_url,
        "CREATE TABLE boxes (id integer PRIMARY KEY, w integer, area integer GENERATED ALWAYS AS (w * w))",
    )
    files = generate_into(pg18_url, tmp_path)
    assert "area: integer().generatedAlwaysAs(sql`(w * w)`)," in files["schema.postgres.ts"]
    assert "Virtual" in files["schema.postgres.ts"]
    assert (
        '{ name: "area", key: "area", column: "area", codec: "int", nullable: true, pushed: false }'
        in (files["sync-meta.ts"])
    )


def test_a_domain_is_a_custom_type_of_its_own_that_keeps_its_checks(fixture_url: str, tmp_path: Path) -> None:
    """drizzle-kit compares types by name: a domain column must say its domain, not its base type."""
    postgres = generate_into(fixture_url, tmp_path)["schema.postgres.ts"]
    assert (
        "const positiveInt = customType<{ data: number; driverData: number | string }>({\n"
        '  dataType: () => "positive_int",\n'
        "  fromDriver: (value) => Number(value),\n"
    ) in postgres
    assert "    pos: positiveInt(),\n" in postgres
    assert "    positives: positiveInt().array(),\n" in postgres
    assert "const tags = customType<{ data: string[]; driverData: string[] | string }>({\n" in postgres
    assert "    tagged: tags(),\n" in postgres
    assert "positive_int_check" not in postgres and "code_check" not in postgres


def test_defaults_keep_the_function_postgres_has(fixture_url: str, tmp_path: Path) -> None:
    """`defaultNow()` is `now()`; a `CURRENT_TIMESTAMP` default stays one, made on the client alike."""
    files = generate_into(fixture_url, tmp_path)
    assert (
        'createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),'
        in (files["schema.postgres.ts"])
    )
    assert (
        'tstz: timestamp({ withTimezone: true, mode: "date" }).default(sql`CURRENT_TIMESTAMP`),'
        in (files["schema.postgres.ts"])
    )
    assert (
        'tstz: integer({ mode: "timestamp_ms" }).$defaultFn(() => new Date()),' in files["schema.sqlite.ts"]
    )


def test_nulls_not_distinct_and_included_columns(fixture_url: str, tmp_path: Path) -> None:
    """A unique constraint says NULLS NOT DISTINCT; what drizzle cannot declare on an index is noted."""
    postgres = generate_into(fixture_url, tmp_path)["schema.postgres.ts"]
    assert 'unique("orgs_owner_key").on(table.ownerMembership).nullsNotDistinct(),' in postgres
    assert (
        'uniqueIndex("orgs_slug_covering_idx").on(table.slug) '
        "/* INCLUDE (name, id): drizzle-orm cannot declare it */,"
    ) in postgres
    assert (
        'uniqueIndex("orgs_name_idx").on(table.name) /* NULLS NOT DISTINCT: drizzle-orm cannot declare it */,'
    ) in postgres


def test_relations_follow_the_foreign_keys(fixture_url: str, tmp_path: Path) -> None:
    """relations.ts: one() on the referencing table, many() on the referenced one, named by the key."""
    relations = generate_into(fixture_url, tmp_path)["relations.ts"]
    assert 'import { relations } from "drizzle-orm";' in relations
    tables = ["authUsers", "compositeRefs", "labelled", "labelRefs", "memberships", "orgs", "users"]
    imports = "import {\n" + "".join(f"  {name},\n" for name in tables) + '} from "./schema.postgres.js";'
    assert imports in relations
    assert (
        "export const usersRelations = relations(users, ({ one, many }) => ({\n"
        "  auth: one(authUsers, {\n"
        "    fields: [users.authId],\n"
        "    references: [authUsers.id],\n"
        '    relationName: "users_auth_id_fkey",\n'
        "  }),\n"
        "  manager: one(users, {\n"
        "    fields: [users.managerId],\n"
        "    references: [users.id],\n"
        '    relationName: "users_manager_id_fkey",\n'
        "  }),\n"
        '  memberships: many(memberships, { relationName: "memberships_user_id_fkey" }),\n'
        '  users: many(users, { relationName: "users_manager_id_fkey" }),\n'
        "}));\n"
    ) in relations
    assert "export const authUsersRelations = relations(authUsers, ({ many }) => ({\n" in relations


def test_row_level_security_and_policies(fixture_url: str, tmp_path: Path) -> None:
    """Left out, they are what `drizzle-kit push` would disable and drop."""
    postgres = generate_into(fixture_url, tmp_path)["schema.postgres.ts"]
    assert '    pgPolicy("orgs_by_slug", { for: "select", using: sql`(slug <> \'\'::text)` }),\n' in postgres
    assert (
        '    pgPolicy("orgs_admin", {\n'
        '      as: "restrictive",\n'
        '      for: "update",\n'
        '      to: "postgres",\n'
        "      using: sql`true`,\n"
        "      withCheck: sql`(length(name) > 0)`,\n"
        "    }),\n"
    ) in postgres
    assert "  ],\n).enableRLS();\n" in postgres


def test_index_storage_parameters_and_view_options(fixture_url: str, tmp_path: Path) -> None:
    postgres = generate_into(fixture_url, tmp_path)["schema.postgres.ts"]
    assert 'index("numbers_big_idx").on(table.big).with({ fillfactor: "70" }),' in postgres
    assert '}).with({ securityInvoker: true, checkOption: "cascaded" }).as(sql`SELECT texts.id,' in postgres


def test_a_domain_over_an_enum_named_like_a_built_in_type(db_url: str, tmp_path: Path) -> None:
    execute(
        db_url,
        "CREATE TYPE public.int4 AS ENUM ('x', 'y')",
        "CREATE DOMAIN letter AS public.int4",
        "CREATE TABLE t (id integer PRIMARY KEY, v letter)",
    )
    postgres = generate_into(db_url, tmp_path)["schema.postgres.ts"]
    assert (
        'const letter = customType<{ data: "x" | "y"; driverData: "x" | "y" }>({\n'
        '  dataType: () => "letter",\n'
        "});"
    ) in postgres


def test_an_enum_no_column_uses(fixture_url: str, tmp_path: Path) -> None:
    postgres = generate_into(fixture_url, tmp_path)["schema.postgres.ts"]
    assert 'export const authUnusedStateEnum = authSchema.enum("unused_state", ["on", "off"]);' in postgres


def test_storage_parameters_of_a_materialized_view(db_url: str, tmp_path: Path) -> None:
    execute(
        db_url,
        "CREATE TABLE t (id integer PRIMARY KEY)",
        "CREATE MATERIALIZED VIEW mv WITH (fillfactor = 80, autovacuum_enabled = false,"
        " toast.autovacuum_enabled = false) AS SELECT id FROM t",
    )
    postgres = generate_into(db_url, tmp_path)["schema.postgres.ts"]
    assert "}).with({ fillfactor: 80, autovacuumEnabled: false }).as(sql`SELECT t.id" in postgres


def test_deferrable_constraints_are_noted(fixture_url: str, tmp_path: Path) -> None:
    """drizzle-orm cannot declare DEFERRABLE; a reader of the schema must still learn of it."""
    postgres = generate_into(fixture_url, tmp_path)["schema.postgres.ts"]
    assert "}) /* DEFERRABLE INITIALLY DEFERRED: drizzle-orm cannot declare it */,\n" in postgres


def test_defaults_in_the_form_drizzle_kit_reads_back(db_url: str, tmp_path: Path) -> None:
    """drizzle-kit compares defaults as text: a number Postgres quotes stays quoted, and an array
    literal is a TypeScript array only where drizzle-kit reads its elements back unchanged."""
    execute(
        db_url,
        "CREATE TYPE mood AS ENUM ('ok', 'so so')",
        """CREATE TABLE d (
            id integer PRIMARY KEY,
            neg integer DEFAULT -1, pos integer DEFAULT 7, huge bigint DEFAULT 9007199254740993,
            ratio double precision DEFAULT -0.5, price numeric DEFAULT -2,
            ints integer[] DEFAULT '{1,-2}', floats real[] DEFAULT '{1.5,2}', flags boolean[] DEFAULT '{f}',
            moods mood[] DEFAULT '{ok}', quoted mood[] DEFAULT '{ok,"so so"}',
            nulls text[] DEFAULT '{a,NULL}', none text[] DEFAULT '{}', grid integer[][] DEFAULT '{{1}}',
            hugs bigint[] DEFAULT '{9007199254740993}', floaty double precision[] DEFAULT '{1e+20}'
        )""",
    )
    postgres = generate_into(db_url, tmp_path)["schema.postgres.ts"]
    expected = [
        "neg: integer().default(sql`'-1'`),",
        "pos: integer().default(7),",
        "huge: bigint({ mode: \"number\" }).default(sql`'9007199254740993'`),",
        "ratio: doublePrecision().default(sql`'-0.5'`),",
        'price: numeric().default("-2"),',
        "ints: integer().array().default([1, -2]),",
        "floats: real().array().default([1.5, 2]),",
        "flags: boolean().array().default([false]),",
        'moods: moodEnum().array().default(["ok"]),',
        "quoted: moodEnum().array().default(sql`'{ok,\"so so\"}'::mood[]`),",
        "nulls: text().array().default(sql`'{a,NULL}'::text[]`),",
        "none: text().array().default([]),",
        "grid: integer().array().array().default(sql`'{{1}}'::integer[]`),",
        "hugs: bigint({ mode: \"number\" }).array().default(sql`'{9007199254740993}'::bigint[]`),",
        "floaty: doublePrecision().array().default(sql`'{1e+20}'::double precision[]`),",
    ]
    assert [line for line in expected if line not in postgres] == []
    sqlite = (tmp_path / "schema.sqlite.ts").read_text()
    assert "neg: integer().default(-1)," in sqlite  # a literal on the client all the same


def test_index_order_as_drizzle_reads_it(fixture_url: str, tmp_path: Path) -> None:
    """drizzle's `.desc()` puts nulls last, Postgres' DESC first; an expression key says it in its SQL."""
    postgres = generate_into(fixture_url, tmp_path)["schema.postgres.ts"]
    assert 'index("orgs_name_slug_idx").on(table.name, table.slug.desc().nullsFirst()),' in postgres
    assert (
        'index("orgs_lower_slug_idx")'
        ".on(sql`lower(slug) text_pattern_ops DESC NULLS LAST`, table.id.nullsFirst()),"
    ) in postgres


def test_the_scope_index_drizzlesync_keeps_is_left_out(db_url: str, tmp_path: Path) -> None:
    """A scoped table's `(scope key, key)` index is the library's, like its triggers: declaring it would
    hand it to drizzle-kit under a name that depends on DrizzleSync's registry."""
    with psycopg.connect(libpq_url(db_url), autocommit=True) as db:
        db.execute("CREATE TABLE notes (id integer PRIMARY KEY, team text NOT NULL)")
        db.execute("CREATE INDEX notes_team_idx ON notes (team)")
        for statement in install_script(LIBRARY_VERSION, "drizzlesync"):
            db.execute(statement)
        db.execute("SELECT drizzlesync.enable_sync('public', 'notes', 'team')")
        kept = db.execute(
            "SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'drizzlesync_scope_%'"
        ).fetchone()
        assert kept == (1,)
    postgres = generate_into(db_url, tmp_path)["schema.postgres.ts"]
    assert 'index("notes_team_idx").on(table.team)' in postgres
    assert "drizzlesync_scope" not in postgres
