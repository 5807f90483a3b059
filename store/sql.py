"""Hot-path statements with their SQL built once per model and column set.

Processing a message runs about a dozen small statements; peewee's query builder spends
more CPU composing each one than SQLite spends running it. These helpers build the SQL
from the model's own metadata once, cache it, and bind values through the fields'
`db_value`, so the models stay the single description of the schema.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from peewee import Model, SqliteDatabase

from store.models import database

__all__ = ["deferred_inserts", "execute", "exists", "insert", "insert_later", "scalar"]

_inserts: dict[tuple, str] = {}
_model_defaults: dict[type[Model], tuple] = {}
_deferred: ContextVar[list | None] = ContextVar("deferred_inserts", default=None)


def _defaults(model: type[Model]) -> tuple[tuple[str, Any, bool], ...]:
    """(column, default, whether the default is a callable) for each defaulted column."""
    found = _model_defaults.get(model)
    if found is None:
        found = _model_defaults[model] = tuple(
            (name, field.default, callable(field.default))
            for name, field in model._meta.fields.items()
            if field.default is not None and not field.primary_key
        )
    return found


def _is_sqlite(model: type[Model]) -> bool:
    return isinstance(model._meta.database.obj, SqliteDatabase)


def _with_defaults(model: type[Model], values: Mapping[str, Any]) -> dict[str, Any]:
    row = {
        name: default() if call else default
        for name, default, call in _defaults(model)
        if name not in values
    }
    row.update(values)
    return row


def _insert_sql(model: type[Model], columns: tuple, ignore_conflict: bool, returning: bool) -> str:
    """A one-row INSERT; with `returning`, on PostgreSQL it returns the new primary key
    (SQLite has `lastrowid` for that)."""
    sqlite = _is_sqlite(model)
    key = (model, columns, ignore_conflict, sqlite, returning)
    sql = _inserts.get(key)
    if sql is None:
        fields = model._meta.fields
        param = "?" if sqlite else "%s"
        names = ", ".join(f'"{fields[name].column_name}"' for name in columns)
        marks = ", ".join(param for _ in columns)
        sql = f'INSERT INTO "{model._meta.table_name}" ({names}) VALUES ({marks})'
        if ignore_conflict:
            sql += " ON CONFLICT DO NOTHING"
        pk = model._meta.primary_key
        if returning and not sqlite and pk.name not in columns:
            sql += f' RETURNING "{pk.column_name}"'
        _inserts[key] = sql
    return sql


def insert(model: type[Model], values: Mapping[str, Any], *, ignore_conflict: bool = False):
    """INSERT one row, filling the model's defaults; return the new primary key.

    With `ignore_conflict`, a row that would violate a unique key is skipped (None).
    """
    row = _with_defaults(model, values)
    sqlite = _is_sqlite(model)
    sql = _insert_sql(model, tuple(row), ignore_conflict, returning=True)
    fields = model._meta.fields
    params = [fields[name].db_value(value) for name, value in row.items()]
    cursor = model._meta.database.execute_sql(sql, params)
    if model._meta.primary_key.name in row:
        return row[model._meta.primary_key.name]
    if sqlite:
        return cursor.lastrowid if cursor.rowcount else None
    found = cursor.fetchone()
    return found[0] if found else None


def insert_later(model: type[Model], values: Mapping[str, Any], *, ignore_conflict: bool = False):
    """INSERT a row now (returning its id), or at the end of `deferred_inserts()` (None)."""
    pending = _deferred.get()
    if pending is None:
        return insert(model, values, ignore_conflict=ignore_conflict)
    pending.append((model, _with_defaults(model, values), ignore_conflict))
    return None


@contextmanager
def deferred_inserts() -> Iterator[None]:
    """Collect `insert_later` rows and write them at the end, a table at a time.

    For work that writes many small rows at once (the SLA sweep announcing a hundred
    breaches), where a statement per row is most of the cost. Use it inside a transaction;
    rows keep their order, so ids still follow the order of events.
    """
    pending: list = []
    token = _deferred.set(pending)
    try:
        yield
    finally:
        _deferred.reset(token)
    groups: dict[tuple, list[dict]] = {}
    for model, row, ignore_conflict in pending:
        groups.setdefault((model, tuple(row), ignore_conflict), []).append(row)
    for (model, columns, ignore_conflict), rows in groups.items():
        fields = model._meta.fields
        params = [[fields[name].db_value(row[name]) for name in columns] for row in rows]
        if _is_sqlite(model) or ignore_conflict:
            sql = _insert_sql(model, columns, ignore_conflict, returning=False)
            model._meta.database.cursor().executemany(sql, params)
        else:
            _copy(model, columns, params)


def _copy(model: type[Model], columns: tuple, params: list[list]) -> None:
    """Load rows into PostgreSQL with COPY: a stream of rows, one statement, where
    `executemany` costs a statement (client and server) per row."""
    fields = model._meta.fields
    names = ", ".join(f'"{fields[name].column_name}"' for name in columns)
    statement = f'COPY "{model._meta.table_name}" ({names}) FROM STDIN'
    with model._meta.database.cursor() as cursor, cursor.copy(statement) as copy:
        for row in params:
            copy.write_row(row)


def execute(statement: str, params: list[Any]):
    """Run `statement`, written with ? placeholders, on either back-end; the cursor."""
    if not isinstance(database.obj, SqliteDatabase):
        statement = statement.replace("?", "%s")
    return database.execute_sql(statement, params)


def scalar(model: type[Model], sql: str, params: list[Any]):
    """The first column of the first row of `sql` (written with ? placeholders), or None."""
    row = execute(sql, params).fetchone()
    return row[0] if row else None


def exists(model: type[Model], sql: str, params: list[Any]) -> bool:
    return scalar(model, sql, params) is not None
