"""Mailbox polling inside `maild run`: one thread per enabled mailbox.

Each thread polls its mailbox when it is due (`maild.fetch.poll`), wakes the processing
once messages are stored, and sleeps until the next poll — or, with `idle = true`, sits in
IMAP IDLE on a connection of its own and polls as soon as the server announces new mail.
Every network call has the mailbox's `timeout`, and each mailbox has its own thread, so a
hung or failing server delays nobody else: not the other mailboxes, the SMTP intake or
the scheduler. With several daemons on one database, the lease in `store.mailboxes`
makes sure only one of them polls a mailbox at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from maild.config import Config
from maild.fetch import MAX_BACKOFF, PollResult, local_owner, poll
from maild.mailbox_config import Mailbox
from store import mailboxes
from store.clock import now

__all__ = ["BUSY_RETRY", "run_poller", "start_pollers"]

log = logging.getLogger(__name__)

BUSY_RETRY = 10.0  # seconds between tries while another process polls the mailbox


def start_pollers(
    config: Config,
    stop: threading.Event,
    wake: threading.Event,
    spawn: Callable[..., None],
) -> None:
    """Start a polling thread for each enabled mailbox with `spawn(name, target, *args)`."""
    for mailbox in config.mailboxes:
        if mailbox.enabled:
            spawn(f"mailbox-{mailbox.name}", run_poller, config, mailbox, stop, wake)
            log.info("maild: polling %s mailbox %s on %s every %ss%s", mailbox.protocol,
                     mailbox.name, mailbox.host, mailbox.interval,
                     " (IDLE)" if mailbox.idle else "")  # fmt: skip


def run_poller(config: Config, mailbox: Mailbox, stop: threading.Event, wake: threading.Event):
    """Poll `mailbox` until `stop` is set."""
    owner = local_owner()
    watcher = None
    if mailbox.idle:
        from maild.mailbox_imap import ImapWatcher

        watcher = ImapWatcher(mailbox)
    announced = False
    try:
        while not stop.is_set():
            if watcher is not None:
                watcher.ready()  # before the poll: what arrives during it is announced
            result = _poll(config, mailbox, owner, announced, wake)
            delay = _delay(mailbox, result)
            if watcher is not None and result is not None and not result.error:
                announced = watcher.wait(delay, stop)
            else:
                announced = False
                stop.wait(delay)
    finally:
        if watcher is not None:
            watcher.close()


def _poll(config, mailbox, owner, announced, wake) -> PollResult | None:
    try:
        result = poll(config, mailbox, owner=owner, force=announced, on_stored=wake.set)
    except Exception:
        # The database, not the mail server: try again later; the thread must live on.
        log.exception("mailbox %s: poll could not run", mailbox.name)
        return None
    if result.stored or result.duplicates or result.rejected:
        log.info("mailbox %s: %d stored, %d duplicates, %d not stored, %d waiting",
                 mailbox.name, len(result.stored), result.duplicates, len(result.rejected),
                 result.waiting)  # fmt: skip
    return result


def _delay(mailbox: Mailbox, result: PollResult | None) -> float:
    """Seconds until this mailbox is due again (as recorded by whoever polled it last)."""
    longest = float(max(mailbox.interval, MAX_BACKOFF))
    if result is None:
        return float(mailbox.interval)
    try:
        state = mailboxes.state_of(mailbox.name)
    except Exception:
        return float(mailbox.interval)
    due = (state.next_poll - now()).total_seconds() if state else 0.0
    if result.busy and result.busy != "not due":
        due = max(due, min(BUSY_RETRY, mailbox.interval))
    return min(max(due, 0.2), longest)
