"""Polling one mailbox once: exactly-once between a mail server and the inbound table.

A poll takes the mailbox's lease (so one process at a time polls it), logs in, lists the
messages oldest first and, in groups, fetches each one without changing it on the
server, then commits the group — inbound rows and the record of (mailbox, uidvalidity,
uid) in one transaction — and only then moves or deletes it on the server. A crash or a
dropped connection after the commit leaves a message that the next poll finds recorded:
it finishes the move and stores nothing twice. A UIDVALIDITY change makes the folder
new again; what was stored before is recognised by Message-ID or content hash.

A message too large for `[smtp] max_message_size` is recorded, not fetched. A message
whose fetch fails stops the poll there (order is kept) and is tried again next time;
after `GIVE_UP_AFTER` tries it is recorded as failed, naming its UID, and later polls pass
it by. A failed poll backs off exponentially, up to `MAX_BACKOFF` seconds.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from maild.config import Config
from maild.mailbox_config import Mailbox
from maild.mailbox_source import Source, describe, message_identity, open_source
from store import mailboxes
from store.clock import now
from store.mailboxes import FINISHED, LeaseLost, Seen

__all__ = ["GIVE_UP_AFTER", "MAX_BACKOFF", "PollResult", "backoff", "local_owner", "poll"]

log = logging.getLogger(__name__)

MAX_BACKOFF = 1800  # seconds
GIVE_UP_AFTER = 3  # fetch attempts before a message is recorded as failed
GROUP = 20  # messages per commit
GROUP_BYTES = 16 * 1024 * 1024


@dataclass
class PollResult:
    mailbox: str
    stored: list[tuple[str, int, str]] = field(default_factory=list)  # uid, inbound, msgid
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)  # "UID 7: why", recorded, not stored
    finished: int = 0  # recorded messages moved or deleted after an interruption
    waiting: int = 0  # messages left for the next polls
    error: str = ""
    busy: str = ""  # why this process did not poll: who holds the lease, or "not due"


class _Stop(Exception):
    """A message could not be fetched: end the poll here, its reason already recorded."""


def local_owner() -> str:
    """This process as a lease owner: host, boot and pid, so a dead holder on this machine
    is recognised and its lease taken over at once."""
    return f"{socket.gethostname()}/{_boot_id()}/{os.getpid()}"


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()[:8]
    except OSError:
        return "-"


def _holder_is_dead(owner: str) -> bool:
    host, _, rest = owner.partition("/")
    boot, _, pid = rest.partition("/")
    if host != socket.gethostname() or boot != _boot_id() or boot == "-" or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def backoff(interval: int, failures: int) -> int:
    """Seconds to the next poll after `failures` failed polls in a row."""
    if failures <= 0:
        return interval
    return min(interval * 2 ** min(failures - 1, 20), max(interval, MAX_BACKOFF))


def poll(
    config: Config,
    mailbox: Mailbox,
    *,
    owner: str | None = None,
    force: bool = False,
    on_stored: Callable[[], None] = lambda: None,
    opener: Callable[[Mailbox], Source] = open_source,
) -> PollResult:
    """Poll `mailbox` once if it is due (or `force`) and no other process is polling it."""
    owner = owner or local_owner()
    result = PollResult(mailbox.name)
    state = _claim(mailbox, owner, force, result)
    if state is None:
        return result
    source = None
    try:
        source = opener(mailbox)
        _Poll(config, mailbox, owner, source, result, on_stored).run(state.uidvalidity)
    except _Stop as stop:
        result.error = str(stop)
    except LeaseLost as exc:
        result.error = str(exc)
    except Exception as exc:
        result.error = describe(exc)
    finally:
        if source is not None:
            source.close()
        failures = state.failures + 1 if result.error else 0
        delay = backoff(mailbox.interval, failures)
        mailboxes.release(
            mailbox.name, owner, error=result.error, next_poll=now() + timedelta(seconds=delay)
        )
    if result.error:
        log.warning("mailbox %s: poll failed (%d in a row, next in %ds): %s",
                    mailbox.name, failures, delay, result.error)  # fmt: skip
    return result


def _claim(mailbox: Mailbox, owner: str, force: bool, result: PollResult):
    state = mailboxes.claim(mailbox.name, owner, force=force)
    if state is not None:
        return state
    current = mailboxes.state_of(mailbox.name)
    moment = now()
    if not force and current.next_poll > moment:
        result.busy = "not due"
        return None
    holder = current.lease_owner
    if _holder_is_dead(holder) and mailboxes.take_over(mailbox.name, owner, holder):
        log.warning("mailbox %s: took over from %s, which died while polling", mailbox.name,
                    holder)  # fmt: skip
        return mailboxes.state_of(mailbox.name)
    result.busy = f"polled by {holder}"
    return None


class _Poll:
    def __init__(self, config, mailbox, owner, source, result, on_stored) -> None:
        self.mailbox, self.owner, self.source = mailbox, owner, source
        self.result, self.on_stored = result, on_stored
        self.limit = config.smtp.max_message_size
        department = next((d for d in config.departments if d.name == mailbox.department), None)
        address = department.addresses[0] if department and department.addresses else None
        self.rcpt_to = [address or config.helpdesk.address]
        self.uidvalidity = 0
        self.message_ids: dict[str, str] = {}  # uid -> Message-ID, for the log
        self.renew_at = time.monotonic() + mailboxes.LEASE.total_seconds() / 2

    def run(self, known_uidvalidity: int) -> None:
        name = self.mailbox.name
        self.uidvalidity = self.source.open()
        if self.uidvalidity != known_uidvalidity:
            if known_uidvalidity:
                log.warning("mailbox %s: UIDVALIDITY changed from %s to %s; reading the folder "
                            "again (messages stored before are recognised)", name,
                            known_uidvalidity, self.uidvalidity)  # fmt: skip
            mailboxes.set_uidvalidity(name, self.owner, self.uidvalidity)
        above = mailboxes.highest(name, self.uidvalidity) if self.source.numbered else 0
        listed = self.source.listing(above)
        known = mailboxes.recorded(name, self.uidvalidity, listed)
        leftovers = [uid for uid in listed if known.get(uid, ("",))[0] in FINISHED]
        if leftovers and self.mailbox.after != "keep":
            # Stored by a poll that ended before it could move or delete them.
            self.source.finish(leftovers)
            self.result.finished = len(leftovers)
            log.info("mailbox %s: finished %d stored messages left on the server", name,
                     len(leftovers))  # fmt: skip
        todo = [uid for uid in listed if known.get(uid, ("retrying",))[0] == "retrying"]
        self.result.waiting = max(0, len(todo) - self.mailbox.max_per_poll)
        self._take(todo[: self.mailbox.max_per_poll])

    def _take(self, todo: list[str]) -> None:
        sizes = self.source.sizes(todo)
        group: list[Seen] = []
        for uid in todo:
            self._keep_lease()
            size = sizes.get(uid)
            if size is None:
                continue  # expunged since the listing
            number = int(uid) if self.source.numbered else 0
            if size > self.limit:
                reason = f"{size} bytes, over [smtp] max_message_size ({self.limit})"
                group.append(Seen(uid, number, size, state="too_large", error=reason))
                continue
            try:
                raw = self.source.fetch(uid)
            except Exception as exc:
                self._commit(group, finish=False)
                raise self._trouble(uid, describe(exc)) from exc
            if raw is None:
                continue
            self.message_ids[uid], key = message_identity(raw)
            group.append(Seen(uid, number, len(raw), key, raw))
            if len(group) >= GROUP or sum(s.size for s in group) >= GROUP_BYTES:
                self._commit(group)
                group = []
        self._commit(group)

    def _keep_lease(self) -> None:
        if time.monotonic() >= self.renew_at:
            if not mailboxes.renew(self.mailbox.name, self.owner):
                raise LeaseLost(f"mailbox {self.mailbox.name!r}: another process took it over")
            self.renew_at = time.monotonic() + mailboxes.LEASE.total_seconds() / 2

    def _commit(self, group: list[Seen], *, finish: bool = True) -> None:
        if not group:
            return
        name = self.mailbox.name
        outcomes = mailboxes.record(
            name,
            self.owner,
            self.uidvalidity,
            group,
            source=self.mailbox.source,
            rcpt_to=self.rcpt_to,
        )
        self.renew_at = time.monotonic() + mailboxes.LEASE.total_seconds() / 2
        for seen, state, inbound_id in outcomes:
            message_id = self.message_ids.pop(seen.uid, "")
            if state == "stored":
                self.result.stored.append((seen.uid, inbound_id, message_id))
                log.info("mailbox %s: UID %s <%s> stored as inbound %s", name, seen.uid,
                         message_id, inbound_id)  # fmt: skip
            elif state == "duplicate":
                self.result.duplicates += 1
                log.info("mailbox %s: UID %s <%s> was stored before; skipped", name,
                         seen.uid, message_id)  # fmt: skip
            else:
                self.result.rejected.append(f"UID {seen.uid}: {state}: {seen.error}")
                log.warning("mailbox %s: UID %s not stored (%s): %s", name, seen.uid, state,
                            seen.error)  # fmt: skip
        if self.result.stored:
            self.on_stored()
        if finish:
            self.source.finish([seen.uid for seen, state, _ in outcomes if state in FINISHED])

    def _trouble(self, uid: str, reason: str) -> _Stop:
        """Record a failed fetch of `uid`; the exception that ends the poll."""
        state, attempts = mailboxes.record_trouble(
            self.mailbox.name, self.owner, self.uidvalidity, uid, reason,
            give_up_after=GIVE_UP_AFTER,
        )  # fmt: skip
        if state == "failed":
            self.result.rejected.append(f"UID {uid}: failed: {reason}")
            return _Stop(f"UID {uid}: {reason}; recorded as failed after {attempts} tries")
        return _Stop(f"UID {uid}: {reason} (try {attempts} of {GIVE_UP_AFTER})")
