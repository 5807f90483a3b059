"""The mailbox commands: `maild fetch [--mailbox NAME]` and `maild mailbox status`.

`maild fetch` polls now, whether or not `maild run` is running (the lease keeps it from
polling a mailbox a daemon is polling at that moment), and prints what it stored. With
no daemon alive it then processes what it stored and sends the notices, as `maild pipe`
does. `maild mailbox status` shows each mailbox's state, counts, last error and the
messages that were not stored. Both print plain text and return the exit status.
"""

from __future__ import annotations

import sys
from argparse import Namespace

from maild.config import Config

__all__ = ["dispatch", "fetch", "status"]


def dispatch(config: Config, args: Namespace) -> int:
    from store.db import close_database, open_database

    open_database(config.store.url)
    try:
        return fetch(config, args) if args.command == "fetch" else status(config, args)
    finally:
        close_database()


def fetch(config: Config, args: Namespace) -> int:
    from maild.fetch import local_owner, poll

    chosen = [m for m in config.mailboxes if args.mailbox in (None, m.name)]
    if args.mailbox and not chosen:
        print(f"no mailbox {args.mailbox!r} in {config.path}", file=sys.stderr)
        return 1
    if not args.mailbox:
        chosen = [m for m in chosen if m.enabled]
    if not chosen:
        print(f"no enabled [[mailbox]] in {config.path}")
        return 0
    owner, failed, stored = local_owner(), 0, 0
    for mailbox in chosen:
        result = poll(config, mailbox, owner=owner, force=True)
        stored += len(result.stored)
        failed += bool(result.error)
        print(_summary(result))
        for uid, inbound_id, message_id in result.stored:
            print(f"  UID {uid}: stored as inbound {inbound_id} <{message_id}>")
        for line in result.rejected:
            print(f"  {line}")
    if stored:
        _process_unless_daemon(config)
    return 1 if failed else 0


def _summary(result) -> str:
    if result.busy:
        return f"{result.mailbox}: not polled: {result.busy}"
    text = f"{result.mailbox}: stored {len(result.stored)}"
    if result.duplicates:
        text += f", {result.duplicates} stored before"
    if result.rejected:
        text += f", {len(result.rejected)} not stored"
    if result.finished:
        text += f", {result.finished} left over moved or deleted"
    if result.waiting:
        text += f", {result.waiting} waiting for the next poll"
    if result.error:
        text += f"; error: {result.error}"
    return text


def _process_unless_daemon(config: Config) -> None:
    """No `maild run` alive: process the backlog and send the notices from here."""
    import logging
    import os
    from datetime import datetime

    from maild.daemon import build_pipeline
    from maild.worker import process_all_now
    from store.accept import daemon_alive
    from store.db import get_meta

    stamp = get_meta("daemon_heartbeat")
    try:
        heartbeat = datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        heartbeat = None
    if daemon_alive(heartbeat):
        return
    owner = f"fetch:{os.getpid()}"
    try:
        process_all_now(build_pipeline(config), owner)
    except Exception:
        # Stored already: the daemon, or the next `maild fetch`, processes it.
        logging.getLogger(__name__).exception("maild fetch: processing deferred")


def status(config: Config, args: Namespace) -> int:
    from store.mailboxes import problems, states

    if not config.mailboxes:
        print(f"no [[mailbox]] in {config.path}")
        return 0
    known = {row.name: row for row in states()}
    print("name\tprotocol\tserver\tstate\tlast poll\tstored\tstored before\tnot stored\tlast error")
    for mailbox in config.mailboxes:
        row = known.get(mailbox.name)
        server = f"{mailbox.host}:{mailbox.server_port}"
        if mailbox.protocol == "imap":
            server += f"/{mailbox.folder}"
        print("\t".join([mailbox.name, mailbox.protocol, server, _state(mailbox, row),
                         _when(row.last_poll if row else None),
                         *(str(getattr(row, k, 0)) for k in ("stored", "duplicates", "rejected")),
                         (row.last_error if row else "") or "-"]))  # fmt: skip
        if row is not None and row.failures:
            print(f"  {row.failures} failed polls in a row; next attempt {_when(row.next_poll)}")
        for message in problems(mailbox.name):
            print(f"  UID {message.uid}: {message.state}: {message.error}")
    return 0


def _state(mailbox, row) -> str:
    if not mailbox.enabled:
        return "disabled"
    if row is None or row.last_poll is None:
        return "never polled"
    return "error" if row.failures else "ok"


def _when(moment) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "-"
