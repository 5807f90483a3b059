"""Polled mailboxes: the lease, the exactly-once record of every message seen, the state.

One row per configured mailbox (`MailboxState`) carries a lease: a poller claims it with a
conditional UPDATE (free, expired, or already ours), so on SQLite and PostgreSQL alike
exactly one process polls a mailbox at a time. Every message seen gets a `MailboxMessage`
row keyed by (mailbox, uidvalidity, uid), written in the same transaction as its inbound
row and only while the lease is still ours; a message is moved or deleted on the server
only after that commit, so a crash in between ends in a skip on the next poll, never in a
second copy. A message that was stored before under another UID (the folder was rebuilt
and its UIDVALIDITY changed) is recognised by its key — its Message-ID, or a content hash.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from peewee import fn

from store import sql
from store.clock import now
from store.db import transaction
from store.inbound import NewInbound, add_inbound
from store.models import MailboxMessage, MailboxState

__all__ = [
    "FINISHED",
    "LEASE",
    "LeaseLost",
    "Seen",
    "claim",
    "highest",
    "problems",
    "record",
    "record_trouble",
    "recorded",
    "release",
    "renew",
    "set_uidvalidity",
    "state_of",
    "states",
    "take_over",
]

LEASE = timedelta(seconds=120)
# Messages that are safely stored (or known to be): the server may move or delete them.
FINISHED = ("stored", "duplicate")
_CHUNK = 500


class LeaseLost(RuntimeError):
    """Another process took the mailbox's lease over; this poll must stop."""


@dataclass(frozen=True, slots=True)
class Seen:
    """One message to record. With `raw` it is stored (or found to be a duplicate);
    without, it is recorded in `state` ("too_large", "failed") with `error`."""

    uid: str
    number: int = 0
    size: int = 0
    key: str = ""
    raw: bytes | None = None
    state: str = "stored"
    error: str = ""


def claim(name: str, owner: str, *, force: bool = False) -> MailboxState | None:
    """Take the mailbox's lease if it is free, expired or ours, and (unless `force`) the
    mailbox is due; its state, or None when someone else polls it or it is not due."""
    moment = now()
    with transaction():
        MailboxState.insert(name=name, next_poll=moment).on_conflict_ignore().execute()
        free = (
            (MailboxState.lease_owner == "")
            | (MailboxState.lease_owner == owner)
            | (MailboxState.lease_until < moment)
        )
        if not force:
            free &= MailboxState.next_poll <= moment
        taken = (
            MailboxState.update(lease_owner=owner, lease_until=moment + LEASE)
            .where((MailboxState.name == name) & free)
            .execute()
        )
        return MailboxState.get(MailboxState.name == name) if taken else None


def take_over(name: str, owner: str, previous: str) -> bool:
    """Take the lease from `previous`, a holder known to be dead; whether it worked."""
    with transaction():
        return bool(
            MailboxState.update(lease_owner=owner, lease_until=now() + LEASE)
            .where((MailboxState.name == name) & (MailboxState.lease_owner == previous))
            .execute()
        )


def renew(name: str, owner: str) -> bool:
    """Extend our lease; False when it is no longer ours."""
    with transaction():
        return _renew(name, owner)


def _renew(name: str, owner: str) -> bool:
    return bool(
        MailboxState.update(lease_until=now() + LEASE)
        .where((MailboxState.name == name) & (MailboxState.lease_owner == owner))
        .execute()
    )


def _ours_or_raise(name: str, owner: str) -> None:
    if not _renew(name, owner):
        raise LeaseLost(f"mailbox {name!r}: another process took over polling it")


def release(name: str, owner: str, *, error: str, next_poll: datetime) -> None:
    """End a poll: give the lease back, note how it went and when to poll next.
    An empty `error` is a success and ends any run of failures."""
    moment = now()
    changes = {
        MailboxState.lease_owner: "",
        MailboxState.lease_until: moment,
        MailboxState.last_poll: moment,
        MailboxState.next_poll: next_poll,
        MailboxState.last_error: error,
    }
    if error:
        changes[MailboxState.failures] = MailboxState.failures + 1
    else:
        changes[MailboxState.failures] = 0
        changes[MailboxState.last_ok] = moment
    with transaction():
        MailboxState.update(changes).where(
            (MailboxState.name == name) & (MailboxState.lease_owner == owner)
        ).execute()


def set_uidvalidity(name: str, owner: str, uidvalidity: int) -> None:
    with transaction():
        _ours_or_raise(name, owner)
        MailboxState.update(uidvalidity=uidvalidity).where(MailboxState.name == name).execute()


def state_of(name: str) -> MailboxState | None:
    return MailboxState.get_or_none(MailboxState.name == name)


def states() -> list[MailboxState]:
    return list(MailboxState.select().order_by(MailboxState.name))


def highest(name: str, uidvalidity: int) -> int:
    """The highest IMAP UID handled under `uidvalidity` (0 when none): everything at or
    below it was handled, since messages are taken strictly in order."""
    found = (
        MailboxMessage.select(fn.MAX(MailboxMessage.number))
        .where((MailboxMessage.mailbox == name) & (MailboxMessage.uidvalidity == uidvalidity))
        .scalar()
    )
    return int(found or 0)


