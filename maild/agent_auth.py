"""Whether a trusted server vouched for the sender: `Authentication-Results` (RFC 8601).

Only headers whose authserv-id is one of ours (`[agent_mail] trusted_authserv_ids`, the
names our own receiving servers stamp) count: anyone can write such a header into a
message, but our servers add theirs on top, and a forged one carries another id. A pass
counts for `address` when DKIM passed for its domain (`header.d`, or `header.i` ending in
it) or SPF passed for it (`smtp.mailfrom`, the address or its domain). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["authenticated_by_header"]

_RESULT = re.compile(r"\b(dkim|spf)\s*=\s*(\w+)((?:\s+[\w.]+\s*=\s*[^\s;]+)*)", re.I)
_PROPERTY = re.compile(r"([\w.]+)\s*=\s*([^\s;]+)")
_COMMENT = re.compile(r"\([^()]*\)")


def authenticated_by_header(
    headers: Sequence[str], address: str, trusted: Iterable[str]
) -> str | None:
    """How a trusted `Authentication-Results` header vouches for `address`, or None."""
    trusted = {t.lower() for t in trusted}
    address = address.lower()
    domain = address.rpartition("@")[2]
    for header in headers:
        text = _COMMENT.sub(" ", header)
        authserv, _, results = text.partition(";")
        if authserv.strip().split(" ")[0].lower() not in trusted:
            continue
        for method, result, props in _RESULT.findall(results):
            if result.lower() != "pass":
                continue
            values = {k.lower(): v.strip("\"'").lower() for k, v in _PROPERTY.findall(props)}
            if method.lower() == "dkim" and _dkim_covers(values, address, domain):
                return f"DKIM pass by {authserv.strip()}"
            if method.lower() == "spf" and values.get("smtp.mailfrom") in (address, domain):
                return f"SPF pass by {authserv.strip()}"
    return None


def _dkim_covers(values: dict[str, str], address: str, domain: str) -> bool:
    identity = values.get("header.i", "")
    return (
        values.get("header.d") == domain
        or identity == address
        or (identity.startswith("@") and identity[1:] == domain)
    )
