"""JSON too deep for Python's parser, read without recursion, so that it is answered as the Worker host
answers it.

`json` gives up some 900 levels down (its recursion limit) where JavaScript's
`JSON.parse` reads on, and the Worker host then checks the value in document
order. So a text `json` could not read is checked here in full: one that is
not JSON at all is malformed, wherever it breaks; one that is JSON is cut at
its first array or object past `max_depth` (replaced by null, its open
containers closed), for the caller to check what lies before that point as
it checks any value, and then to refuse the depth at `Deep.steps`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# One token after optional whitespace: a string (as `json` reads one: no raw control characters),
# a run of `[` or of closing brackets (taken at once: a text nested 2,000,000 deep is read in
# milliseconds, not seconds), other punctuation, a number, or a literal (with the non-finite words
# Python's `json` reads).
_TOKEN = re.compile(
    r'[ \t\n\r]*(?:(?P<string>"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")'
    r"|(?P<opens>\[(?:[ \t\n\r]*\[)*)"
    r"|(?P<closes>[\]}](?:[ \t\n\r]*[\]}])*)"
    r"|(?P<punctuation>[{,:])"
    r"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null|NaN|-?Infinity)"
)
_WHITESPACE = re.compile(r"[ \t\n\r]+")
_END = re.compile(r"[ \t\n\r]*\Z")


@dataclass(frozen=True)
class Deep:
    """Where a well-formed text first nests past the limit, and the text cut there."""

    steps: list[str | int]
    """The keys and indexes down to that array or object."""
    prefix: str
    """The text with that array or object replaced by null and the containers around it closed."""


def first_too_deep(text: str, max_depth: int) -> Deep | None:
    """The first array or object past `max_depth` of a well-formed JSON text (None: none is); raises
    ValueError for a text that is not JSON."""
    containers: list[str] = []  # the open ones' closing characters
    steps: list[str | int] = []  # for each open container, its current key or index
    deep: Deep | None = None
    expect = "value"  # or: "key", "key or end", "value or end", "colon", "after value"
    position = 0
    while True:
        if expect == "after value" and not containers:
            if _END.match(text, position) is None:
                raise ValueError(f"extra data at {position}")
            return deep
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"no JSON token at {position}")
        position = match.end()
        closes, opens = match.group("closes"), match.group("opens")
        scalar = match.group("punctuation") is None and not (opens or closes)  # string, number, literal
        if closes is not None and expect in ("after value", "value or end", "key or end"):
            # Containers' ends, innermost first (the first may end one just opened, empty).
            run = _WHITESPACE.sub("", closes)
            kept = len(containers) - len(run)
            if kept < 0 or run != "".join(reversed(containers[kept:])):
                raise ValueError(f"unexpected {run!r} at {position}")
            del containers[kept:], steps[kept:]
            expect = "after value"
        elif opens is not None and expect in ("value", "value or end"):
            run = _WHITESPACE.sub("", opens)
            if deep is None and len(containers) + len(run) > max_depth:
                # The bracket of the run that opens the first container past the limit.
                nth = max_depth - len(containers)
                offset = nth if len(run) == len(opens) else [i for i, c in enumerate(opens) if c == "["][nth]
                start = match.start("opens") + offset
                closing = "]" * nth + "".join(reversed(containers))
                deep = Deep([*steps, *[0] * nth], f"{text[:start]}null{closing}")
            containers.extend("]" * len(run))
            steps.extend([0] * len(run))
            expect = "value or end"
        elif expect in ("value", "value or end") and match.group("punctuation") == "{":
            if deep is None and len(containers) == max_depth:
                start = match.start("punctuation")
                deep = Deep([*steps], f"{text[:start]}null{''.join(reversed(containers))}")
            containers.append("}")
            steps.append(0)
            expect = "key or end"
        elif expect in ("value", "value or end") and scalar:
            expect = "after value"
        elif expect in ("key", "key or end") and match.group("string") is not None:
            steps[-1] = json.loads(match.group("string"))
            expect = "colon"
        elif expect == "colon" and match.group("punctuation") == ":":
            expect = "value"
        elif expect == "after value" and match.group("punctuation") == ",":
            if containers[-1] == "]":
                steps[-1] = int(steps[-1]) + 1
                expect = "value"
            else:
                expect = "key"
        else:
            raise ValueError(f"unexpected {match.group()!r} at {position}")
