"""The sync processor: push and pull served from the SQL functions the migrations install.

`SyncProcessor` (blocking, on a SQLAlchemy engine) and `AsyncSyncProcessor`
(asyncio, on a psycopg_pool pool) are framework-agnostic; `asgi.create_app`
(the `server` extra) wraps either in an ASGI app.
"""

from .async_processor import AsyncSyncProcessor
from .errors import SyncError
from .processor import Identity, Response, SyncProcessor
from .protocol import Limits

__all__ = ["AsyncSyncProcessor", "Identity", "Limits", "Response", "SyncError", "SyncProcessor"]
