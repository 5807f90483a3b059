"""Accepting one message durably without loading peewee: the fast path of `maild pipe`.

An MTA starts `maild pipe` once per message, so start-up is most of its cost: this module
speaks DB-API directly (sqlite3, or psycopg for PostgreSQL) and writes the same `inbound`
row the peewee model describes (`store.models.Inbound`). When the schema does not exist
yet it raises `SchemaMissing` and the caller opens the database the usual way once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

__all__ = ["SchemaMissing", "TemporaryStoreError", "accept_message", "daemon_alive"]

_INSERT = (
    "INSERT INTO inbound (raw, mail_from, rcpt_to, source, received, state, attempts, "
    "next_try, lease_owner, last_error, outcome, message_id) VALUES ({p}, {p}, {p}, {p}, {p}, "
    "'pending', 0, {p}, '', '', '', '')"
)
_HEARTBEAT = "SELECT value FROM meta WHERE key = 'daemon_heartbeat'"


class SchemaMissing(Exception):
    """The database has no maild tables yet."""


class TemporaryStoreError(Exception):
    """Locked, unreachable or otherwise busy: worth retrying later."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def accept_message(
    url: str, raw: bytes, *, source: str, mail_from: str | None, rcpt_to: Sequence[str]
) -> tuple[int, datetime | None]:
    """Commit `raw` to the inbound table; return (row id, the daemon's last heartbeat)."""
    moment = _now()
    if url.startswith("sqlite:///"):
        return _accept_sqlite(
            url.removeprefix("sqlite:///"), raw, source, mail_from, rcpt_to, moment
        )
    return _accept_postgresql(url, raw, source, mail_from, rcpt_to, moment)


def _accept_sqlite(path, raw, source, mail_from, rcpt_to, moment):
    import os
    import sqlite3

    if not os.path.exists(path):
        raise SchemaMissing(f"{path} does not exist yet")
    stamp = moment.isoformat(sep=" ")
    try:
        conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    except sqlite3.OperationalError as exc:
        raise TemporaryStoreError(str(exc)) from exc
    try:
        conn.execute("PRAGMA journal_mode=wal")
        conn.execute("PRAGMA synchronous=full")
        conn.execute("BEGIN IMMEDIATE")
        cursor = conn.execute(
            _INSERT.format(p="?"),
            (raw, mail_from, json.dumps(list(rcpt_to)), source, stamp, stamp),
        )
        row_id = cursor.lastrowid
        heartbeat = conn.execute(_HEARTBEAT).fetchone()
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            raise SchemaMissing(str(exc)) from exc
        raise TemporaryStoreError(str(exc)) from exc
    finally:
        conn.close()
    return row_id, _parse_stamp(heartbeat)


def _accept_postgresql(url, raw, source, mail_from, rcpt_to, moment):
    import psycopg

    try:
        conn = psycopg.connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise TemporaryStoreError(str(exc)) from exc
    try:
        with conn.transaction():
            row_id = conn.execute(
                _INSERT.format(p="%s") + " RETURNING id",
                (raw, mail_from, json.dumps(list(rcpt_to)), source, moment, moment),
            ).fetchone()[0]
            heartbeat = conn.execute(_HEARTBEAT).fetchone()
    except psycopg.errors.UndefinedTable as exc:
        raise SchemaMissing(str(exc)) from exc
    except psycopg.OperationalError as exc:
        raise TemporaryStoreError(str(exc)) from exc
    finally:
        conn.close()
    return row_id, _parse_stamp(heartbeat)


def _parse_stamp(row) -> datetime | None:
    try:
        return datetime.fromisoformat(row[0]) if row else None
    except ValueError:
        return None


def daemon_alive(heartbeat: datetime | None, *, within: float = 30.0) -> bool:
    """Whether a `maild run` wrote its heartbeat within the last `within` seconds."""
    return heartbeat is not None and (_now() - heartbeat).total_seconds() < within
