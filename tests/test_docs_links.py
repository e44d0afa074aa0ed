"""The project's references to its own documentation lead somewhere.

Every relative Markdown link's file exists, and its `#anchor` names a heading
of that file as GitHub renders it; and every prose reference of the form
`docs/<file>.md, "<section>"`, in any of the project's files (code comments and SQL
templates cite the measurements behind them that way), names the start of a
heading or of a bold paragraph lead of that file. A heading renamed or moved
to another file breaks either silently.
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from functools import cache
from pathlib import Path

import pytest

from tests.support import ROOT

LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
BOLD_LEAD = re.compile(r"^\*\*([^*]+)\*\*")
# `docs/sync.md, "Host concurrency"`, the quote possibly broken over comment lines.
PROSE_REFERENCE = re.compile(r'docs/([a-z-]+\.md),? \(?"([^"]+)"')
CONTINUATION = re.compile(r"\n\s*(?:#|//|--|\*|>)?\s*")
FENCE = re.compile(r"^\s*(```|~~~)")


def project_files() -> list[Path]:
    """The files git tracks or would track (new ones too, ignored ones not)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def markdown_files() -> list[Path]:
    return [path for path in project_files() if path.suffix == ".md"]


def prose_lines(path: Path) -> list[str]:
    """The file's lines outside fenced code blocks, where `#` starts no heading and links are text."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its text without Markdown marks, lowercased, every character
    but letters, digits, marks, `_`, `-` and spaces dropped, and spaces made hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text stays, its target goes
    text = text.replace("`", "").replace("*", "").lower()
    kept = (c for c in text if c in " -_" or unicodedata.category(c)[0] in "LMN")
    return "".join(kept).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every heading's anchor; a repeated heading's later anchors end in -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(path):
        match = HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def broken_links(path: Path) -> list[str]:
    broken = []
    for line in prose_lines(path):
        for target in LINK.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...: not ours to check
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                broken.append(f"{target}: no file {linked.relative_to(ROOT)}")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(ROOT)}")
    return broken


@cache
def section_titles(path: Path) -> tuple[str, ...]:
    """Headings and bold paragraph leads (`**The pool's size (2026-12-03).**`), without backticks:
    read once a file, as a file's references are many."""
    titles = []
    for line in prose_lines(path):
        match = HEADING.match(line) or BOLD_LEAD.match(line)
        if match is not None:
            titles.append(match.group(match.lastindex or 0).replace("`", ""))
    return tuple(titles)


def broken_prose_references(text: str) -> list[str]:
    broken = []
    for match in PROSE_REFERENCE.finditer(CONTINUATION.sub(" ", text)):
        name, title = match.group(1), match.group(2).replace("`", "")
        doc = ROOT / "docs" / name
        if not doc.exists():
            broken.append(f"docs/{name}: no such file")
        elif not any(heading.startswith(title) for heading in section_titles(doc)):
            broken.append(f'docs/{name}, "{title}": no such section')
    return broken


def text_files() -> list[Path]:
    suffixes = {".py", ".ts", ".js", ".mjs", ".j2", ".md", ".sql", ".toml", ".sh"}
    return [path for path in project_files() if path.suffix in suffixes]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading(path: Path) -> None:
    assert broken_links(path) == []


def test_every_prose_reference_names_a_section() -> None:
    broken = {
        str(path.relative_to(ROOT)): problems
        for path in text_files()
        if path != Path(__file__).resolve()  # its own examples below are broken on purpose
        and (problems := broken_prose_references(path.read_text(encoding="utf-8", errors="replace")))
    }
    assert broken == {}


def test_the_checker_finds_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    """The check itself: GitHub's anchors of awkward headings, and links that lead nowhere."""
    assert slug("What a pull page costs, part by part (library version 17)") == (
        "what-a-pull-page-costs-part-by-part-library-version-17"
    )
    assert slug("`drizzlesync serve`") == "drizzlesync-serve"
    assert slug("Capture in library version 9: one entry per scope, the hash as a column") == (
        "capture-in-library-version-9-one-entry-per-scope-the-hash-as-a-column"
    )
    page = ROOT / "docs" / "sync.md"
    assert "mounting-the-app" in anchors(page)
    assert broken_links(page) == []
    probe = ROOT / "docs" / f"links-probe-{tmp_path.name}.md"
    probe.write_text(
        "# Probe\n\n## Probe\n\n[fine](#probe-1) [fine](sync.md#mounting-the-app)\n"
        "[gone](nowhere.md) [gone](sync.md#no-such-section) [gone](#probe-2)\n"
        "```\n[in code](nowhere-either.md)\n```\n",
        encoding="utf-8",
    )
    try:
        assert [problem.partition(":")[0] for problem in broken_links(probe)] == [
            "nowhere.md",
            "sync.md#no-such-section",
            "#probe-2",
        ]
    finally:
        probe.unlink()
    comment = '# as measured (docs/performance.md, "Host\n# concurrency"; docs/sync.md, "Host concurrency")'
    assert broken_prose_references(comment) == ['docs/sync.md, "Host concurrency": no such section']
    assert broken_prose_references('docs/gone.md, "Anything"') == ["docs/gone.md: no such file"]
    assert broken_prose_references('docs/performance.md, "The pool\'s size"') == []  # a bold lead
