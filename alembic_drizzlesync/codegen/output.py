"""Putting generated files on disk, and comparing them with what is there.

Writes are atomic (a temporary file renamed over the old one) and skipped
when the content is unchanged, so a dev server watching the directory only
reloads for a real change. Files DrizzleSync wrote before and no longer
generates are removed: step files of versions no longer in the history
(after a downgrade), and every file when there is nothing to generate (an
Alembic project downgraded below its registry). Other files in the output
directory are left alone.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from pathlib import Path

from .tsmodule import HEADER

STEP_DIRECTORY = "client-migrations"
"""Where the client migration steps and their history live, inside the output directory."""


def _is_generated_module(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as handle:
        return handle.readline().rstrip("\n") == HEADER.splitlines()[0]


def _owned(out: Path) -> list[Path]:
    """The files in `out` that DrizzleSync writes: its modules (by their header) and the step directory."""
    modules = [p for p in out.glob("*.ts") if _is_generated_module(p)]
    directory = out / STEP_DIRECTORY
    steps = [*directory.glob("*.sql"), directory / "history.json"]
    return sorted([*modules, *(p for p in steps if p.is_file())])


def _stale(out: Path, files: dict[str, str]) -> list[Path]:
    return [p for p in _owned(out) if p.relative_to(out).as_posix() not in files]


def _file_mode() -> int:
    """The mode `open()` would give a new file: `mkstemp` makes its files 0600 whatever the umask.

    Reading the umask means setting it; it is put back at once.
    """
    umask = os.umask(0o077)
    os.umask(umask)
    return 0o666 & ~umask


def write_files(out: Path, files: dict[str, str]) -> list[str]:
    """Write what changed; returns the relative paths written or removed."""
    changed = []
    mode = _file_mode()
    for relative, content in sorted(files.items()):
        target = out / relative
        if target.exists() and target.read_text(encoding="utf-8") == content:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                os.fchmod(handle.fileno(), mode)
                handle.write(content)
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
        changed.append(relative)
    for path in _stale(out, files):
        path.unlink()
        changed.append(path.relative_to(out).as_posix())
    steps = out / STEP_DIRECTORY
    if not files and steps.is_dir() and not any(steps.iterdir()):
        steps.rmdir()
    return changed


def diff_files(out: Path, files: dict[str, str]) -> str:
    """A unified diff from the files on disk to the ones just generated ('' when up to date)."""
    chunks: list[str] = []
    for relative, content in sorted(files.items()):
        target = out / relative
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != content:
            chunks += difflib.unified_diff(
                current.splitlines(keepends=True),
                content.splitlines(keepends=True),
                f"a/{relative}",
                f"b/{relative}",
            )
    for path in _stale(out, files):
        chunks.append(f"stale file: {path.relative_to(out)}\n")
    return "".join(chunks)
