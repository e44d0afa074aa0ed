"""docs/sync.md's error tables, rendered from `protocol/errors.json`.

`python -m tests.sync.errortable` rewrites the part of docs/sync.md between
the markers below; `test_error_codes` fails while the doc says otherwise.
"""

from __future__ import annotations

from pathlib import Path

from alembic_drizzlesync.sync.contract import contract

DOC = Path(__file__).resolve().parents[2] / "docs" / "sync.md"
BEGIN = "<!-- error table: generated from protocol/errors.json by `python -m tests.sync.errortable` -->"
END = "<!-- end of error table -->"


def render() -> str:
    data = contract()
    lines = ["| status | code | meaning |", "|---|---|---|"]
    for row in data["errors"]:
        extra = f" Also: {', '.join(f'`{name}`' for name in row['extra'])}." if row.get("extra") else ""
        lines.append(f"| {row['status']} | `{row['code']}` | {row['description']}{extra} |")
    lines += ["", "Rejections (in a 200 push response, per mutation):", "", "| code | meaning |", "|---|---|"]
    lines += [f"| `{row['code']}` | {row['description']} |" for row in data["rejections"]]
    return "\n".join(lines)


def section(text: str) -> str:
    """What the doc holds between the markers."""
    start = text.index(BEGIN) + len(BEGIN)
    return text[start : text.index(END)].strip()


def rewrite() -> None:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(BEGIN) + len(BEGIN)
    DOC.write_text(f"{text[:start]}\n{render()}\n{text[text.index(END) :]}", encoding="utf-8")


if __name__ == "__main__":
    rewrite()
