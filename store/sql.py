"""Hot-path statements with their SQL built once per model and column set.

Processing a message runs about a dozen small statements; peewee's query builder spends
more CPU composing each one than SQLite spends running it. These helpers build the SQL
from the model's own metadata once, cache it, and bind values through the fields'
`db_value`, so the models stay the single description of the schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from peewee import Model, SqliteDatabase

from store.models import database

__all__ = ["execute", "exists", "insert", "scalar"]

_inserts: dict[tuple, str] = {}


def _defaults(model: type[Model]) -> dict[str, Any]:
    return {
        name: field.default
        for name, field in model._meta.fields.items()
        if field.default is not None and not field.primary_key
    }


def _is_sqlite(model: type[Model]) -> bool:
    return isinstance(model._meta.database.obj, SqliteDatabase)


def insert(model: type[Model], values: Mapping[str, Any], *, ignore_conflict: bool = False):
    """INSERT one row, filling the model's defaults; return the new primary key.

    With `ignore_conflict`, a row that would violate a unique key is skipped (None).
    """
    row = {
        name: default() if callable(default) else default
        for name, default in _defaults(model).items()
        if name not in values
    }
    row.update(values)
    sqlite = _is_sqlite(model)
    key = (model, tuple(row), ignore_conflict, sqlite)
    sql = _inserts.get(key)
    fields = model._meta.fields
    if sql is None:
        param = "?" if sqlite else "%s"
        columns = ", ".join(f'"{fields[name].column_name}"' for name in row)
        marks = ", ".join(param for _ in row)
        sql = f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES ({marks})'
        if ignore_conflict:
            sql += " ON CONFLICT DO NOTHING"
        pk = model._meta.primary_key
        if not sqlite and pk.name not in row:
            sql += f' RETURNING "{pk.column_name}"'
        _inserts[key] = sql
    params = [fields[name].db_value(value) for name, value in row.items()]
    cursor = model._meta.database.execute_sql(sql, params)
    if model._meta.primary_key.name in row:
        return row[model._meta.primary_key.name]
    if sqlite:
        return cursor.lastrowid if cursor.rowcount else None
    found = cursor.fetchone()
    return found[0] if found else None


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
