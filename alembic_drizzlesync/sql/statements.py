"""Cutting a SQL script into statements.

Scripts are split rather than sent whole because a driver may run them
with the extended query protocol, which takes one statement at a time; and in
`--sql` mode Alembic then terminates each one, giving a script psql can apply.
"""

from __future__ import annotations


def split_statements(script: str) -> list[str]:
    """Cut a script at top-level semicolons, keeping `$tag$ … $tag$` bodies whole.

    Comment-only lines are dropped; our scripts keep their comments for people
    reading the templates, and the database does not need them.
    """
    statements: list[str] = []
    current: list[str] = []
    quote: str | None = None
    for line in script.splitlines():
        stripped = line.strip()
        if quote is None and (not stripped or stripped.startswith("--")):
            continue
        current.append(line)
        for token in _dollar_tags(line):
            quote = None if quote == token else (quote or token)
        if quote is None and stripped.endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        statements.append("\n".join(current).rstrip().rstrip(";"))
    return statements


def _dollar_tags(line: str) -> list[str]:
    tags: list[str] = []
    start = line.find("$")
    while start != -1:
        end = line.find("$", start + 1)
        if end == -1:
            break
        tag = line[start : end + 1]
        if tag == "$$" or tag[1:-1].isidentifier():
            tags.append(tag)
            start = line.find("$", end + 1)
        else:
            start = end
    return tags
