"""Claiming SLA breaches for the sweep: each breach is announced once, by one sweeper.

A breach is a ticket whose due time (first response or resolution) passed while its flag
is clear. Claiming sets the flag in the transaction that queues the breach's alert, with
a condition on the flag, so two sweepers (two daemons, or `maild sla sweep` beside a
running daemon) never both claim a ticket: the second waits for the first one's row
locks, then finds the flag set. The statements read through the (flag, due time) indexes,
so their cost follows the number of due tickets, not of open ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from peewee import Field

from store import sql
from store.models import Ticket

__all__ = ["TARGETS", "claim", "claim_due"]

# target → (its breach flag, its due time)
TARGETS: dict[str, tuple[Field, Field]] = {
    "first response": (Ticket.first_response_breached, Ticket.first_response_due),
    "resolution": (Ticket.overdue, Ticket.due),
}

# What announcing a breach reads of a ticket; fewer columns, cheaper rows.
_ANNOUNCED = (
    Ticket.id, Ticket.number, Ticket.subject, Ticket.status, Ticket.priority,
    Ticket.department, Ticket.sla, Ticket.assignee, Ticket.team, Ticket.due,
    Ticket.first_response_due,
)  # fmt: skip

_statements: dict[tuple[str, int], str] = {}


def claim_due(target: str, now: datetime, final: Sequence[str], limit: int) -> list[Ticket]:
    """Claim up to `limit` tickets whose `target` is due at `now` (naive UTC) and not yet
    claimed, leaving out tickets in a `final` status; those tickets, earliest due first.

    One statement finds and claims them: UPDATE … WHERE id IN (the due chunk) AND the flag
    is still clear … RETURNING. Its SQL is written once per target, since peewee's query
    builder costs more than running the statement.
    """
    flag, due = TARGETS[target]
    key = (target, len(final))
    statement = _statements.get(key)
    if statement is None:
        statement = _statements[key] = _claim_due_sql(flag, due, len(final))
    params = [True, False, due.db_value(now), *final, limit, False]
    rows = sql.execute(statement, params).fetchall()
    claimed = [Ticket(__no_default__=True, **_values(row)) for row in rows]
    claimed.sort(key=lambda ticket: (getattr(ticket, due.name), ticket.id))
    return claimed


def _values(row: Sequence) -> dict:
    return {f.name: f.python_value(v) for f, v in zip(_ANNOUNCED, row, strict=True)}


def _claim_due_sql(flag: Field, due: Field, finals: int) -> str:
    table, flagged, due_at = Ticket._meta.table_name, flag.column_name, due.column_name
    columns = ", ".join(f'"{field.column_name}"' for field in _ANNOUNCED)
    open_only = f" AND status NOT IN ({', '.join('?' * finals)})" if finals else ""
    return (
        f'UPDATE "{table}" SET "{flagged}" = ? WHERE id IN ('
        f'SELECT id FROM "{table}" WHERE "{flagged}" = ? AND "{due_at}" <= ?{open_only} '
        f'ORDER BY "{due_at}" LIMIT ?) AND "{flagged}" = ? RETURNING {columns}'
    )


def claim(flag: Field, ids: Sequence[int]) -> set[int]:
    """Set `flag` (a Ticket flag) on those of `ids` where it is still clear; the ids this
    call set."""
    query = (
        Ticket.update({flag: True})
        .where(Ticket.id.in_(list(ids)) & (flag == False))  # noqa: E712
        .returning(Ticket.id)
    )
    return {row.id for row in query.execute()}
