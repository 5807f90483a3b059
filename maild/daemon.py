"""`maild run`: the SMTP intake, the workers and the scheduler in one process.

Threads: the intake writer (group commits), the processing worker, the outbound sender
and the scheduler; the asyncio loop in the main thread serves SMTP. SIGTERM or SIGINT
stops intake first, then lets the worker finish or roll back the batch in hand.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
import time

import schedule

from maild.config import Config
from maild.delivery import Deliverer, run_sender
from maild.errors import ConfigError
from maild.notices import Notices
from maild.pipeline import Pipeline
from maild.smtp import IntakeWriter, make_server
from maild.worker import run_worker
from store import inbound, outbound
from store.clock import now
from store.db import open_database, set_meta, signing_secret, transaction
from store.models import database

__all__ = ["Daemon", "run"]

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5


class Daemon:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.stop = threading.Event()
        self.process_wake = threading.Event()
        self.send_wake = threading.Event()
        open_database(config.store.url)
        # Stable across restarts, so a restarted daemon takes back its own leases at once.
        self.owner = f"{socket.gethostname()}:{config.path}"
        for queue, released in (
            ("inbound", inbound.release_leases(self.owner)),
            ("outbound", outbound.release_leases(self.owner)),
        ):
            if released:
                log.info("maild: took back %d %s messages left by a previous run", released, queue)
        notices = Notices(config.paths.templates)
        problems = notices.check()
        if problems:
            raise ConfigError(problems)
        self.pipeline = Pipeline(config, secret=signing_secret(), notices=notices)
        self.writer = IntakeWriter(on_commit=self.process_wake.set)
        self.threads: list[threading.Thread] = []

    def _thread(self, name: str, target, *args) -> None:
        def body() -> None:
            try:
                target(*args)
            finally:
                database.close()

        thread = threading.Thread(target=body, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _processing(self) -> None:
        def after_batch() -> None:
            self.send_wake.set()

        run_worker(
            self.pipeline, self.stop, self.process_wake, owner=self.owner, after_batch=after_batch
        )

    def _scheduler(self) -> None:
        jobs = schedule.Scheduler()
        jobs.every(HEARTBEAT_SECONDS).seconds.do(_guarded, self.heartbeat)
        jobs.every(2).seconds.do(_guarded, self.process_wake.set)
        jobs.every(2).seconds.do(_guarded, self.send_wake.set)
        self.heartbeat()
        while not self.stop.wait(0.5):
            jobs.run_pending()

    def heartbeat(self) -> None:
        with transaction():
            set_meta("daemon_heartbeat", now().isoformat(sep=" "))

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        self.writer.start()
        self._thread("processing", self._processing)
        self._thread(
            "outbound",
            run_sender,
            Deliverer(self.config, owner=self.owner),
            self.stop,
            self.send_wake,
        )
        self._thread("scheduler", self._scheduler)
        server = None
        if self.config.smtp.enabled:
            server = await make_server(self.config, self.writer)
            log.info("maild: SMTP intake on %s", self.config.smtp.listen)
        log.info("maild: running (database %s)", _redact(self.config.store.url))
        await stopping.wait()
        log.info("maild: stopping")
        if server is not None:
            server.close()
            await server.wait_closed()
        self.shutdown()

    def shutdown(self) -> None:
        self.writer.stop()
        self.stop.set()
        self.process_wake.set()
        self.send_wake.set()
        for thread in self.threads:
            thread.join(timeout=30)
        with transaction():
            set_meta("daemon_heartbeat", "")
        database.close()
        log.info("maild: stopped")


def _guarded(job) -> None:
    # schedule lets one job's exception skip the others; a daemon must keep ticking.
    try:
        job()
    except Exception:
        log.exception("scheduled job %s failed", getattr(job, "__name__", job))


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.partition(":")[0]
        return f"{scheme}{sep}{user}@{host}"
    return url


def run(config: Config) -> int:
    # aiosmtpd logs every SMTP command at INFO: far too much for a daemon's log.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    started = time.monotonic()
    daemon = Daemon(config)
    log.info("maild: started in %.2fs", time.monotonic() - started)
    asyncio.run(daemon.serve())
    return 0
