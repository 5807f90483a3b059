"""Cutting quoted history from a reply before it is stored.

Our outbound mail carries a reply-above-this-line marker; everything from the marker down
(and the "On … wrote:" line a mail client puts just above it) is history we already have.
"""

from __future__ import annotations

import re

from maild.notices import MARKER

__all__ = ["strip_reply"]

_ATTRIBUTION = re.compile(
    r"^\s*(>\s*)*(On|Am|Le|El|Il|Op)\b.*"
    r"(wrote|schrieb|a écrit|escribió|ha scritto|schreef)\s*:\s*$",
    re.I,
)


def strip_reply(text: str) -> str:
    """`text` without our marker and what follows it; unchanged when there is no marker."""
    lines = text.splitlines()
    cut = next((i for i, line in enumerate(lines) if MARKER in line), None)
    if cut is None:
        return text
    kept = lines[:cut]
    while kept and (not kept[-1].strip() or kept[-1].lstrip().startswith(">")):
        kept.pop()
    # Clients wrap a long attribution line, so look at the last two lines joined too.
    for width in (1, 2):
        tail = " ".join(line.strip() for line in kept[-width:])
        if kept and _ATTRIBUTION.match(tail):
            del kept[-width:]
            break
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept) + "\n" if kept else ""
