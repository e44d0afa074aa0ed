"""Configuration: what is selected, and errors that name the key at fault."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text

from alembic_drizzlesync.config import ConfigError, TableRule, find_pyproject, load_config, parse_config
from alembic_drizzlesync.plugin.state import desired_tables


def test_names_globs_and_excludes_select_tables() -> None:
    config = parse_config({"include": ["todos", "app.*"], "exclude": ["app.audit_*"]})
    assert config.wants("public", "todos")
    assert config.wants("app", "projects")
    assert not config.wants("app", "audit_log")
    assert not config.wants("public", "users")
    assert not config.wants("other", "todos")


def test_per_table_settings_win_over_globs() -> None:
    config = parse_config(
        {"include": ["*"], "tables": {"secrets": {"sync": False}, "todos": {"scope": "'t:' || team"}}}
    )
    assert not config.wants("public", "secrets")
    assert config.rule_for("public", "todos") == TableRule(scope="'t:' || team")


def test_table_info_refines_the_pyproject_rule() -> None:
    config = parse_config({"include": ["todos"], "tables": {"todos": {"scope": "'a:' || a"}}})
    assert config.refined_by("public", "todos", {}) == TableRule(scope="'a:' || a")
    assert config.refined_by("public", "todos", {"drizzlesync": False}) is None
    assert config.refined_by("public", "notes", {"drizzlesync": True}) == TableRule()
    assert config.refined_by("public", "notes", {"drizzlesync": {"scope": "'b:' || b"}}) == TableRule(
        scope="'b:' || b"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"inclde": ["todos"]}, r"^tool\.drizzlesync\.inclde: unknown key"),
        ({"include": ["todos", "a.b.c"]}, r"^tool\.drizzlesync\.include\[1\]: 'a\.b\.c' is not a table name"),
        ({"include": ["tod[os"]}, r"^tool\.drizzlesync\.include\[0\]: 'tod\[os' has an unbalanced"),
        ({"include": "todos", "exclude": [3]}, r"^tool\.drizzlesync\.exclude\[0\]: expected a string"),
        ({"tables": {"todos": {"scoep": "x"}}}, r'^tool\.drizzlesync\.tables\."todos"\.scoep: unknown key'),
        ({"tables": {"app.*": {"scope": "x"}}}, r'^tool\.drizzlesync\.tables\."app\.\*": per-table settings'),
        ({"tables": {"todos": {"sync": "yes"}}}, r'^tool\.drizzlesync\.tables\."todos"\.sync: expected true'),
        ({"tables": {"todos": {"scope": "1; drop"}}}, r'\.tables\."todos"\.scope: a scope rule is one SQL'),
        ({"naming": "snake"}, r"^tool\.drizzlesync\.naming: expected one of camel, preserve"),
        ({"schema": "Drizzle Sync"}, r"^tool\.drizzlesync\.schema: 'Drizzle Sync' must be a lower-case"),
        ({"schemas": "public"}, r"^tool\.drizzlesync\.schemas: expected a list of schema names"),
        ({"schemas": ["public", ""]}, r"^tool\.drizzlesync\.schemas\[1\]: expected a non-empty string"),
        (
            {"schemas": ["drizzlesync"]},
            r"^tool\.drizzlesync\.schemas\[0\]: 'drizzlesync' is the library's own",
        ),
    ],
)
def test_bad_config_names_the_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_an_unquoted_schema_qualified_table_name_is_an_error_saying_to_quote_it() -> None:
    """`[tool.drizzlesync.tables.public.todos]`, as one writes a TOML header, is table `todos`
    inside a table `public`: the error was `tables."public".todos: unknown key (known keys: scope,
    sync)`, which does not say that the name wants quotes."""
    raw = tomllib.loads("[tool.drizzlesync.tables.public.todos]\nscope = \"'t:' || team_id\"\n")
    with pytest.raises(ConfigError) as error:
        parse_config(raw["tool"]["drizzlesync"])
    assert str(error.value) == (
        'tool.drizzlesync.tables."public".todos: TOML reads [tool.drizzlesync.tables.public.todos] '
        "as table 'todos' inside 'public'; quote a schema-qualified name: "
        '[tool.drizzlesync.tables."public.todos"]'
    )
    quoted = tomllib.loads('[tool.drizzlesync.tables."public.todos"]\nscope = "x"\n')
    assert parse_config(quoted["tool"]["drizzlesync"]).rule_for("public", "todos") == TableRule(scope="x")


def test_bad_table_info_names_the_table() -> None:
    config = parse_config({})
    with pytest.raises(ConfigError, match=r'Table\.info\["drizzlesync"\] of public\.todos: expected a bool'):
        config.refined_by("public", "todos", {"drizzlesync": "yes"})


def test_synced_table_without_primary_key_is_an_error_naming_it() -> None:
    metadata = MetaData()
    Table("events", metadata, Column("at", Integer), Column("what", Text), schema="app")
    with pytest.raises(ConfigError, match=r"^table app\.events: selected for sync but has no primary key"):
        desired_tables(metadata, parse_config({"include": ["app.*"]}), "public")


def test_load_config_resolves_output_and_reports_missing_section(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.drizzlesync]\ninclude = ["todos"]\noutput = "web/gen"\n')
    assert load_config(pyproject).output == tmp_path / "web/gen"
    pyproject.write_text('[project]\nname = "x"\n')
    with pytest.raises(ConfigError, match=r"no \[tool\.drizzlesync\] section"):
        load_config(pyproject)
    pyproject.write_text("[tool.drizzlesync\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(pyproject)


def test_per_table_settings_for_a_table_the_models_lack_are_an_error_naming_it() -> None:
    metadata = MetaData()
    Table("notes", metadata, Column("id", Integer, primary_key=True))
    config = parse_config({"include": ["notes"], "tables": {"public.note": {"scope": "'a:' || id"}}})
    with pytest.raises(
        ConfigError, match=r'^tool\.drizzlesync\.tables\."public\.note": no such table .*public\.notes'
    ):
        desired_tables(metadata, config, "public")


def test_the_nearest_pyproject_with_settings_is_found_past_one_without(tmp_path: Path) -> None:
    """A package's own pyproject.toml inside a repository whose settings sit at its root: every
    command stopped at it and reported no settings, though the docs promise the nearest one with
    a `[tool.drizzlesync]`."""
    (tmp_path / "pyproject.toml").write_text('[tool.drizzlesync]\noutput = "gen"\n')
    package = tmp_path / "packages" / "api"
    package.mkdir(parents=True)
    (package / "pyproject.toml").write_text('[project]\nname = "api"\n')
    assert find_pyproject(package) == tmp_path / "pyproject.toml"
    assert load_config(tmp_path / "pyproject.toml").output == tmp_path / "gen"
    (package / "pyproject.toml").write_text("[project\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        find_pyproject(package)
