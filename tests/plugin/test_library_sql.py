"""The library's SQL scripts as rendered from the templates.

A released version's install script is never edited (a database installed
with it is moved on by upgrade scripts instead), so how its templates are cut
into files must not change a byte of what they render.
"""

from __future__ import annotations

from pathlib import Path

from alembic_drizzlesync.templating import render

GOLDEN = Path(__file__).parent / "golden"


def test_the_version_1_install_script_renders_byte_for_byte_as_released() -> None:
    released = (GOLDEN / "install-v1.sql").read_bytes()
    assert render("sql/v1/install.sql.j2", schema="drizzlesync").encode() == released