def recorded(name: str, uidvalidity: int, uids: Sequence[str]) -> dict[str, tuple[str, int]]:
    """{uid: (state, attempts)} for those of `uids` this mailbox has a record of."""
    found: dict[str, tuple[str, int]] = {}
    for start in range(0, len(uids), _CHUNK):
        query = MailboxMessage.select(
            MailboxMessage.uid, MailboxMessage.state, MailboxMessage.attempts
        ).where(
            (MailboxMessage.mailbox == name)
            & (MailboxMessage.uidvalidity == uidvalidity)
            & (MailboxMessage.uid.in_(list(uids[start : start + _CHUNK])))
        )
        found.update((row.uid, (row.state, row.attempts)) for row in query)
    return found


def record(
    name: str,
    owner: str,
    uidvalidity: int,
    seen: Iterable[Seen],
    *,
    source: str,
    rcpt_to: Sequence[str],
) -> list[tuple[Seen, str, int | None]]:
    """Record `seen` in one transaction, storing each raw message as an inbound row unless
    its key came from this mailbox before; [(seen, state, inbound id)].

    Raises LeaseLost (and stores nothing) when another process has taken the mailbox over;
    a (mailbox, uidvalidity, uid) recorded already makes the whole transaction fail.
    """
    outcomes = []
    counts = {"stored": 0, "duplicate": 0, "rejected": 0}
    with transaction():
        _ours_or_raise(name, owner)
        for item in seen:
            state, inbound_id = item.state, None
            if item.raw is not None:
                if item.key and _key_known(name, item.key):
                    state = "duplicate"
                else:
                    message = NewInbound(item.raw, source, None, rcpt_to)
                    (inbound_id,) = add_inbound([message])
            _forget_retrying(name, uidvalidity, item.uid)
            sql.insert(
                MailboxMessage,
                {
                    "mailbox": name,
                    "uidvalidity": uidvalidity,
                    "uid": item.uid,
                    "number": item.number,
                    "message_key": item.key,
                    "state": state,
                    "inbound": inbound_id,
                    "size": item.size,
                    "error": item.error,
                },
            )
            counts[state if state in counts else "rejected"] += 1
            outcomes.append((item, state, inbound_id))
        MailboxState.update(
            stored=MailboxState.stored + counts["stored"],
            duplicates=MailboxState.duplicates + counts["duplicate"],
            rejected=MailboxState.rejected + counts["rejected"],
        ).where(MailboxState.name == name).execute()
    return outcomes


def record_trouble(
    name: str, owner: str, uidvalidity: int, uid: str, error: str, *, give_up_after: int
) -> tuple[str, int]:
    """A fetch of `uid` failed: count it; after `give_up_after` tries the message is
    recorded as "failed" and later polls pass it by. (state, attempts so far)."""
    with transaction():
        _ours_or_raise(name, owner)
        row = MailboxMessage.get_or_none(
            (MailboxMessage.mailbox == name)
            & (MailboxMessage.uidvalidity == uidvalidity)
            & (MailboxMessage.uid == uid)
        )
        attempts = (row.attempts if row else 0) + 1
        # A retrying row keeps number 0, so `highest` does not count it as handled.
        state, number = "retrying", 0
        if attempts >= give_up_after:
            state, number = "failed", int(uid) if uid.isdigit() else 0
            MailboxState.update(rejected=MailboxState.rejected + 1).where(
                MailboxState.name == name
            ).execute()
        values = {"state": state, "attempts": attempts, "error": error, "number": number}
        if row is None:
            sql.insert(
                MailboxMessage,
                {"mailbox": name, "uidvalidity": uidvalidity, "uid": uid, **values},
            )
        else:
            MailboxMessage.update(values).where(MailboxMessage.id == row.id).execute()
    return state, attempts


def problems(name: str, limit: int = 5) -> list[MailboxMessage]:
    """The newest messages of this mailbox that were not stored: too large, failed, retrying."""
    return list(
        MailboxMessage.select()
        .where(
            (MailboxMessage.mailbox == name)
            & MailboxMessage.state.in_(("too_large", "failed", "retrying"))
        )
        .order_by(MailboxMessage.id.desc())
        .limit(limit)
    )


def _key_known(name: str, key: str) -> bool:
    return (
        MailboxMessage.select(MailboxMessage.id)
        .where(
            (MailboxMessage.mailbox == name)
            & (MailboxMessage.message_key == key)
            & MailboxMessage.state.in_(FINISHED)
        )
        .exists()
    )


def _forget_retrying(name: str, uidvalidity: int, uid: str) -> None:
    MailboxMessage.delete().where(
        (MailboxMessage.mailbox == name)
        & (MailboxMessage.uidvalidity == uidvalidity)
        & (MailboxMessage.uid == uid)
        & (MailboxMessage.state == "retrying")
    ).execute()
