"""Fixtures: real databases (SQLite, PostgreSQL), a real SMTP relay sink, a real daemon."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import RelaySink, free_port, write_config

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("MAILD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test run's own, dropped at the end."""
    import psycopg

    if not _pg_available():
        pytest.fail("PostgreSQL is not running on 127.0.0.1:5432 (see README: Testing)")
    name = f"maild_test_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _reset_pg(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """An empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/maild.db"
    url = request.getfixturevalue("pg_database")
    _reset_pg(url)
    return url


@pytest.fixture
def sink() -> Iterator[RelaySink]:
    relay = RelaySink()
    relay.start()
    yield relay
    relay.stop()


@pytest.fixture
def config_for(tmp_path, sink):
    """`config_for(db_url, **sections)` writes a config.toml and returns its loaded Config."""

    def make(db_url: str, **sections):
        path = write_config(tmp_path, db_url=db_url, relay_port=sink.port, **sections)
        from maild.config import load

        return load(path)

    return make


@pytest.fixture
def pipeline_for(config_for):
    """An in-process pipeline on an open database: `pipeline_for(db_url, **sections)`."""
    opened = []

    def make(db_url: str, **sections):
        from maild.notices import Notices
        from maild.pipeline import Pipeline
        from store.db import open_database, signing_secret

        config = config_for(db_url, **sections)
        for db in opened:  # a second pipeline in one test replaces the first one's database
            db.close()
        opened.append(open_database(config.store.url))
        return Pipeline(config, secret=signing_secret(), notices=Notices(config.paths.templates))

    yield make
    from store.db import close_database

    close_database()


class DaemonProcess:
    """`maild run` in a child process, as an operator would start it."""

    def __init__(self, config_path: Path, smtp_port: int) -> None:
        self.config_path = config_path
        self.smtp_port = smtp_port
        self.proc: subprocess.Popen | None = None
        self.log = config_path.parent / "daemon.log"

    def start(self, timeout: float = 20) -> None:
        with self.log.open("ab") as logfile:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "maild", "--config", str(self.config_path), "run"],
                stdout=logfile,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"maild run exited: {self.log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.smtp_port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("maild run did not start listening")

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def daemon_for(tmp_path, sink):
    """`daemon_for(db_url, **sections)` starts `maild run`; stopped after the test.

    Each call after the first gets a folder (and so a config file) of its own, as a second
    daemon on another machine would.
    """
    started: list[DaemonProcess] = []

    def make(db_url: str, *, start: bool = True, **sections) -> DaemonProcess:
        smtp_port = free_port()
        sections.setdefault("smtp", {})["listen"] = f"127.0.0.1:{smtp_port}"
        folder = tmp_path / f"daemon{len(started)}" if started else tmp_path
        folder.mkdir(exist_ok=True)
        path = write_config(folder, db_url=db_url, relay_port=sink.port, **sections)
        daemon = DaemonProcess(path, smtp_port)
        started.append(daemon)
        if start:
            daemon.start()
        return daemon

    yield make
    for daemon in started:
        daemon.kill()
