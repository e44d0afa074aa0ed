"""`drizzle-kit push` with the generated Postgres schema, against the database it came from.

The schema must round-trip: drizzle-kit may propose nothing but what its
own limitations make it propose, each listed below with the reason. It
runs on a copy of the broad fixture schema, on Postgres 15 and 18 (where
the fixture has a virtual generated column), and with `--strict`, which prints the statements
and then asks before running them: with no terminal to answer, nothing runs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from alembic_drizzlesync.catalog import list_schemas
from alembic_drizzlesync.localdb import libpq_url
from tests.support import execute

from .conftest import FIXTURE_SQL, generate_into

KIT_DIR = Path(__file__).resolve().parents[2] / "bench" / "node"
"""Where drizzle-kit is pinned (with the drizzle-orm it reads the schema with), for bench/codegen.py too."""

CRASHES_DRIZZLE_KIT = [
    # drizzle-kit keeps tables and columns in plain objects keyed by name: `__proto__` breaks them.
    'ALTER TABLE "class" DROP COLUMN "__proto__"',
    'DROP TABLE "__proto__"',
    # It would ask whether the partition is the renamed parent, and wait for an answer.
    "DROP TABLE events_2024",
]

LIMITATIONS = {
    # It reads no partitioned table (pg_class.relkind 'p'), so it would create each again.
    "partitioned table": r'CREATE TABLE "events" \(.*\);',
    # It splits an array default's text on commas: `ARRAY[…]` comes out garbled, and the empty array of
    # a text-like or enum type as `'{""}'`. Literals of bare elements (`'{1,2}'`) round-trip.
    "array default": r'ALTER TABLE ("texts" ALTER COLUMN "moods" SET DEFAULT \'\{\}\'|'
    r'"arrays" ALTER COLUMN "texts" SET DEFAULT ARRAY\[\'a\'::text, \'b\'::text\]);',
    # A `sql` index key has no operator class nor order; it reads them from the database all the same.
    "expression index key with an opclass or order": r'(DROP INDEX "orgs_lower_slug_idx"|'
    r'CREATE INDEX "orgs_lower_slug_idx" ON "orgs" USING btree '
    r'\(lower\(slug\) text_pattern_ops DESC NULLS LAST,"id" NULLS FIRST\));',
    # It reads a domain over a non-built-in type (citext) as that type: information_schema's udt_name.
    "domain over an extension type": r'ALTER TABLE "(auth"\."users|texts)" ALTER COLUMN "(email|e)" '
    r'SET DATA TYPE "undefined"\."email";',
    # It quotes the type `"char"` once more, and sees an enum in it.
    'the "char" type': r'ALTER TABLE "texts" ALTER COLUMN "c1" SET DATA TYPE "undefined"\.""char"";',
    # It reads every unique constraint as NULLS DISTINCT, so it re-creates one that is not.
    "unique NULLS NOT DISTINCT": r'ALTER TABLE "orgs" (DROP CONSTRAINT "orgs_owner_key"|'
    r'ADD CONSTRAINT "orgs_owner_key" UNIQUE NULLS NOT DISTINCT\("owner_membership"\));',
    # drizzle-orm cannot declare INCLUDE columns, so drizzle-kit re-creates the index without them.
    "index INCLUDE": r'(DROP INDEX "orgs_slug_covering_idx"|'
    r'CREATE UNIQUE INDEX "orgs_slug_covering_idx" ON "orgs" USING btree \("slug"\));',
    # Postgres 18 records NOT NULL as named constraints, which drizzle-kit 0.31 reads as checks to drop.
    "Postgres 18 NOT NULL constraint": r'ALTER TABLE "[^"]+"(\."[^"]+")? DROP CONSTRAINT "[^"]+_not_null";',
    # It reads a composite key's columns in no set order (information_schema.constraint_column_usage):
    # on Postgres 18 memberships' come back reversed, and it drops and re-adds the key unchanged.
    "composite primary key order": r'ALTER TABLE "memberships" (DROP CONSTRAINT "memberships_pkey"|'
    r'ADD CONSTRAINT "memberships_pkey" PRIMARY KEY\("org_id","user_id"\));',
    # An array of an enum outside public: it reads the array's element type without its schema.
    "enum array outside public": r'ALTER TABLE "arrays" ALTER COLUMN "roles" '
    r'SET DATA TYPE "auth"\."role"\[\] USING "roles"::"auth"\."role"\[\];',
}

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="session")
def drizzle_kit() -> Path:
    """drizzle-kit's command line, installed with `npm ci` on first use."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("Node.js and npm are needed to run drizzle-kit")
    binary = KIT_DIR / "node_modules" / "drizzle-kit" / "bin.cjs"
    if not binary.exists():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=KIT_DIR, capture_output=True, text=True, check=False
        )
        assert installed.returncode == 0, f"npm ci in {KIT_DIR} failed:\n{installed.stderr}"
    return binary


def proposals(drizzle_kit: Path, url: str, directory: Path) -> list[str]:
    """The statements `drizzle-kit push --strict` proposes for the schema generated into `directory`."""
    with psycopg.connect(libpq_url(url)) as conn:
        schemas = list_schemas(conn)
    config = {
        "dialect": "postgresql",
        "schema": "./schema.postgres.ts",
        "dbCredentials": {"url": libpq_url(url)},
        "schemaFilter": schemas,
    }
    (directory / "drizzle.config.json").write_text(json.dumps(config))
    (directory / "node_modules").symlink_to(KIT_DIR / "node_modules")
    push = subprocess.run(
        ["node", str(drizzle_kit), "push", "--strict", "--verbose", "--config", "drizzle.config.json"],
        cwd=directory,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = _ANSI.sub("", push.stdout + push.stderr)
    if "No changes detected" in output:
        return []
    start = output.find("You are about to execute current statements:")
    assert start >= 0, output
    listed = output[start:].split("\n", 1)[1].split("❯")[0].replace("--> statement-breakpoint\n", "")
    return [f"{s.strip()};" for s in listed.split(";\n") if s.strip()]


@pytest.mark.parametrize("server", ["db_url", "pg18_url"])
def test_drizzle_kit_push_proposes_nothing_of_ours(
    server: str, drizzle_kit: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue(server)
    execute(url, FIXTURE_SQL.read_text(encoding="utf-8"), *CRASHES_DRIZZLE_KIT)  # on 18: a virtual column
    generate_into(url, tmp_path)
    unexplained = [
        statement
        for statement in proposals(drizzle_kit, url, tmp_path)
        if not any(re.fullmatch(pattern, statement, re.DOTALL) for pattern in LIMITATIONS.values())
    ]
    assert unexplained == [], "\n".join(unexplained)
