"""The `drizzlesync` command, a list of feature modules that each add their subcommands.

A module in COMMAND_MODULES exposes `register(subparsers)` and gives each of
its subparsers a `handler(args) -> int` default; features add commands
without touching each other's code.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

COMMAND_MODULES = ("alembic_drizzlesync.sync.cli",)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drizzlesync")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
