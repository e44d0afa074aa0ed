"""`drizzlesync generate` and `check` from flags alone, on a database without DrizzleSync."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from alembic_drizzlesync.cli import main
from alembic_drizzlesync.localdb import libpq_url


@pytest.fixture(autouse=True)
def no_pyproject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run where no pyproject.toml is in reach: flags alone must do."""
    monkeypatch.chdir(tmp_path)


def run(command: str, url: str, out: Path, *flags: str) -> int:
    return main([command, "--database-url", url, "--out", str(out), *flags])


def snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_generate_from_flags_alone(
    fixture_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "gen"
    assert run("generate", fixture_url, out) == 0
    assert "public.audit_log has no primary key" in caplog.text
    assert "export const auditLog = pgTable(" in (out / "schema.postgres.ts").read_text()
    assert "auditLog" not in (out / "schema.sqlite.ts").read_text()
    assert "export const schemaVersion = 1;" in (out / "sync-meta.ts").read_text()


def test_schemas_and_table_globs_narrow_the_output(fixture_url: str, tmp_path: Path) -> None:
    out = tmp_path / "gen"
    run("generate", fixture_url, out, "--schemas", "auth,public", "--tables", "auth.*", "orgs")
    postgres = (out / "schema.postgres.ts").read_text()
    assert "export const authUsers = authSchema.table(" in postgres
    assert "export const orgs = pgTable(" in postgres
    assert "export const numbers" not in postgres and "Sales Data" not in postgres
    run("generate", fixture_url, out, "--schemas", "public", "--tables", "texts")
    postgres = (out / "schema.postgres.ts").read_text()
    assert 'export const authSchema = pgSchema("auth");' in postgres  # for the enum of texts.r
    assert "r: authRoleEnum()," in postgres and "export const authUsers" not in postgres


def test_generation_is_deterministic_and_idempotent(fixture_url: str, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    run("generate", fixture_url, first)
    run("generate", fixture_url, second)
    assert snapshot(first) == snapshot(second)
    mtimes = {p: p.stat().st_mtime_ns for p in first.rglob("*") if p.is_file()}
    run("generate", fixture_url, first)
    assert {p: p.stat().st_mtime_ns for p in first.rglob("*") if p.is_file()} == mtimes


def test_check_fails_with_a_diff_when_stale(
    fixture_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gen"
    run("generate", fixture_url, out)
    assert run("check", fixture_url, out) == 0
    capsys.readouterr()
    with psycopg.connect(libpq_url(fixture_url), autocommit=True) as conn:
        conn.execute("ALTER TABLE orgs ADD COLUMN motto text")
    assert run("check", fixture_url, out) == 1
    captured = capsys.readouterr()
    assert "+    motto: text()," in captured.out
    assert "--- a/schema.postgres.ts" in captured.out
    assert "out of date" in captured.err


def test_the_console_script_agrees_across_processes(fixture_url: str, tmp_path: Path) -> None:
    """Another interpreter, another hash seed: `check` finds the files up to date, byte for byte."""
    out = tmp_path / "gen"
    run("generate", fixture_url, out)

    def check(target: Path) -> subprocess.CompletedProcess[str]:
        script = Path(sys.executable).parent / "drizzlesync"
        return subprocess.run(
            [
                str(script),
                "check",
                "--url",
                fixture_url,
                "--out",
                str(target),
            ],  # the old flag name still works
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "12345"},
            check=False,
        )

    assert check(out).returncode == 0
    stale = check(tmp_path / "missing")
    assert stale.returncode == 1
    assert "+++ b/sync-meta.ts" in stale.stdout
    assert "drizzlesync: public.audit_log has no primary key" in stale.stderr


def test_url_is_a_hidden_alias(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    out = capsys.readouterr().out
    assert (
        "--database-url" in out and "--pyproject" in out and "--url" not in out.replace("--database-url", "")
    )


@pytest.mark.parametrize("command", ["generate", "check", "serve", "compact"])
def test_a_bad_config_is_one_line_and_exit_2_in_every_command(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.drizzlesync]\nnaming = "kebab"\n')
    assert main([command, "--database-url", "postgresql://127.0.0.1:9/x"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"drizzlesync {command}: tool.drizzlesync.naming: expected one of camel, preserve, got 'kebab' "
        f"(in {pyproject})\n"
    )


def test_a_bad_config_named_by_flag_is_not_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject = tmp_path / "elsewhere.toml"
    pyproject.write_text("[tool.drizzlesync]\nincludes = []\n")
    args = [
        "--database-url",
        "postgresql://127.0.0.1:9/x",
        "--pyproject",
        str(pyproject),
        "--out",
        str(tmp_path),
    ]
    assert main(["generate", *args]) == 2
    assert "tool.drizzlesync.includes: unknown key" in capsys.readouterr().err
