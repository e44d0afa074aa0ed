"""How our operations appear in revision scripts written by autogenerate.

One renderer serves every operation: it writes `op.<name>(<args>)` from the
operation's constructor arguments, leaving out the ones at their default, so
revision files read like something typed by hand.
"""

from __future__ import annotations

import inspect

from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext

from .. import ops

# Arguments written positionally when present; everything else is a keyword.
_POSITIONAL = ("table_name", "version", "from_version", "to_version", "query")


def render_op(autogen_context: AutogenContext, op: ops.SyncOperation) -> str:
    autogen_context.imports.add("import alembic_drizzlesync.ops  # noqa: F401  (registers op.enable_sync…)")
    signature = inspect.signature(type(op).__init__)
    args: list[str] = []
    for name, parameter in signature.parameters.items():
        if name == "self":
            continue
        value = getattr(op, name)
        if name in _POSITIONAL:
            args.append(repr(value))
        elif value != parameter.default:
            args.append(f"{name}={value!r}")
    return f"op.{op.op_name}({', '.join(args)})"


for _op_class in ops.OPERATIONS:
    renderers.dispatch_for(_op_class)(render_op)
