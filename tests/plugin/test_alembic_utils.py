"""Autogenerate beside alembic_utils, which compares the functions, views and triggers it is given
with every one of their kind in the database, and proposes dropping those it was not given, unless
`include_name` hides them. Once a project registered any trigger (its own `updated_at` touch, say),
its next revision dropped DrizzleSync's capture triggers from every synced table, and with
`include_schemas=True` every function of the library schema too: applied, the upgrade left the
tables synced but capturing nothing, and devices never heard of a server-side write again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plugin.test_command_errors import alembic

ENTITIES = """
from alembic_utils.pg_function import PGFunction
from alembic_utils.pg_trigger import PGTrigger
from alembic_utils.pg_view import PGView
from alembic_utils.replaceable_entity import register_entities

register_entities([
    PGFunction(schema="public", signature="touch_todo()", definition=(
        "RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$"
    )),
    PGView(schema="public", signature="open_todos", definition=(
        "SELECT id, title FROM public.todos WHERE NOT done"
    )),
    PGTrigger(schema="public", signature="todos_touch", on_entity="public.todos", definition=(
        "BEFORE UPDATE ON public.todos FOR EACH ROW EXECUTE FUNCTION public.touch_todo()"
    )),
])
"""


@pytest.mark.parametrize("include_schemas", [False, True])
def test_autogenerate_beside_alembic_utils_leaves_the_librarys_objects_alone(
    example_copy: Path, include_schemas: bool
) -> None:
    assert alembic(example_copy, "upgrade", "head").returncode == 0
    env = example_copy / "migrations" / "env.py"
    source = env.read_text().replace(
        "from app.models import Base\n", f"from app.models import Base\n{ENTITIES}"
    )
    if include_schemas:
        source = source.replace(
            "target_metadata=Base.metadata)", "target_metadata=Base.metadata, include_schemas=True)"
        )
    env.write_text(source)

    run = alembic(example_copy, "revision", "--autogenerate", "-m", "entities", "--rev-id", "entities")
    assert run.returncode == 0, run.stderr

    upgrade = (example_copy / "migrations" / "versions" / "entities_entities.py").read_text()
    created = [line.strip() for line in upgrade.splitlines() if "_entity(" in line]
    assert created == [
        "op.create_entity(public_touch_todo)",
        "op.create_entity(public_open_todos)",
        "op.create_entity(public_todos_todos_touch)",
        "op.drop_entity(public_todos_todos_touch)",
        "op.drop_entity(public_open_todos)",
        "op.drop_entity(public_touch_todo)",
    ]
