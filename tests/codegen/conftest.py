"""Fixtures of the codegen tests: the broad fixture schema, generated output, pinned Node tools."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from alembic_drizzlesync.catalog import list_schemas, read_catalog
from alembic_drizzlesync.codegen.generate import Options, generate
from alembic_drizzlesync.codegen.output import write_files
from alembic_drizzlesync.codegen.plan import Plan, build_plan
from alembic_drizzlesync.localdb import libpq_url

HERE = Path(__file__).parent
NODE_DIR = HERE.parent / "node"
ROOT = HERE.parents[1]
FIXTURE_SQL = HERE / "fixture.sql"


@pytest.fixture
def fixture_url(db_url: str) -> str:
    """A database holding the broad fixture schema, DrizzleSync not installed."""
    with psycopg.connect(libpq_url(db_url), autocommit=True) as conn:
        conn.execute(FIXTURE_SQL.read_text(encoding="utf-8"))
    return db_url


def generate_into(url: str, out: Path, options: Options | None = None) -> dict[str, str]:
    with psycopg.connect(libpq_url(url)) as conn:
        files = generate(conn, out, options or Options())
    write_files(out, files)
    return files


def fixture_plan(url: str, options: Options | None = None) -> Plan:
    """The plan `generate` makes of a database without DrizzleSync: every table synced."""
    options = options or Options()
    with psycopg.connect(libpq_url(url)) as conn:
        catalog = read_catalog(conn, list_schemas(conn))
    return build_plan(catalog, {t.key: None for t in catalog.tables}, options.naming, options.timestamp_mode)


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The npm workspace's node_modules: the pinned drizzle-orm, typescript and sql.js, and
    `drizzlesync` linked to runtime/, built once per session (generated files import its types)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("Node.js and npm are needed to check the generated TypeScript")
    modules = ROOT / "node_modules"
    if not (modules / ".package-lock.json").exists():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert installed.returncode == 0, f"npm ci in {ROOT} failed:\n{installed.stderr}"
    build = [npm, "run", "build", "--workspace", "drizzlesync"]
    built = subprocess.run(build, cwd=ROOT, capture_output=True, text=True, check=False)
    assert built.returncode == 0, f"building runtime/ failed:\n{built.stdout}{built.stderr}"
    return modules


def run_script(directory: Path, script: str, node_modules: Path, *args: str, **env: str) -> dict[str, Any]:
    """Compile tests/node/<script>.ts into `directory` (next to generated code) and run it with Node.

    The script prints one JSON report on stdout, which is returned.
    """
    shutil.copy(NODE_DIR / f"{script}.ts", directory)
    (directory / "node_modules").symlink_to(node_modules)
    (directory / "package.json").write_text('{"type": "module"}')
    options = {"strict": True, "target": "ES2022", "module": "NodeNext", "lib": ["ES2022", "DOM"]}
    config = {
        "compilerOptions": {**options, "skipLibCheck": True, "outDir": "dist"},
        "files": [f"{script}.ts"],
    }
    (directory / "tsconfig.json").write_text(json.dumps(config))
    compiled = tsc(directory, node_modules)
    assert compiled.returncode == 0, compiled.stdout
    run = subprocess.run(
        ["node", f"dist/{script}.js", *args],
        cwd=directory,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    return report


def tsc(project: Path, node_modules: Path) -> subprocess.CompletedProcess[str]:
    """Run the pinned tsc on `project` (a directory with a tsconfig.json)."""
    return subprocess.run(
        ["node", str(node_modules / "typescript" / "bin" / "tsc"), "-p", str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
