"""A config mistake in an `alembic` command is one line naming the key, not a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def alembic(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `alembic` command line, run in the project."""
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args], cwd=project, capture_output=True, text=True, check=False
    )


def drizzlesync(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `drizzlesync` command line, run in the project."""
    return subprocess.run(
        [sys.executable, "-m", "alembic_drizzlesync.cli", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )


def one_line(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode != 0
    lines = (run.stdout + run.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("command", [("upgrade", "head"), ("check",)])
def test_a_bad_key_in_pyproject(example_copy: Path, command: tuple[str, ...]) -> None:
    pyproject = example_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("output =", "outptu ="))
    assert one_line(alembic(example_copy, *command)).startswith(
        "FAILED: DrizzleSync: tool.drizzlesync.outptu: unknown key"
    )


def test_settings_for_a_table_the_models_lack(example_copy: Path) -> None:
    assert alembic(example_copy, "upgrade", "head").returncode == 0
    pyproject = example_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('tables."public.todos"', 'tables."public.todo"'))
    assert one_line(alembic(example_copy, "check")) == (
        'FAILED: DrizzleSync: tool.drizzlesync.tables."public.todo": no such table in the models; '
        "did you mean 'public.todos'?"
    )


def test_a_config_error_found_while_generating(example_copy: Path) -> None:
    pyproject = example_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("include =", 'schemas = ["auth"]\ninclude ='))
    line = one_line(alembic(example_copy, "upgrade", "head"))
    assert line.startswith("FAILED: DrizzleSync: the migration was committed, but writing ")
    assert line.endswith(
        "tool.drizzlesync.schemas: schema 'public' of synced table public.memberships is not read; "
        "add it to the schemas to generate. Fix the cause and run `drizzlesync generate`."
    )


def test_schemas_given_by_flag_are_named_as_the_flag(example_copy: Path) -> None:
    """`drizzlesync generate --schemas` leaving out a synced table names the flag, not the pyproject key."""
    assert alembic(example_copy, "upgrade", "head").returncode == 0
    run = drizzlesync(example_copy, "generate", "--schemas", "auth")
    assert run.returncode == 2
    assert one_line(run) == (
        "drizzlesync generate: --schemas: schema 'public' of synced table public.memberships is not read; "
        "add it to the schemas to generate"
    )
