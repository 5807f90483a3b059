"""Tags and custom field values on tickets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from store import sql
from store.models import Ticket, TicketField, TicketTag

__all__ = ["add_tags", "fields_of", "set_fields", "tags_of"]


def add_tags(ticket: Ticket, tags: Iterable[str]) -> list[str]:
    """Tag the ticket; the tags it did not have before."""
    have = set(tags_of(ticket))
    added = [t for t in dict.fromkeys(t.strip()[:100] for t in tags) if t and t not in have]
    for tag in added:
        sql.insert(TicketTag, {"ticket": ticket.id, "tag": tag}, ignore_conflict=True)
    return added


def tags_of(ticket: Ticket) -> list[str]:
    rows = TicketTag.select(TicketTag.tag).where(TicketTag.ticket == ticket.id)
    return [row.tag for row in rows.order_by(TicketTag.id)]


def set_fields(ticket: Ticket, values: Mapping[str, object]) -> None:
    """Set custom fields, replacing earlier values of the same names."""
    for name, value in values.items():
        name = name[:100]
        TicketField.delete().where(
            (TicketField.ticket == ticket.id) & (TicketField.name == name)
        ).execute()
        sql.insert(TicketField, {"ticket": ticket.id, "name": name, "value": str(value)})


def fields_of(ticket: Ticket) -> dict[str, str]:
    rows = TicketField.select(TicketField.name, TicketField.value).where(
        TicketField.ticket == ticket.id
    )
    return {row.name: row.value for row in rows.order_by(TicketField.id)}
