"""`drizzlesync generate` and `drizzlesync check`.

Both work from flags alone, so that a team can try DrizzleSync on an
existing database before it has an Alembic project; with a pyproject's
`[tool.drizzlesync]` in reach, its naming and output settings are used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import psycopg

from ..commandline import add_project_options, database_url, project_config
from ..config import ConfigError
from ..localdb import libpq_url
from .generate import Options, generate
from .output import diff_files, write_files


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, handler, summary in (
        ("generate", run_generate, "write the Drizzle schemas, sync metadata and client migrations"),
        ("check", run_check, "exit 1 with a diff when the generated files are out of date"),
    ):
        parser = subparsers.add_parser(name, help=summary, description=summary)
        add_project_options(parser)
        parser.add_argument("--out", type=Path, help="output directory (default: [tool.drizzlesync] output)")
        parser.add_argument("--schemas", help="comma-separated schemas (default: all but the library's)")
        parser.add_argument(
            "--tables", nargs="+", default=[], metavar="GLOB", help="tables such as app.* or todos"
        )
        parser.add_argument(
            "--naming", choices=("camel", "preserve"), help="TypeScript keys (default: camel)"
        )
        parser.add_argument(
            "--timestamp-mode", choices=("date", "string"), help="timestamps as Date or string"
        )
        parser.set_defaults(handler=handler)


def _options(args: argparse.Namespace) -> tuple[Path, Options]:
    """Flags first; the project's `[tool.drizzlesync]` (`--pyproject`, else the nearest) fills in the rest."""
    config = project_config(args)
    out = args.out or (config.output if config else None)
    if out is None:
        raise ConfigError(
            "--out: not given and no [tool.drizzlesync] output found; pass the output directory"
        )
    overrides: dict[str, Any] = {"tables": tuple(args.tables)}
    if args.schemas:
        overrides["schemas"] = tuple(s.strip() for s in args.schemas.split(","))
        overrides["schemas_key"] = "--schemas"
    if args.naming:
        overrides["naming"] = args.naming
    if args.timestamp_mode:
        overrides["timestamp_mode"] = args.timestamp_mode
    return out, Options.from_config(config, **overrides) if config else Options(**overrides)


def _files(args: argparse.Namespace) -> tuple[Path, dict[str, str]]:
    out, options = _options(args)
    url = database_url(args)
    with psycopg.connect(libpq_url(url)) as conn:
        return out, generate(conn, out, options)


def run_generate(args: argparse.Namespace) -> int:
    out, files = _files(args)
    changed = write_files(out, files)
    print(f"drizzlesync: {len(changed)} of {len(files)} files changed in {out}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    out, files = _files(args)
    diff = diff_files(out, files)
    if diff:
        sys.stdout.write(diff)
        print(
            f"drizzlesync: generated files in {out} are out of date; run `drizzlesync generate`",
            file=sys.stderr,
        )
        return 1
    return 0
