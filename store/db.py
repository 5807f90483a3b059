"""Opening the database named by `[store] url` and keeping its schema current.

SQLite (the embedded default) runs in WAL mode with foreign keys, a busy timeout and full
fsync on commit, so a message acknowledged to a sender survives a crash. PostgreSQL is
reached through psycopg 3. Schema changes are numbered steps in `MIGRATIONS`; the number
applied is kept in the `meta` table and every start brings the database up to date under
a lock, so two processes starting together never race.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

from peewee import SQL, Database, Field, PostgresqlDatabase, SqliteDatabase

from store.models import MODELS, Meta, database

__all__ = [
    "SCHEMA_VERSION",
    "close_database",
    "get_meta",
    "is_postgresql",
    "open_database",
    "set_meta",
    "share_write_lock",
    "signing_secret",
    "transaction",
]

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "synchronous": "full",
}


def _create_tables(db: Database) -> None:
    db.create_tables(MODELS)


def _add_missing_columns(db: Database) -> None:
    """Columns added to existing tables since version 1.

    A fresh database already got them from `_create_tables` (which builds today's models),
    so every step here checks first: migrations are idempotent.
    """
    from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

    migrator = SqliteMigrator(db) if isinstance(db, SqliteDatabase) else PostgresqlMigrator(db)
    existing_tables = set(db.get_tables())
    db.create_tables([m for m in MODELS if m._meta.table_name not in existing_tables])
    for model in MODELS:
        table = model._meta.table_name
        existing = {column.name for column in db.get_columns(table)}
        for field in model._meta.sorted_fields:
            if field.column_name not in existing:
                migrate(_add_column(migrator, table, field))
    db.create_tables(MODELS)  # new tables, and indexes of new columns (IF NOT EXISTS)


def _add_column(migrator, table: str, field: Field):
    """Add `field` to `table` in place, without rebuilding the table.

    peewee adds a NOT NULL column as a nullable one and then, on SQLite, rebuilds the table
    to make it NOT NULL: its DROP TABLE (foreign keys are on) fails on a RESTRICT reference
    and cascades deletes into child tables. A constant default written into the column's
    DDL lets both SQLite and PostgreSQL add the column NOT NULL in one ALTER TABLE.
    """
    field = field.clone()
    # The column's indexes come from `create_tables`, named as in a fresh database.
    field.index = field.unique = False
    literal = None if callable(field.default) else _sql_literal(field.db_value(field.default))
    if field.null or literal is None:
        return migrator.add_column(table, field.column_name, field)
    field.constraints = [*(field.constraints or ()), SQL(f"DEFAULT {literal}")]
    return migrator.add_column(table, field.column_name, field, allow_not_null=True)


def _sql_literal(value) -> str | None:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return None


def _drop_first_response_due_index(db: Database) -> None:
    # The single-column index let PostgreSQL's planner skip the sweep's composite
    # (first_response_breached, first_response_due) index and filter the flag row by row.
    db.execute_sql("DROP INDEX IF EXISTS ticket_first_response_due")


# Each step takes the database from version N to N+1; append, never edit a released step.
MIGRATIONS: list[Callable[[Database], None]] = [
    _create_tables,
    _add_missing_columns,  # 2: agents, routing and SLA columns, status history
    _add_missing_columns,  # 3: SLA breach bookkeeping
    _add_missing_columns,  # 4: organisations, their domains; users' organisation and primary flag
    _drop_first_response_due_index,  # 5
    _add_missing_columns,  # 6: the agent who wrote a response or note
    _add_missing_columns,  # 7: polled mailboxes: their state and the messages seen in them
    _add_missing_columns,  # 8: ticket tags and custom field values
    _add_missing_columns,  # 9: replies' untrimmed text and HTML
    _add_missing_columns,  # 10: outbound drafts, composed when sent
]
SCHEMA_VERSION = len(MIGRATIONS)


def connect(url: str, *, durable: bool = True) -> Database:
    """A Database for `url`, not yet bound to the models."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        pragmas = SQLITE_PRAGMAS if durable else {**SQLITE_PRAGMAS, "synchronous": "normal"}
        return SqliteDatabase(str(path), pragmas=pragmas)
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"unsupported database url {url!r}")
    return PostgresqlDatabase(
        unquote(parts.path.lstrip("/")) or "postgres",
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def open_database(url: str, *, migrate: bool = True, durable: bool = True) -> Database:
    """Bind the models to the database at `url` and bring its schema up to date.

    `durable=False` lets SQLite commit without an fsync (WAL, synchronous=NORMAL): still
    safe against a crash of the process, and what a processing worker needs — the mail
    it works on was fsynced when it was accepted, and a power cut only sends the worker
    back over its last batch. Anything that acknowledges mail keeps the default.
    """
    db = connect(url, durable=durable)
    database.initialize(db)
    db.connect(reuse_if_open=True)
    if migrate:
        _migrate(db)
    return db


def close_database() -> None:
    if database.obj is not None and not database.obj.is_closed():
        database.obj.close()


def is_postgresql(db: Database | None = None) -> bool:
    return isinstance(db or database.obj, PostgresqlDatabase)


_write_lock = None


def share_write_lock(lock) -> None:
    """Queue this process's SQLite writers behind `lock` (shared with sibling processes).

    SQLite's own busy handler waits for a locked database by sleeping in steps of up to
    100 ms, so two busy writers — the SMTP intake and a processing worker — would spend
    much of their time asleep. A lock the daemon's processes share hands the database
    over the moment it is free. Processes that don't share it (a `maild pipe`) still
    wait politely through the busy timeout.
    """
    global _write_lock
    _write_lock = lock


@contextmanager
def _serialised(db: Database, lock):
    with lock, db.atomic("IMMEDIATE") as txn:
        yield txn


def transaction(db: Database | None = None) -> AbstractContextManager:
    """A write transaction; on SQLite it takes the write lock up front.

    A deferred SQLite transaction that reads and then writes fails at once with
    SQLITE_BUSY when another process wrote in between; taking the lock first makes
    concurrent writers wait for each other (busy_timeout) instead.
    """
    db = db or database.obj
    if isinstance(db, SqliteDatabase) and db.transaction_depth() == 0:
        if _write_lock is not None:
            return _serialised(db, _write_lock)
        return db.atomic("IMMEDIATE")
    return db.atomic()


def _migrate(db: Database) -> None:
    with transaction(db):
        if is_postgresql(db):
            db.execute_sql("SELECT pg_advisory_xact_lock(7252671)")
        db.create_tables([Meta])
        version = int(get_meta("schema_version", "0"))
        for step in MIGRATIONS[version:]:
            step(db)
        if version != SCHEMA_VERSION:
            set_meta("schema_version", str(SCHEMA_VERSION))
        if not get_meta("secret"):
            set_meta("secret", secrets.token_hex(32))


def get_meta(key: str, default: str = "") -> str:
    row = Meta.get_or_none(Meta.key == key)
    return row.value if row else default


def set_meta(key: str, value: str) -> None:
    Meta.insert(key=key, value=value).on_conflict(
        conflict_target=[Meta.key], update={Meta.value: value}
    ).execute()


def signing_secret() -> bytes:
    """The key behind signed Message-IDs and reply addresses; made once per database."""
    return bytes.fromhex(get_meta("secret"))
