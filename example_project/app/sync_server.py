"""The example app's sync endpoints, mounted under /sync of a Starlette app.

Run it with `uvicorn app.sync_server:app` from example_project/ (DATABASE_URL
set). It trusts `Authorization: Bearer <user id>` like `drizzlesync serve`:
replace `bearer_user_for_development` with your real session or JWT check.
A FastAPI app mounts it the same way: `api.mount("/sync", sync_app(pool))`,
with `lifespan=pool_lifespan(pool)` given to `FastAPI(...)`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from alembic_drizzlesync.config import load_config
from alembic_drizzlesync.localdb import libpq_url
from alembic_drizzlesync.sync import AsyncSyncProcessor
from alembic_drizzlesync.sync.asgi import bearer_user_for_development, create_app, pool_lifespan

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def sync_app(pool: AsyncConnectionPool[Any]) -> ASGIApp:
    processor = AsyncSyncProcessor.from_config(pool, load_config(PYPROJECT))
    return create_app(processor, bearer_user_for_development, cors_origins=["http://localhost:5173"])


def build(database_url: str) -> Starlette:
    # Requests run in the event loop on the pool's connections, at most 10 at once; the
    # outer app opens and closes the pool (a mounted app's own lifespan is not run). Each
    # request's query is its own BEGIN ... COMMIT and is never prepared.
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        libpq_url(database_url),
        max_size=10,
        kwargs={"autocommit": True, "prepare_threshold": None},
        open=False,
    )
    return Starlette(routes=[Mount("/sync", app=sync_app(pool))], lifespan=pool_lifespan(pool))


app = build(os.environ["DATABASE_URL"]) if "DATABASE_URL" in os.environ else None
