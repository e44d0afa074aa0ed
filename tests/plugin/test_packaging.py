"""The built wheel works on its own: templates inside it, no source checkout on the path.

The example's revision 0001 was written before the plugin moved into
`alembic_drizzlesync.plugin`; it imports `alembic_drizzlesync.ops` and uses
`op.install_drizzlesync` and `op.enable_sync`, so this also proves that
existing revision files and the `alembic.plugins` entry point keep working.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import venv
from pathlib import Path

from tests.support import EXAMPLE_OUTPUT

ROOT = Path(__file__).resolve().parents[2]
NOT_PACKAGED = (
    ".*",
    "build",
    "*.egg-info",
    "__pycache__",
    "node_modules",
    "tests",
    "bench",
    "example_project",
)


def test_a_non_editable_install_migrates_the_example_and_writes_its_files(
    example_copy: Path, tmp_path: Path
) -> None:
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    # Built from a copy: setuptools leaves build/ behind, and a stale one in the
    # checkout could smuggle removed modules into the wheel.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_PACKAGED))
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    clean_env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    located = subprocess.run(
        [python, "-c", "import alembic_drizzlesync.templating as t; print(t.template_root())"],
        cwd=tmp_path,
        env=clean_env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert Path(located).is_relative_to(environment), located

    upgrade = subprocess.run(
        [environment / "bin" / "alembic", "upgrade", "head"],
        cwd=example_copy,
        env=clean_env,
        capture_output=True,
        text=True,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    written = sorted(p.name for p in (example_copy / EXAMPLE_OUTPUT).iterdir())
    assert {"schema.postgres.ts", "schema.sqlite.ts", "sync-meta.ts", "client-migrations.ts"} <= set(written)
