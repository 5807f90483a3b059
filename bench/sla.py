#!/usr/bin/env python3
"""SLA sweep benchmark: sweep time with many open tickets of which few are due.

    python bench/sla.py [--sizes 10000,1000000] [--backend sqlite|postgresql|both]

Prints figures and asserts nothing (see bench/README.md, "SLA sweep", for the target and the
results). For each back-end and size it makes a fresh database through
`store.db.open_database`, bulk-loads N open tickets of which `--due` (100) are past a due time,
runs ANALYZE, builds the pipeline like the daemon does and times `maild.sweep.sweep`: the first
sweep (announces the due tickets and queues their alerts) and then the empty sweep that the
scheduler repeats every minute. It shows the plan of every ticket SELECT the sweep ran. SQLite
runs in a temporary directory; PostgreSQL gets a fresh `maild_bench_<random>` database on the
server of $MAILD_BENCH_PG (default postgresql://postgres@127.0.0.1:5432/test), dropped in a
`finally`. Every step runs under `--timeout`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import secrets
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # import maild, store and tests from this tree

PG_ADMIN_URL = os.environ.get("MAILD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 11, 28, 12, 0)  # naive UTC: the moment of the first sweep
SPREAD = timedelta(days=30)  # not-yet-due tickets fall due over the next 30 days
MANAGER = "boss@helpdesk.test"
ORG = {
    "sla": [{"name": "fast", "schedule": "24x7", "resolution_hours": 2}],
    "department": [{"name": "Support", "manager": MANAGER}],
}
COPY_CHUNK = 50_000


def say(*args) -> None:
    print(*args, flush=True)


class Timeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int, what: str):
    """Raise Timeout in this (main) thread if the block runs longer than `seconds`."""

    def expired(*_):
        raise Timeout(f"{what}: over {seconds}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------------------------------------
# Bulk loading


def row_layout(model, varying: tuple[str, ...]) -> tuple[list[str], tuple]:
    """(column names, constant tail): `varying` columns first, then every other column of
    `model` with its default (so columns other engineers add keep valid values)."""
    fields = model._meta.fields
    columns = [fields[name].column_name for name in varying]
    constants = []
    for name, field in fields.items():
        if name in varying or field.primary_key:
            continue
        default = field.default() if callable(field.default) else field.default
        if default is None and not field.null:
            raise SystemExit(f"{model.__name__}.{name} has no default: add it to the loader")
        columns.append(field.column_name)
        constants.append(field.db_value(default))
    return columns, tuple(constants)


def due_slots(n: int, due: int) -> dict[int, int]:
    """Row index -> k for the due tickets: spread over the table, not clustered at one end."""
    due = min(due, n)
    return {k * n // due: k for k in range(due)}


TICKET_VARYING = ("number", "requester", "status", "created", "updated", "due",
                  "first_response_due", "first_response_at", "closed", "overdue",
                  "first_response_breached")  # fmt: skip
TICKET_FIXED = {"subject": "Printer on fire", "department": "Support", "sla": "fast"}


def ticket_rows(n: int, users: list[int], due: int, closed: int, flagged: bool):
    """The TICKET_VARYING values of n tickets of plan "fast" (2 h), department Support.

    Half the due tickets missed their first response, the other half their resolution; every
    other open ticket falls due in the next 30 days. With `closed`, that many of the other
    tickets are closed with past due times, as closed tickets look when closing does not clear
    their due times (a what-if, off by default): flags clear (closed in time) or, with
    `flagged`, set (both targets were missed and announced before the ticket was closed)."""
    late = due_slots(n, due)
    step = SPREAD / max(n, 1)
    closed_left = closed
    hour = timedelta(hours=1)
    for i in range(n):
        number, requester = f"{i + 1:08d}", users[i % len(users)]
        k = late.get(i)
        if k is not None and k % 2 == 0:  # first response missed, resolution still ahead
            created = NOW - timedelta(hours=1, minutes=k)
            missed = NOW - timedelta(minutes=k + 1)
            yield (number, requester, "open", created, created, NOW + hour, missed, None, None,
                   False, False)  # fmt: skip
        elif k is not None:  # resolution missed, the first response was made
            created = NOW - timedelta(hours=3, minutes=k)
            missed = NOW - timedelta(minutes=k + 1)
            yield (number, requester, "open", created, created, missed, None, created, None,
                   False, False)  # fmt: skip
        elif closed_left:
            closed_left -= 1
            created = NOW - 2 * SPREAD + step * i
            yield (number, requester, "closed", created, created + hour, created + 2 * hour,
                   created + hour, created + hour, created + hour, flagged, flagged)  # fmt: skip
        else:
            created = NOW - hour
            due_at = NOW + hour + step * i
            yield (number, requester, "open", created, created, due_at, due_at - hour / 2, None,
                   None, False, False)  # fmt: skip


def insert_rows(db, backend: str, table: str, columns: list[str], rows) -> None:
    """executemany on SQLite, COPY on PostgreSQL; in the caller's transaction."""
    if backend == "sqlite":
        marks = ", ".join("?" for _ in columns)
        db.connection().executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
        )
        return
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with db.connection().cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def load(db, backend: str, n: int, n_users: int, due: int, closed: int, flagged: bool) -> None:
    """Insert n_users users and n tickets in one transaction."""
    from store.models import Ticket, User

    columns, constants = row_layout(Ticket, TICKET_VARYING + tuple(TICKET_FIXED))
    tail = tuple(TICKET_FIXED.values()) + constants
    user_columns, user_constants = row_layout(User, ("email", "name", "created"))
    joined = NOW - 3 * SPREAD
    with db.atomic():
        insert_rows(db, backend, "users", user_columns,
                    [(f"customer{i}@customer.test", f"Customer {i}", joined, *user_constants)
                     for i in range(n_users)])  # fmt: skip
        user_ids = [r[0] for r in db.execute_sql("SELECT id FROM users ORDER BY id").fetchall()]
        rows = (r + tail for r in ticket_rows(n, user_ids, due, closed, flagged))
        insert_rows(db, backend, "tickets", columns, rows)


