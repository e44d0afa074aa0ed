"""Golden files: the output people read, committed, compared byte for byte.

The example project's output lives where its pyproject points
(example_project/web/src/db/generated); the broad fixture's under
tests/codegen/golden. After an intended change, regenerate them with
`DRIZZLESYNC_UPDATE_GOLDEN=1 pytest tests/codegen/test_golden.py` and read the diff.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

from alembic_drizzlesync.codegen.generate import Options
from tests.support import EXAMPLE, EXAMPLE_OUTPUT

from .conftest import HERE, generate_into

UPDATE = os.environ.get("DRIZZLESYNC_UPDATE_GOLDEN") == "1"


def files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def compare(generated: Path, golden: Path) -> None:
    if UPDATE:
        shutil.rmtree(golden, ignore_errors=True)
        shutil.copytree(generated, golden)
    assert files(generated) == files(golden)


def test_example_project_output(example_copy: Path) -> None:
    command.upgrade(Config(str(example_copy / "alembic.ini")), "head")
    compare(example_copy / EXAMPLE_OUTPUT, EXAMPLE / EXAMPLE_OUTPUT)


@pytest.mark.parametrize("naming", ["camel", "preserve"])
def test_fixture_schema_output(fixture_url: str, tmp_path: Path, naming: str) -> None:
    generate_into(fixture_url, tmp_path, Options(naming=naming))
    compare(tmp_path, HERE / "golden" / naming)
