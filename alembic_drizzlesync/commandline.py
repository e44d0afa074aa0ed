"""What every `drizzlesync` subcommand shares: the database and pyproject flags, and how config is found.

One definition, so that `generate`, `check`, `serve` and `compact` take the
same flag names and treat a missing or bad `[tool.drizzlesync]` the same
way: a `ConfigError` naming the key, which `cli.main` prints as one line
on stderr and exits 2 with.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path

from .config import ConfigError, SyncConfig, find_pyproject, load_config

CONFIG_EXIT_STATUS = 2


def add_project_options(parser: argparse.ArgumentParser) -> None:
    """`--database-url` (`--url` still works, unlisted) and `--pyproject`."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="the Postgres URL (default: $DATABASE_URL)",
    )
    parser.add_argument("--url", dest="database_url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.add_argument(
        "--pyproject",
        type=Path,
        default=None,
        help="the pyproject.toml with [tool.drizzlesync] (default: the nearest, from here upwards)",
    )


def database_url(args: argparse.Namespace) -> str:
    if not args.database_url:
        raise ConfigError("--database-url: not given and DATABASE_URL is not set; pass the Postgres URL")
    return str(args.database_url)


def project_config(args: argparse.Namespace) -> SyncConfig | None:
    """`--pyproject`'s config, else the nearest pyproject's `[tool.drizzlesync]`, else None.

    A pyproject found by searching that has no `[tool.drizzlesync]` counts as
    none; one named by `--pyproject` must have it. Errors say which file.
    """
    path = args.pyproject or find_pyproject(Path.cwd())
    if path is None or (args.pyproject is None and not _has_section(path)):
        return None
    try:
        return load_config(path)
    except ConfigError as error:
        message = str(error)
        raise ConfigError(message if str(path) in message else f"{message} (in {path})") from None


def required_project_config(args: argparse.Namespace) -> SyncConfig:
    config = project_config(args)
    if config is None:
        raise ConfigError(
            f"no [tool.drizzlesync] found in a pyproject.toml at or above {Path.cwd()}; "
            "pass --pyproject path/to/pyproject.toml"
        )
    return config


def _has_section(path: Path) -> bool:
    """Does the file have `[tool.drizzlesync]`? Unreadable TOML says yes: `load_config` then says why."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError:
        return True
    return "drizzlesync" in data.get("tool", {})
