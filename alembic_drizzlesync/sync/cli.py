"""`drizzlesync serve` (the sync endpoints for local development) and `drizzlesync compact`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from ..config import SyncConfig, find_pyproject, load_config
from ..localdb import sqlalchemy_url

DEFAULT_RETENTION = "30 days"


def add_commands(subparsers: Any) -> None:
    """Add this module's subcommands to the `drizzlesync` parser."""
    serve = subparsers.add_parser(
        "serve",
        help="serve /push and /pull for local development (trusts 'Authorization: Bearer <user id>')",
    )
    _database_options(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8787)
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        help="an origin allowed to call the endpoints (repeatable)",
    )
    serve.add_argument("--max-body-bytes", type=int, default=4 * 1024 * 1024)
    serve.set_defaults(handler=serve_command)

    compact = subparsers.add_parser(
        "compact",
        help="delete change-log entries every live cursor has passed; safe while clients sync",
    )
    _database_options(compact)
    compact.add_argument(
        "--retention",
        default=DEFAULT_RETENTION,
        help=f"forget cursors unused for this long, resetting their clients (default: {DEFAULT_RETENTION})",
    )
    compact.add_argument("--batch-size", type=int, default=50_000)
    compact.set_defaults(handler=compact_command)


def _database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL"), help="default: $DATABASE_URL"
    )
    parser.add_argument(
        "--pyproject",
        type=Path,
        default=None,
        help="the pyproject.toml with [tool.drizzlesync] (default: nearest)",
    )


def _config(args: argparse.Namespace) -> SyncConfig:
    path = args.pyproject or find_pyproject(Path.cwd())
    return load_config(path) if path is not None else SyncConfig()


def _database_url(args: argparse.Namespace) -> str:
    if not args.database_url:
        raise SystemExit("drizzlesync: set --database-url or DATABASE_URL")
    return str(sqlalchemy_url(args.database_url).render_as_string(hide_password=False))


def serve_command(args: argparse.Namespace) -> int:
    import uvicorn

    from .asgi import bearer_user_for_development, create_app
    from .processor import SyncProcessor
    from .protocol import Limits

    engine = create_engine(_database_url(args), pool_pre_ping=True)
    processor = SyncProcessor.from_config(engine, _config(args), Limits(max_body_bytes=args.max_body_bytes))
    app = create_app(processor, bearer_user_for_development, cors_origins=args.cors_origin)
    uvicorn.run(app, host=args.host, port=args.port)
    return 0


def compact_command(args: argparse.Namespace) -> int:
    """Compact in batches, each its own short transaction, until nothing is left to delete."""
    schema = _config(args).library_schema
    engine = create_engine(_database_url(args))
    expired = deleted = 0
    try:
        while True:
            with engine.begin() as connection:
                row = connection.execute(
                    text(f"SELECT * FROM {schema}.compact(CAST(:retention AS interval), :batch)"),
                    {"retention": args.retention, "batch": args.batch_size},
                ).one()
            expired += row.expired_cursors
            deleted += row.deleted_changes
            if row.deleted_changes < args.batch_size:
                break
    finally:
        engine.dispose()
    print(f"compacted: {deleted} change-log entries deleted, {expired} expired cursors forgotten")
    return 0
