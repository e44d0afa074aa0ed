"""An index created or dropped on a synced, scoped table, as autogenerate writes it.

Since library version 13 a table whose own index on (scope column, primary
key) serves its scope rule has no scope index, so the scope index must
follow the table's indexes. Autogenerate wraps each `CreateIndexOp` and
`DropIndexOp` of such a table in an `IndexChangeOp`, which renders as the
index operation followed by `op.refresh_sync_scope_index(...)`. Its
reverse wraps the reversed index operation, so the downgrade refreshes
after the index is undone, not before, as a separate operation placed
after the index one would (autogenerate reverses the list).
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import render, renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations import MigrateOperation, Operations
from alembic.operations import ops as alembic_ops

from ..ops import RefreshScopeIndexOp

IndexOp = alembic_ops.CreateIndexOp | alembic_ops.DropIndexOp


class IndexChangeOp(MigrateOperation):
    """`index_op`, then the refresh of its table's scope index."""

    def __init__(self, index_op: IndexOp, library_schema: str) -> None:
        self.index_op = index_op
        self.library_schema = library_schema

    @property
    def refresh(self) -> RefreshScopeIndexOp:
        table_name = self.index_op.table_name
        assert table_name is not None  # wrap_index_changes wraps the ops of named tables only
        return RefreshScopeIndexOp(table_name, self.index_op.schema, self.library_schema)

    def reverse(self) -> IndexChangeOp:
        return IndexChangeOp(self.index_op.reverse(), self.library_schema)

    def to_diff_tuple(self) -> Any:
        """What `alembic check` reports: the index change itself."""
        return self.index_op.to_diff_tuple()


@Operations.implementation_for(IndexChangeOp)
def run_index_change(operations: Operations, operation: IndexChangeOp) -> None:
    operations.invoke(operation.index_op)
    operations.invoke(operation.refresh)


@renderers.dispatch_for(IndexChangeOp)
def render_index_change(autogen_context: AutogenContext, operation: IndexChangeOp) -> list[str]:
    return [
        *render.render_op(autogen_context, operation.index_op),
        *render.render_op(autogen_context, operation.refresh),
    ]


def wrap_index_changes(ddl: list[Any], tables: set[tuple[str | None, str]], library_schema: str) -> None:
    """Wrap the index operations of `tables` ((schema, name) as the operations name them) in place,
    at the top level of the revision and inside its `ModifyTableOps`."""

    def wrapped(op: Any) -> Any:
        if isinstance(op, IndexOp) and (op.schema, op.table_name) in tables:
            return IndexChangeOp(op, library_schema)
        return op

    for position, op in enumerate(ddl):
        if isinstance(op, alembic_ops.ModifyTableOps):
            op.ops = [wrapped(inner) for inner in op.ops]
        else:
            ddl[position] = wrapped(op)
