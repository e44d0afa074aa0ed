"""The one error type of the sync layer, shaped like the JSON a client receives.

Errors the host raises are built here, from the codes and statuses of the
protocol contract (`protocol/errors.json`), so that a code cannot drift from
its status and every 401, 413 and 415 reads the same wherever it is raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .contract import contract, error_codes


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

    @classmethod
    def of(cls, code: str, message: str, path: str | None = None, **extra: Any) -> SyncError:
        """An error of the contract, answered with the status the contract gives its code."""
        return cls(error_codes()[code].status, code, message, path, extra)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.path is not None:
            error["path"] = self.path
        error.update(self.extra)
        return {"error": error}


def unauthenticated(code: str = "unauthenticated", message: str = "sign in to sync") -> SyncError:
    """401: no identity; `code` says why when a token was checked (`token_expired`, ...)."""
    return SyncError.of(code, message)


def request_too_large(limit: int) -> SyncError:
    return SyncError.of("request_too_large", f"the request body exceeds {limit} bytes", maxBytes=limit)


def batch_too_large(limit: int) -> SyncError:
    return SyncError.of(
        "batch_too_large", f"at most {limit} mutations per push", "mutations", maxMutations=limit
    )


def unsupported_media_type(content_type: str) -> SyncError:
    """415: only JSON bodies are read, so a cross-site "simple" (form or text/plain) POST never is."""
    shown = content_type[:100] or "none"
    return SyncError.of("unsupported_media_type", f"Content-Type must be application/json (got {shown})")


def unsupported_content_encoding(encoding: str) -> SyncError:
    """415 (RFC 9110): a compressed body read as JSON would be refused as malformed, which hides the
    cause; neither host decodes one (a client that compresses must be told, not half-read)."""
    message = f"Content-Encoding must be identity (got {encoding[:100]}): send the body as is"
    return SyncError.of("unsupported_media_type", message)


def server_misconfigured() -> SyncError:
    """503: the database lacks a table, function or right the sync functions name; retried meanwhile."""
    return SyncError.of("server_misconfigured", contract()["sqlstates"]["misconfigured"]["message"])


def temporarily_unavailable(message: str = "the database is busy or unreachable; retry") -> SyncError:
    return SyncError.of("temporarily_unavailable", message)
