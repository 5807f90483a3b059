"""HTML from mail, made safe to show: nh3 (ammonia) with inline images kept as cid: links."""

from __future__ import annotations

import nh3

__all__ = ["sanitize_html"]

_SCHEMES = {"http", "https", "mailto", "cid", "tel"}


def sanitize_html(html: str) -> str:
    if not html:
        return ""
    return nh3.clean(html, url_schemes=_SCHEMES, link_rel="noopener noreferrer nofollow")
