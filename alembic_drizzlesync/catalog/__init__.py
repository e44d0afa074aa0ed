"""Introspection of a live Postgres into a neutral model (see `model`)."""

from .model import Catalog, Column, PgType, SyncedTable, Table
from .reader import list_schemas, read_catalog
from .registry import Registry, read_registry

__all__ = [
    "Catalog",
    "Column",
    "PgType",
    "Registry",
    "SyncedTable",
    "Table",
    "list_schemas",
    "read_catalog",
    "read_registry",
]
