"""Queries on the outbound queue: enqueue, claim due rows, record each delivery's outcome."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from peewee import fn

from store.clock import now
from store.db import is_postgresql, transaction
from store.models import Outbound

__all__ = [
    "claim_due",
    "count_by_state",
    "count_recent",
    "enqueue",
    "list_outbound",
    "mark_failed",
    "mark_retry",
    "mark_sent",
    "outbound_by_id",
    "release_leases",
    "requeue",
]

LEASE = timedelta(seconds=60)


def enqueue(
    *,
    kind: str,
    mail_from: str,
    recipients: Sequence[str],
    message_id: str,
    raw: bytes,
    ticket=None,
    rate_key: str = "",
) -> Outbound:
    return Outbound.create(
        kind=kind,
        mail_from=mail_from,
        recipients=json.dumps(list(recipients)),
        message_id=message_id,
        raw=raw,
        ticket=ticket,
        rate_key=rate_key.lower(),
    )


def count_recent(rate_key: str, since: datetime) -> int:
    """How many rate-limited messages went to `rate_key` since `since`."""
    return (
        Outbound.select(fn.COUNT(Outbound.id))
        .where((Outbound.rate_key == rate_key.lower()) & (Outbound.created >= since))
        .scalar()
    )


def claim_due(limit: int, *, owner: str) -> list[Outbound]:
    """Lease up to `limit` messages due for a delivery attempt, oldest first."""
    moment = now()
    with transaction():
        query = (
            Outbound.select()
            .where((Outbound.state == "pending") & (Outbound.next_try <= moment))
            .order_by(Outbound.id)
            .limit(limit)
        )
        if is_postgresql():
            query = query.for_update("FOR UPDATE SKIP LOCKED")
        rows = list(query)
        if rows:
            Outbound.update(
                attempts=Outbound.attempts + 1, next_try=moment + LEASE, lease_owner=owner
            ).where(Outbound.id.in_([r.id for r in rows])).execute()
    return rows


def release_leases(owner: str) -> int:
    """Make messages leased by `owner` (a previous run of this daemon) due again now."""
    with transaction():
        return (
            Outbound.update(next_try=now(), lease_owner="")
            .where((Outbound.state == "pending") & (Outbound.lease_owner == owner))
            .execute()
        )


def mark_sent(ids: Sequence[int]) -> None:
    if ids:
        with transaction():
            Outbound.update(state="sent", sent=now(), last_error="").where(
                Outbound.id.in_(list(ids))
            ).execute()


def mark_retry(row_id: int, error: str, delay: float) -> None:
    with transaction():
        Outbound.update(
            last_error=error, next_try=now() + timedelta(seconds=delay), lease_owner=""
        ).where(Outbound.id == row_id).execute()


def mark_failed(row_id: int, error: str) -> None:
    with transaction():
        Outbound.update(state="failed", last_error=error).where(Outbound.id == row_id).execute()


def requeue(row_id: int) -> bool:
    with transaction():
        changed = (
            Outbound.update(state="pending", attempts=0, next_try=now(), last_error="")
            .where((Outbound.id == row_id) & (Outbound.state != "sent"))
            .execute()
        )
    return bool(changed)


def outbound_by_id(row_id: int) -> Outbound | None:
    return Outbound.get_or_none(Outbound.id == row_id)


def list_outbound(state: str | None = None, limit: int = 100) -> list[Outbound]:
    fields = [f for f in Outbound._meta.sorted_fields if f.name != "raw"]
    query = Outbound.select(*fields).order_by(Outbound.id.desc()).limit(limit)
    if state:
        query = query.where(Outbound.state == state)
    return list(query)


def count_by_state() -> dict[str, int]:
    rows = Outbound.select(Outbound.state, fn.COUNT(Outbound.id)).group_by(Outbound.state).tuples()
    return dict(rows)