def analyze(db, backend: str) -> None:
    if backend == "sqlite":
        db.execute_sql("ANALYZE")
    else:
        # VACUUM as autovacuum would have by now (visibility map for index-only scans), and so
        # that autovacuum does not start on the fresh million rows in the middle of the timing.
        db.execute_sql("VACUUM ANALYZE")


# ---------------------------------------------------------------------------------------------
# Timing the sweep


class Recorder:
    """Counts the statements the sweep sends through peewee's `execute_sql` (BEGIN, COMMIT
    and the bulk writes of alerts and events are not among them) and keeps its statements
    that read tickets in due order (the claims), to EXPLAIN them later."""

    def __init__(self, db) -> None:
        self.db = db
        self.statements = 0
        self.selects: dict[str, tuple] = {}
        inner = db.execute_sql

        def execute_sql(sql, params=None, *args, **kwargs):
            self.statements += 1
            if (
                sql.startswith(("SELECT", "UPDATE"))
                and 'FROM "tickets"' in sql
                and "ORDER BY" in sql
            ):
                self.selects.setdefault(sql, params)
            return inner(sql, params, *args, **kwargs)

        db.execute_sql = execute_sql

    def close(self) -> None:
        with contextlib.suppress(AttributeError):
            del self.db.execute_sql


def time_composing(pipeline, count: int) -> float:
    """ms the sender spends composing `count` of the queued alert drafts (render, headers,
    Message-ID), the work the sweep leaves to it; nothing is sent or written."""
    from maild.notify import Draft
    from store.models import Outbound

    rows = Outbound.select(Outbound.draft).where(Outbound.draft != "").limit(count)
    drafts = [Draft.from_json(row.draft) for row in rows]
    notifier = pipeline.notifier
    started = time.perf_counter()
    for draft in drafts:
        notifier.compose_draft(draft, notifier.signer.message_id(draft.number))
    return (time.perf_counter() - started) * 1000


