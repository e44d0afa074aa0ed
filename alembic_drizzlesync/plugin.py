"""The `alembic.plugins` entry point.

Alembic imports this while it is still importing itself, so the comparator
module (which needs all of Alembic) is loaded only when autogenerate runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alembic.util import DispatchPriority

if TYPE_CHECKING:
    from alembic.runtime.plugins import Plugin
    from alembic.util import PriorityDispatchResult


def compare_sync_state(*args: Any) -> PriorityDispatchResult:
    from .compare import compare_sync_state as compare

    return compare(*args)


def setup(plugin: Plugin) -> None:
    plugin.add_autogenerate_comparator(
        compare_sync_state, "schema", "drizzlesync", priority=DispatchPriority.LAST
    )
