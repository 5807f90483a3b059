"""`maild run`: the SMTP intake, the workers and the scheduler.

The main process serves SMTP on its asyncio loop and runs three threads: the intake
writer (group commits), the outbound sender and the scheduler, plus one thread per polled
`[[mailbox]]` (`maild.fetch_daemon`). Processing — parsing and
storing, the CPU-heavy part — runs in `[processing] workers` child processes so it does
not share one interpreter lock with the intake (0 runs it in a thread instead). SIGTERM or
SIGINT stops intake first, then lets each worker finish or roll back the batch in hand.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time

import schedule

from maild.config import Config, load
from maild.delivery import Deliverer, run_sender
from maild.errors import ConfigError
from maild.fetch_daemon import start_pollers
from maild.notices import Notices
from maild.pipeline import Pipeline
from maild.smtp import IntakeWriter, make_server
from maild.sweep import sweep
from maild.worker import run_worker
from store import inbound, outbound
from store.clock import now
from store.db import open_database, set_meta, share_write_lock, signing_secret, transaction
from store.models import database

__all__ = ["Daemon", "run"]

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5


def build_pipeline(config: Config) -> Pipeline:
    notices = Notices(config.paths.templates)
    problems = notices.check()
    if problems:
        raise ConfigError(problems)
    return Pipeline(config, secret=signing_secret(), notices=notices)


class Daemon:
    def __init__(self, config: Config) -> None:
        self.config = config
        context = multiprocessing.get_context("spawn")
        self.stop = context.Event()
        self.process_wake = context.Event()
        self.send_wake = context.Event()
        self.write_lock = context.Lock()
        # Bumped on SIGHUP: every worker then reads the rule files again (see maild.worker).
        self.rules_generation = context.Value("i", 0)
        share_write_lock(self.write_lock)
        open_database(config.store.url)
        # Stable across restarts, so a restarted daemon takes back its own leases at once.
        self.owner = f"{socket.gethostname()}:{config.path}"
        for queue, released in (
            ("inbound", inbound.release_leases(self.owner)),
            ("outbound", outbound.release_leases(self.owner)),
        ):
            if released:
                log.info("maild: took back %d %s messages left by a previous run", released, queue)
        self.pipeline = build_pipeline(config)
        self.writer = IntakeWriter(on_commit=self.process_wake.set)
        self.threads: list[threading.Thread] = []
        self.workers = [
            context.Process(
                target=_worker_process,
                args=(
                    str(config.path),
                    self.owner,
                    os.getpid(),
                    logging.getLogger().level,
                    (
                        self.stop,
                        self.process_wake,
                        self.send_wake,
                        self.write_lock,
                        self.rules_generation,
                    ),
                ),
                name=f"maild-worker-{n}",
                daemon=True,
            )
            for n in range(config.processing.workers)
        ]

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
        run_worker(
            self.pipeline,
            self.stop,
            self.process_wake,
            owner=self.owner,
            after_batch=self.send_wake.set,
            reload_rules=_generation_watch(self.rules_generation),
        )

    def reread_rules(self) -> None:
        with self.rules_generation.get_lock():
            self.rules_generation.value += 1
        log.info("maild: SIGHUP: the workers read the rule files again")

    def _scheduler(self) -> None:
        jobs = schedule.Scheduler()
        jobs.every(HEARTBEAT_SECONDS).seconds.do(_guarded, self.heartbeat)
        jobs.every(2).seconds.do(_guarded, self.process_wake.set)
        jobs.every(2).seconds.do(_guarded, self.send_wake.set)
        jobs.every(10).seconds.do(_guarded, self.check_workers)
        jobs.every(self.config.processing.sweep_interval).seconds.do(_guarded, self.sla_sweep)
        self.heartbeat()
        while not self.stop.wait(0.5):
            jobs.run_pending()

    def sla_sweep(self) -> None:
        result = sweep(self.pipeline)
        if result.first_response or result.resolution or result.warnings:
            log.info("SLA sweep: %s", result)
            self.send_wake.set()

    def heartbeat(self) -> None:
        with transaction():
            set_meta("daemon_heartbeat", now().isoformat(sep=" "))

    def check_workers(self) -> None:
        for worker in self.workers:
            if not worker.is_alive() and not self.stop.is_set():
                log.error("maild: %s exited with %s", worker.name, worker.exitcode)

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.reread_rules)
        self.writer.start()
        for worker in self.workers:
            worker.start()
        if not self.workers:
            self._thread("processing", self._processing)
        sender = Deliverer(self.config, owner=self.owner)
        self._thread("outbound", run_sender, sender, self.stop, self.send_wake)
        self._thread("scheduler", self._scheduler)
        start_pollers(self.config, self.stop, self.process_wake, self._thread)
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
        for worker in self.workers:
            worker.join(timeout=30)
        for thread in self.threads:
            thread.join(timeout=30)
        with transaction():
            set_meta("daemon_heartbeat", "")
        database.close()
        log.info("maild: stopped")


def _worker_process(config_path, owner, parent, level, shared) -> None:
    """A processing worker in a child process of its own."""
    stop, wake, after, write_lock, rules_generation = shared
    # The terminal's Ctrl-C (or a hang-up) reaches the whole process group; the parent
    # decides when to stop, and passes SIGHUP on through `rules_generation`.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _configure_logging(level)
    config = load(config_path)
    share_write_lock(write_lock)
    open_database(config.store.url, migrate=False, durable=False)
    try:
        run_worker(
            build_pipeline(config),
            stop,
            wake,
            owner=owner,
            after_batch=after.set,
            alive=lambda: os.getppid() == parent,
            reload_rules=_generation_watch(rules_generation),
        )
    finally:
        database.close()


def _generation_watch(generation):
    """A callable that is True once each time `generation` has moved on since last asked."""
    seen = generation.value

    def moved() -> bool:
        nonlocal seen
        current = generation.value
        changed, seen = current != seen, current
        return changed

    return moved


def _configure_logging(level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiosmtpd logs every SMTP command at INFO and mail-parser logs raw header contents at
    # ERROR for every odd message: noise, and possibly personal data.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    logging.getLogger("mailparser").setLevel(logging.CRITICAL)


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
    _configure_logging(logging.getLogger().level)
    started = time.monotonic()
    daemon = Daemon(config)
    log.info("maild: started in %.2fs", time.monotonic() - started)
    asyncio.run(daemon.serve())
    return 0
