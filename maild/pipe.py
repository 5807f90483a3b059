"""`maild pipe`: accept one message from an MTA on standard input.

The message is committed to the inbound table before we exit 0 — on the fast path this
imports only the config reader and sqlite3 (`store.accept`), because the MTA starts one
process per message. When a `maild run` daemon is alive (its heartbeat in the database is
fresh) the daemon processes the message; otherwise this process processes what is
pending and tries to deliver the notices itself, so a pipe-only set-up works too.

Exit codes (sysexits): 0 accepted; 65 unusable data (empty, over the size limit), which
the MTA bounces; 75 temporary failure (locked or unreachable database, bad config), which
the MTA retries; 64 wrong usage.
"""

from __future__ import annotations

import sys

__all__ = ["EX_DATAERR", "EX_OK", "EX_TEMPFAIL", "EX_USAGE", "pipe"]

EX_OK, EX_USAGE, EX_DATAERR, EX_TEMPFAIL = 0, 64, 65, 75


def _fail(code: int, reason: str) -> int:
    print(f"maild pipe: {reason}", file=sys.stderr)
    return code


def pipe(config_path: str, *, mail_from: str | None, recipients: list[str], stdin=None) -> int:
    from maild.config_lean import read_pipe_settings

    try:
        settings = read_pipe_settings(config_path)
    except ValueError as exc:
        return _fail(EX_TEMPFAIL, f"configuration error: {exc}")
    raw = (stdin or sys.stdin.buffer).read(settings.max_message_size + 1)
    if not raw.strip():
        return _fail(EX_DATAERR, "empty message")
    if len(raw) > settings.max_message_size:
        return _fail(EX_DATAERR, f"message larger than {settings.max_message_size} bytes")
    mail_from = _storable(mail_from) if mail_from is not None else None
    recipients = [_storable(r) for r in recipients]
    try:
        alive = _accept(settings.store_url, raw, mail_from, recipients)
    except (ValueError, UnicodeError) as exc:
        return _fail(EX_DATAERR, f"unusable message: {type(exc).__name__}: {exc}")
    except Exception as exc:
        return _fail(EX_TEMPFAIL, f"could not store the message: {type(exc).__name__}: {exc}")
    if not alive:
        _process_here(config_path)
    return EX_OK


def _storable(address: str) -> str:
    """An envelope address as text a database can keep (the MTA may pass raw bytes)."""
    text = address.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join(ch for ch in text if ord(ch) >= 32 and ord(ch) != 127)


def _accept(url: str, raw: bytes, mail_from: str | None, recipients: list[str]) -> bool:
    from store.accept import SchemaMissing, accept_message, daemon_alive

    args = {"source": "pipe", "mail_from": mail_from, "rcpt_to": recipients}
    try:
        _, heartbeat = accept_message(url, raw, **args)
    except SchemaMissing:
        from store.db import close_database, open_database

        open_database(url)
        close_database()
        _, heartbeat = accept_message(url, raw, **args)
    return daemon_alive(heartbeat)


def _process_here(config_path: str) -> None:
    """No daemon: process the backlog and send its notices now; errors stay in the queue."""
    import logging
    import os

    from maild.config import load
    from maild.errors import ConfigError
    from maild.notices import Notices
    from maild.pipeline import Pipeline
    from maild.worker import process_all_now
    from store.db import close_database, open_database, signing_secret

    log = logging.getLogger("maild.pipe")
    owner = f"pipe:{os.getpid()}"
    try:
        config = load(config_path)
    except ConfigError as exc:
        # Stored already; the daemon will process it once the config is fixed.
        log.error("maild pipe: message stored, processing deferred: %s", exc.problems[0])
        return
    try:
        open_database(config.store.url)
        pipeline = Pipeline(
            config, secret=signing_secret(), notices=Notices(config.paths.templates)
        )
        process_all_now(pipeline, owner)
    except Exception:
        # The message is stored; the daemon (or the next pipe) will pick it up.
        log.exception("maild pipe: processing deferred")
    finally:
        close_database()
