"""Queries on the inbound queue: accept, claim, finish, quarantine.

A row is committed before the sender hears yes. Workers claim rows by pushing their
`next_try` forward (a lease, tagged with the worker's owner name) in a short transaction,
then process each one in a second transaction that locks the row and re-checks it is still
pending, so two workers never both finish it. A worker that dies lets its lease run out;
a daemon that restarts releases its own leases at once (`release_leases`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from store import leases, sql
from store.clock import now
from store.db import is_postgresql, transaction
from store.models import Inbound

__all__ = [
    "NewInbound",
    "add_inbound",
    "claim_pending",
    "finish",
    "inbound_by_id",
    "list_by_state",
    "quarantine",
    "release_leases",
    "requeue",
    "retry_later",
    "still_pending",
]


@dataclass(frozen=True, slots=True)
class NewInbound:
    raw: bytes
    source: str
    mail_from: str | None = None
    rcpt_to: Sequence[str] = ()


def add_inbound(messages: Iterable[NewInbound]) -> list[int]:
    """Store messages durably in one transaction (one fsync); their ids, in order."""
    with transaction():
        return [
            sql.insert(
                Inbound,
                {
                    "raw": m.raw,
                    "source": m.source,
                    "mail_from": m.mail_from,
                    "rcpt_to": json.dumps(list(m.rcpt_to)),
                },
            )
            for m in messages
        ]


def claim_pending(limit: int, *, max_attempts: int, owner: str) -> tuple[list[Inbound], list[int]]:
    """Lease up to `limit` due rows, oldest first; return (claimed rows, ids that ran out).

    Claimed rows carry their raw bytes and envelope, and `attempts` counting this one.
    A row whose attempts are already used up never finished a previous try (the process
    died under it), so it goes to quarantine instead of being tried forever.
    """
    moment = now()
    with transaction():
        query = (
            Inbound.select(
                Inbound.id,
                Inbound.attempts,
                Inbound.raw,
                Inbound.mail_from,
                Inbound.rcpt_to,
                Inbound.source,
            )
            .where((Inbound.state == "pending") & (Inbound.next_try <= moment))
            .order_by(Inbound.id)
            .limit(limit)
        )
        if is_postgresql():
            query = query.for_update("FOR UPDATE SKIP LOCKED")
        rows = list(query)
        worn = [r.id for r in rows if r.attempts >= max_attempts]
        fresh = [r for r in rows if r.attempts < max_attempts]
        if fresh:
            Inbound.update(
                attempts=Inbound.attempts + 1, next_try=moment + leases.LEASE, lease_owner=owner
            ).where(Inbound.id.in_([r.id for r in fresh])).execute()
        for row in fresh:
            row.attempts += 1
        for row_id in worn:
            quarantine(row_id, f"gave up after {max_attempts} attempts that never finished")
    return fresh, worn


def release_leases(owner: str) -> int:
    """Make rows leased by `owner` (a previous run of this daemon) due again now."""
    return leases.release(Inbound, owner)


def still_pending(row_id: int) -> bool:
    """Within the processing transaction: lock the row and say whether it is still pending.

    Another worker may have finished it after our lease ran out; on PostgreSQL the lock
    makes a second worker wait here until the first commits, then see it is done.
    """
    lock = " FOR UPDATE" if is_postgresql() else ""
    found = sql.execute("SELECT state FROM inbound WHERE id = ?" + lock, [row_id]).fetchone()
    return found is not None and found[0] == "pending"


def finish(row_id: int, *, state: str, outcome: str, message_id: str, ticket_id: int | None):
    statement = (
        "UPDATE inbound SET state = ?, outcome = ?, message_id = ?, ticket_id = ?, "
        "last_error = '', lease_owner = '' WHERE id = ?"
    )
    sql.execute(statement, [state, outcome, message_id[:998], ticket_id, row_id])


def retry_later(row_id: int, error: str, delay: float) -> None:
    Inbound.update(
        last_error=error, next_try=now() + timedelta(seconds=delay), lease_owner=""
    ).where(Inbound.id == row_id).execute()


def quarantine(row_id: int, reason: str) -> None:
    Inbound.update(state="quarantined", last_error=reason).where(Inbound.id == row_id).execute()


def requeue(row_id: int) -> bool:
    """Send a quarantined message through processing again, with fresh attempts."""
    with transaction():
        changed = (
            Inbound.update(state="pending", attempts=0, next_try=now(), last_error="")
            .where((Inbound.id == row_id) & (Inbound.state == "quarantined"))
            .execute()
        )
    return bool(changed)


def inbound_by_id(row_id: int) -> Inbound | None:
    return Inbound.get_or_none(Inbound.id == row_id)


def list_by_state(state: str, limit: int = 100) -> list[Inbound]:
    fields = [f for f in Inbound._meta.sorted_fields if f.name != "raw"]
    return list(
        Inbound.select(*fields)
        .where(Inbound.state == state)
        .order_by(Inbound.id.desc())
        .limit(limit)
    )