def query_plans(db, backend: str, selects: dict[str, tuple]) -> list[str]:
    out = []
    for sql, params in selects.items():
        out.append(f"  {sql}")
        if backend == "sqlite":
            for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall():
                out.append(f"    -> {row[-1]}")
        else:  # EXPLAIN ANALYZE runs a claim's UPDATE: roll it back
            with db.atomic() as txn:
                plan = db.execute_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
                txn.rollback()
            out += [f"    {row[0]}" for row in plan]
    return out


def bench_one(backend: str, url: str, workdir: Path, n: int, args) -> dict:
    from maild.config import load as load_config
    from maild.daemon import build_pipeline
    from maild.sweep import sweep
    from store.db import close_database, open_database
    from store.models import Outbound, Ticket
    from tests.helpers import write_config

    say(f"[{backend} {n:,}] schema, load ...")
    started = time.perf_counter()
    db = open_database(url)
    load(db, backend, n, args.users, args.due, args.closed, args.closed_flagged)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    analyze(db, backend)
    analyzed = time.perf_counter() - started
    count = db.execute_sql("SELECT count(*) FROM tickets").fetchone()[0]
    say(f"[{backend} {n:,}] {count:,} tickets in {loaded:.1f}s, ANALYZE {analyzed:.1f}s")

    config = write_config(workdir, db_url=url, relay_port=1, **ORG)
    pipeline = build_pipeline(load_config(config))
    late = (Ticket.due <= NOW) | (Ticket.first_response_due <= NOW)
    due_ids = [t.id for t in Ticket.select(Ticket.id).where(late & (Ticket.status == "open"))]
    recorder = Recorder(db)
    try:
        firsts, first_results, statements = [], [], []
        for run in range(args.first_runs):
            if run:  # the same breaches again: clear the flags the previous run set
                Ticket.update(overdue=False, first_response_breached=False).where(
                    Ticket.id.in_(due_ids)
                ).execute()
            before = recorder.statements
            started = time.perf_counter()
            result = sweep(pipeline, now=NOW + timedelta(seconds=run))
            firsts.append((time.perf_counter() - started) * 1000)
            statements.append(recorder.statements - before)
            first_results.append(result)
        alerts = Outbound.select().count()
        empties = []
        before = recorder.statements
        for run in range(args.runs):
            started = time.perf_counter()
            result = sweep(pipeline, now=NOW + timedelta(minutes=1 + run))
            empties.append((time.perf_counter() - started) * 1000)
            if result.first_response or result.resolution or result.warnings:
                say(f"[{backend} {n:,}] empty sweep found something: {result}")
        empty_statements = (recorder.statements - before) / max(args.runs, 1)
        composing = time_composing(pipeline, args.due)
        plans = query_plans(db, backend, recorder.selects)
    finally:
        recorder.close()
        close_database()
    figures = {
        "backend": backend,
        "n": n,
        "count": count,
        "load": loaded,
        "analyze": analyzed,
        "first": statistics.median(firsts),
        "first_all": firsts,
        "first_result": first_results[0],
        "first_statements": statements[0],
        "alerts": alerts,
        "empty": statistics.median(empties),
        "empty_all": empties,
        "empty_statements": empty_statements,
        "composing": composing,
        "plans": plans,
    }
    say(
        f"[{backend} {n:,}] first sweep {figures['first']:.1f} ms "
        f"({', '.join(f'{x:.1f}' for x in firsts)}; {first_results[0]}, "
        f"{statements[0]} statements, {alerts} alerts queued over {args.first_runs} runs); "
        f"empty sweep median {figures['empty']:.2f} ms "
        f"(min {min(empties):.2f}, max {max(empties):.2f}, {empty_statements:.0f} statements)"
    )
    return figures


# ---------------------------------------------------------------------------------------------


