"""The `drizzlesync` command: a thin dispatcher over the subcommands each part defines."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import psycopg
import sqlalchemy.exc

from .codegen import cli as codegen_cli
from .commandline import CONFIG_EXIT_STATUS, DATABASE_EXIT_STATUS
from .config import ConfigError
from .sync import cli as sync_cli

COMMAND_MODULES = (codegen_cli, sync_cli)
"""Each module adds its subcommands with `add_commands(subparsers)`; each
subcommand sets a `handler(args) -> int` default. A `ConfigError` from any of
them (a bad `[tool.drizzlesync]`, a missing flag) is one line on stderr and
exit status 2, a database that cannot be reached, or that refuses the role something the
command reads, one line and exit status 1; never a traceback."""


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="drizzlesync: %(message)s")
    parser = argparse.ArgumentParser(prog="drizzlesync", description=__doc__)
    subparsers = parser.add_subparsers(required=True, metavar="command", dest="command")
    for module in COMMAND_MODULES:
        module.add_commands(subparsers)
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except ConfigError as error:
        print(f"drizzlesync {args.command}: {error}", file=sys.stderr)
        return CONFIG_EXIT_STATUS
    except (psycopg.OperationalError, sqlalchemy.exc.OperationalError) as error:
        cause = " ".join(str(getattr(error, "orig", None) or error).split())
        print(f"drizzlesync {args.command}: cannot reach the database: {cause}", file=sys.stderr)
        return DATABASE_EXIT_STATUS
    except psycopg.errors.InsufficientPrivilege as error:
        print(
            f"drizzlesync {args.command}: the database role lacks a privilege: {error.diag.message_primary} "
            '(docs/sync.md, "drizzlesync serve", lists the grants)',
            file=sys.stderr,
        )
        return DATABASE_EXIT_STATUS
    return result


if __name__ == "__main__":
    raise SystemExit(main())
