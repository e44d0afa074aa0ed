"""The sync processor: push and pull served from the SQL functions the migrations install.

`SyncProcessor` is framework-agnostic; `asgi.create_app` (the `server`
extra) wraps it in a Starlette app.
"""

from .errors import SyncError
from .processor import Identity, Response, SyncProcessor
from .protocol import Limits

__all__ = ["Identity", "Limits", "Response", "SyncError", "SyncProcessor"]
