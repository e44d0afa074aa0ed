"""Alembic environment of the example app; DrizzleSync is the `with_drizzlesync` line."""

import os

from alembic import context
from sqlalchemy import create_engine, pool

from alembic_drizzlesync import with_drizzlesync
from alembic_drizzlesync.localdb import sqlalchemy_url
from app.models import Base


def database_url() -> str:
    url = os.environ.get("DATABASE_URL") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set DATABASE_URL, e.g. postgresql://postgres@127.0.0.1:5432/app")
    return sqlalchemy_url(url).render_as_string(hide_password=False)


def run_migrations_offline() -> None:
    context.configure(
        **with_drizzlesync(
            url=database_url(),
            target_metadata=Base.metadata,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
        )
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(**with_drizzlesync(connection=connection, target_metadata=Base.metadata))
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
