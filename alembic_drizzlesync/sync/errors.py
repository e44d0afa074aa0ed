"""The one error type of the sync layer, shaped like the JSON a client receives."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class SyncError(Exception):
    """A request that cannot be served: `{"error": {"code", "message", "path"?, ...}}` with `status`.

    Everything a client may act on travels in the body (`code` to branch on,
    `path` to the bad field, extras such as the supported schema versions),
    so that hosts only copy it to the wire.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        path: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.path = path
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.path is not None:
            error["path"] = self.path
        error.update(self.extra)
        return {"error": error}
