"""The data layer on both backends: schema versioning, the signing secret, concurrent start."""

from __future__ import annotations

import subprocess
import sys

from store.db import SCHEMA_VERSION, close_database, get_meta, open_database, signing_secret
from store.models import MODELS, User
from store.tickets import create_ticket, user_for
from tests.helpers import REPO


def test_fresh_database_gets_every_table_and_records_its_schema_version(db_url):
    db = open_database(db_url)
    try:
        assert set(db.get_tables()) >= {m._meta.table_name for m in MODELS}
        assert get_meta("schema_version") == str(SCHEMA_VERSION)
    finally:
        close_database()


def test_reopening_keeps_data_and_the_signing_secret(db_url):
    open_database(db_url)
    secret = signing_secret()
    user_for("ada@customer.test", "Ada")
    close_database()

    open_database(db_url)
    try:
        assert signing_secret() == secret and len(secret) == 32
        assert User.select().count() == 1
    finally:
        close_database()


def test_two_processes_starting_together_make_one_schema(db_url):
    script = (
        "import sys; from store.db import open_database, signing_secret; "
        "open_database(sys.argv[1]); print(signing_secret().hex())"
    )
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", script, db_url],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=60) for p in starts]

    assert all(p.returncode == 0 for p in starts), [err for _, err in results]
    assert len({out.strip() for out, _ in results}) == 1


def test_a_better_name_fills_an_empty_one_but_never_overwrites(db_url):
    open_database(db_url)
    try:
        assert user_for("ADA@Customer.test").name == ""
        assert user_for("ada@customer.test", "Ada Lovelace").name == "Ada Lovelace"
        assert user_for("ada@customer.test", "someone else").name == "Ada Lovelace"
        assert User.select().count() == 1
    finally:
        close_database()


def test_a_version_1_database_is_migrated_forward(db_url):
    db = open_database(db_url)
    # Back to version 1: the columns and tables added since are not there yet.
    db.execute_sql("DROP TABLE status_changes")
    for index in (
        "first_response_due",
        "first_response_breached_first_response_due",
        "overdue_due",
    ):
        db.execute_sql(f"DROP INDEX IF EXISTS ticket_{index}")
    for column in ("topic", "sla", "first_response_due", "overdue"):
        db.execute_sql(f"ALTER TABLE tickets DROP COLUMN {column}")
    user_for("ada@customer.test")
    db.execute_sql("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    close_database()

    db = open_database(db_url)
    try:
        columns = {c.name for c in db.get_columns("tickets")}
        assert {"topic", "sla", "first_response_due", "overdue"} <= columns
        assert "status_changes" in db.get_tables()
        assert get_meta("schema_version") == str(SCHEMA_VERSION)
        assert User.select().count() == 1
    finally:
        close_database()


def test_version_5_drops_the_single_column_first_response_index(db_url):
    db = open_database(db_url)
    db.execute_sql("CREATE INDEX ticket_first_response_due ON tickets (first_response_due)")
    db.execute_sql("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    close_database()

    db = open_database(db_url)
    try:
        indexes = {i.name for i in db.get_indexes("tickets")}
        assert "ticket_first_response_due" not in indexes
        assert "ticket_first_response_breached_first_response_due" in indexes
    finally:
        close_database()


def test_deferred_inserts_store_awkward_values_exactly(db_url):
    """Rows written together at the end of `deferred_inserts` (COPY on PostgreSQL) keep
    every value as it was: tabs, line breaks, backslashes, quotes, non-ASCII text, every
    byte value, NULLs and microseconds."""
    from datetime import datetime

    from store import sql
    from store.db import transaction
    from store.models import Outbound

    texts = ["tab\there", "line\nbreak\r\n", "back\\slash \\N \\.", "quote ' \" ;", "Grüße 🎫", ""]
    raw = bytes(range(256)) * 3
    when = datetime(2026, 11, 29, 8, 7, 6, 543210)
    open_database(db_url)
    try:
        ticket = create_ticket(
            number="000001", subject="s", requester=user_for("ada@customer.test"),
            source="email", status="open", created=when, department=None, sla=None,
            due=None, first_response_due=None,
        )  # fmt: skip
        with transaction(), sql.deferred_inserts():
            for n, text in enumerate(texts):
                sql.insert_later(Outbound, {
                    "kind": "k", "mail_from": text, "recipients": "[]", "message_id": f"{n}@x",
                    "raw": raw + text.encode(), "ticket": ticket.id if n % 2 else None,
                    "next_try": when, "last_error": text,
                })  # fmt: skip
            assert Outbound.select().count() == 0  # not yet: written at the end
        rows = list(Outbound.select().order_by(Outbound.id))
        assert [r.mail_from for r in rows] == texts == [r.last_error for r in rows]
        assert [bytes(r.raw) for r in rows] == [raw + t.encode() for t in texts]
        assert [r.ticket_id for r in rows] == [ticket.id if n % 2 else None for n in range(6)]
        assert {r.next_try for r in rows} == {when}
    finally:
        close_database()
