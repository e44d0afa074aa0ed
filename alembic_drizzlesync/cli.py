"""The `drizzlesync` command: a thin dispatcher over the subcommands each part defines."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from .codegen import cli as codegen_cli
from .sync import cli as sync_cli

COMMAND_MODULES = (codegen_cli, sync_cli)
"""Each module adds its subcommands with `add_commands(subparsers)`; each
subcommand sets a `handler(args) -> int` default."""


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="drizzlesync: %(message)s")
    parser = argparse.ArgumentParser(prog="drizzlesync", description=__doc__)
    subparsers = parser.add_subparsers(required=True, metavar="command")
    for module in COMMAND_MODULES:
        module.add_commands(subparsers)
    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
