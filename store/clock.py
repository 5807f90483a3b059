"""The one clock the store uses: naive UTC datetimes, identical on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["now"]


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