def create_pg_database() -> tuple[str, str]:
    import psycopg

    name = f"maild_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return name, f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def machine_facts() -> list[str]:
    import peewee

    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if "model name" in line), "?")
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    facts = [
        f"nproc {len(os.sched_getaffinity(0))} ({cpu}), {ram:.1f} GB RAM, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"peewee {peewee.__version__}"
    ]
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=5) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        facts.append(f"PostgreSQL {version} (psycopg {psycopg.__version__})")
    facts.append(f"temp dir {tempfile.gettempdir()}")
    return facts


def report(figures: list[dict], args) -> None:
    say("\n== SLA sweep ==")
    say(
        f"{args.due} due tickets (half first response, half resolution), plan 'fast' 24x7, "
        f"{args.users} users; first sweep: median of {args.first_runs}, empty sweep: median "
        f"of {args.runs}; composing: the sender's work on {args.due} of the alert drafts "
        "(render, headers, Message-ID), not part of the sweep"
    )
    if args.closed:
        flags = "breach flags set" if args.closed_flagged else "breach flags clear"
        say(f"what-if: {args.closed:,} of the tickets are closed with past due times, {flags}")
    for fact in machine_facts():
        say(fact)
    for f in figures:
        say(f"\n[{f['backend']} {f['n']:,}] query plans of the sweep's claims:")
        for line in f["plans"]:
            say(line)
    say(
        f"\n{'backend':<11} {'tickets':>10} {'load s':>7} {'ANALYZE s':>9} "
        f"{'first sweep ms':>15} {'(min-max)':>13} {'empty sweep ms':>15} "
        f"{'stmts first/empty':>18} {'composing ms':>13}"
    )
    for f in figures:
        say(
            f"{f['backend']:<11} {f['count']:>10,} {f['load']:>7.1f} {f['analyze']:>9.1f} "
            f"{f['first']:>15.1f} {min(f['first_all']):>6.1f}-{max(f['first_all']):<6.1f} "
            f"{f['empty']:>15.2f} {f['first_statements']:>12}/{f['empty_statements']:<5.0f} "
            f"{f['composing']:>13.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="10000,1000000",
        help="comma-separated open-ticket counts (default 10000,1000000)",
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--due", type=int, default=100, help="tickets past due (default 100)")
    parser.add_argument("--users", type=int, default=300, help="requesters (default 300)")
    parser.add_argument("--runs", type=int, default=7, help="empty sweeps timed (default 7)")
    parser.add_argument(
        "--first-runs",
        type=int,
        default=7,
        help="first sweeps timed, flags reset between them (default 7)",
    )
    parser.add_argument(
        "--closed",
        type=int,
        default=0,
        help="what-if: this many of the tickets are closed with past due times (default 0)",
    )
    parser.add_argument(
        "--closed-flagged",
        action="store_true",
        help="what-if: the --closed tickets breached both targets (flags set) before closing",
    )
    parser.add_argument(
        "--timeout", type=int, default=900, help="seconds per back-end and size (default 900)"
    )
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]

    # SIGTERM unwinds like Ctrl-C, so the finally blocks drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    top = Path(tempfile.mkdtemp(prefix="maild-bench-sla-"))
    figures = []
    try:
        for backend in backends:
            for n in sizes:
                workdir = top / f"{backend}-{n}"
                workdir.mkdir()
                name = None
                try:
                    with time_limit(args.timeout, f"{backend} {n:,}"):
                        if backend == "sqlite":
                            url = f"sqlite:///{workdir / 'maild.db'}"
                        else:
                            try:
                                name, url = create_pg_database()
                            except Exception as exc:
                                say(f"[postgresql] skipped: cannot create a database: {exc}")
                                break
                        figures.append(bench_one(backend, url, workdir, n, args))
                except Timeout as exc:
                    say(f"[{backend} {n:,}] stopped: {exc}")
                finally:
                    from store.db import close_database

                    close_database()
                    if name:
                        drop_pg_database(name)
                    shutil.rmtree(workdir, ignore_errors=True)
        report(figures, args)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
