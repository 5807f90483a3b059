"""Queries on the outbound queue: enqueue, claim due rows, record each delivery's outcome."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from store import leases, sql
from store.clock import now
from store.db import is_postgresql, transaction
from store.models import Outbound

__all__ = [
    "claim_due",
    "count_recent",
    "enqueue",
    "list_outbound",
    "mark_failed",
    "mark_retry",
    "mark_sent",
    "outbound_by_id",
    "release_leases",
    "requeue",
    "store_composed",
]


def enqueue(
    *,
    kind: str,
    mail_from: str,
    recipients: Sequence[str],
    message_id: str,
    raw: bytes,
    ticket=None,
    rate_key: str = "",
    draft: str = "",
) -> int | None:
    """Queue a message; its id (None inside `sql.deferred_inserts()`, which writes it later).

    A message composed when it is sent has an empty `raw` and `message_id` and its `draft`
    (see `maild.notify.Draft`); `store_composed` keeps them once they are made.
    """
    values = {
        "kind": kind,
        "mail_from": mail_from,
        "recipients": json.dumps(list(recipients)),
        "message_id": message_id,
        "raw": raw,
        "ticket": ticket.id if ticket is not None else None,
        "rate_key": rate_key.lower(),
        "draft": draft,
    }
    return sql.insert_later(Outbound, values)


def count_recent(rate_key: str, since: datetime) -> int:
    """How many rate-limited messages went to `rate_key` since `since`."""
    return sql.scalar(
        Outbound,
        "SELECT COUNT(*) FROM outbound WHERE rate_key = ? AND created >= ?",
        [rate_key.lower(), Outbound.created.db_value(since)],
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
        for row in rows:
            row.attempts += 1
        if rows:
            Outbound.update(
                attempts=Outbound.attempts + 1, next_try=moment + leases.LEASE, lease_owner=owner
            ).where(Outbound.id.in_([r.id for r in rows])).execute()
    return rows


def store_composed(row_id: int, raw: bytes, message_id: str) -> None:
    """Keep the message composed from a row's draft, so a retry sends the same bytes."""
    with transaction():
        Outbound.update(raw=raw, message_id=message_id, draft="").where(
            Outbound.id == row_id
        ).execute()


def release_leases(owner: str) -> int:
    """Make messages leased by `owner` (a previous run of this daemon) due again now."""
    return leases.release(Outbound, owner)


def mark_sent(notes: dict[int, str]) -> None:
    """Mark messages delivered; a note records recipients the relay refused for good."""
    if not notes:
        return
    moment = now()
    with transaction():
        clean = [row_id for row_id, note in notes.items() if not note]
        if clean:
            Outbound.update(state="sent", sent=moment, lease_owner="", last_error="").where(
                Outbound.id.in_(clean)
            ).execute()
        for row_id, note in notes.items():
            if note:
                Outbound.update(
                    state="sent", sent=moment, lease_owner="", last_error=f"refused: {note}"
                ).where(Outbound.id == row_id).execute()


def mark_retry(
    row_id: int, error: str, delay: float, *, recipients: Sequence[str] | None = None
) -> None:
    """Try again after `delay` seconds; with `recipients`, only those still to be reached."""
    values = {
        Outbound.last_error: error,
        Outbound.next_try: now() + timedelta(seconds=delay),
        Outbound.lease_owner: "",
    }
    if recipients is not None:
        values[Outbound.recipients] = json.dumps(list(recipients))
    with transaction():
        Outbound.update(values).where(Outbound.id == row_id).execute()


def mark_failed(row_id: int, error: str) -> None:
    with transaction():
        Outbound.update(state="failed", last_error=error).where(Outbound.id == row_id).execute()


def requeue(row_id: int) -> bool:
    with transaction():
        changed = (
            Outbound.update(state="pending", attempts=0, next_try=now(), last_error="")
            .where((Outbound.id == row_id) & (Outbound.state == "failed"))
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
