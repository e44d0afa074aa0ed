"""The example app's sync endpoints, mounted under /sync of a Starlette app.

Run it with `uvicorn app.sync_server:app` from example_project/ (DATABASE_URL
set). It trusts `Authorization: Bearer <user id>` like `drizzlesync serve`:
replace `bearer_user_for_development` with your real session or JWT check.
A FastAPI app mounts it the same way: `api.mount("/sync", sync_app(engine))`.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.routing import Mount

from alembic_drizzlesync.config import load_config
from alembic_drizzlesync.localdb import sqlalchemy_url
from alembic_drizzlesync.sync import SyncProcessor
from alembic_drizzlesync.sync.asgi import bearer_user_for_development, create_app

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def sync_app(engine: Engine) -> Starlette:
    processor = SyncProcessor.from_config(engine, load_config(PYPROJECT))
    return create_app(processor, bearer_user_for_development, cors_origins=["http://localhost:5173"])


def build(database_url: str) -> Starlette:
    # One connection per request Starlette runs at once (40), none opened beyond: see docs/sync.md.
    engine = create_engine(sqlalchemy_url(database_url), pool_size=40, max_overflow=0)
    return Starlette(routes=[Mount("/sync", app=sync_app(engine))])


app = build(os.environ["DATABASE_URL"]) if "DATABASE_URL" in os.environ else None
