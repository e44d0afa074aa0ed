"""Config errors as an `alembic` command reports its own failures: one line, no traceback.

Alembic's command line prints a `CommandError` as `FAILED: <message>` and
exits non-zero; anything else is a traceback of 40 lines or more around the
one line that says which key to fix. `alembic --raiseerr` still shows the
traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic.util import CommandError

from ..config import ConfigError


class AlembicConfigError(ConfigError, CommandError):
    """Still a `ConfigError` to code that catches one; a `CommandError` to Alembic."""


@contextmanager
def reported_as_command_error() -> Iterator[None]:
    """Re-raise a `ConfigError` from the block as an `AlembicConfigError`."""
    try:
        yield
    except AlembicConfigError:
        raise
    except ConfigError as exc:
        raise AlembicConfigError(f"DrizzleSync: {exc}") from exc
