"""Every file DrizzleSync writes is rendered from one Jinja tree, the project's top-level `templates/`.

An installed wheel carries that tree as `alembic_drizzlesync/templates/`
(the build maps the top-level folder there); a source checkout, editable
install or not, reads the top-level folder itself, so nothing links the two.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import jinja2


def template_root() -> Path:
    """The `templates/` folder: packaged beside the code when installed, else the checkout's own."""
    packaged = Path(str(resources.files(__package__ or "alembic_drizzlesync"))) / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


@cache
def environment() -> jinja2.Environment:
    """One environment per process; tests that swap the tree clear this cache."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_root()),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(name: str, **context: object) -> str:
    return environment().get_template(name).render(**context)
