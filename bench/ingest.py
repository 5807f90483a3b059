#!/usr/bin/env python3
"""Ingest benchmark: SMTP accept rate, end-to-end rate, `maild pipe` CPU, daemon memory.

    python bench/ingest.py [--n 5000] [--backend sqlite|postgresql|both] [--rss-n 20000]

Prints figures and asserts nothing (see bench/README.md for what each figure means and the
targets). Everything runs on 127.0.0.1: a `maild run` daemon in a child process, a counting
aiosmtpd relay sink in another child process (so its CPU is not the daemon's), and SMTP
clients in further processes. SQLite runs in a temporary directory; PostgreSQL gets a fresh
`maild_bench_<random>` database on the server of $MAILD_BENCH_PG (default
postgresql://postgres@127.0.0.1:5432/test), dropped at the end. Every wait is bounded and
every child is stopped in a `finally`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import re
import resource
import secrets
import select
import shutil
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HELPDESK = "support@helpdesk.test"
PG_ADMIN_URL = os.environ.get("MAILD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
CLIENTS = 4
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _gen_corpus_path() -> Path:
    for candidate in (
        REPO.parent / "shared/tools/gen_corpus.py",
        Path("/work/shared/tools/gen_corpus.py"),
    ):
        if candidate.exists():
            return candidate
    raise SystemExit("gen_corpus.py not found (expected ../shared/tools/gen_corpus.py)")


# ---------------------------------------------------------------------------------------------
# Small utilities


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:.0f}s")


def proc_cpu(pid: int) -> float:
    """User+system CPU seconds of a live process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds per thread id of a live process."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[int(tid)] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (the daemon may run worker processes)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds of `pid` and its live descendants."""
    total = 0.0
    for p in (pid, *descendants(pid)):
        with contextlib.suppress(OSError):
            total += proc_cpu(p)
    return total


def tree_threads(pid: int) -> dict[tuple[int, int], float]:
    """CPU seconds per (process, thread) of `pid` and its live descendants."""
    out = {}
    for p in (pid, *descendants(pid)):
        with contextlib.suppress(OSError):
            out.update({(p, tid): cpu for tid, cpu in thread_cpu(p).items()})
    return out


def tree_status(pid: int, key: str) -> float:
    """Sum of a /proc/PID/status figure (MB) over `pid` and its live descendants."""
    total = 0.0
    for p in (pid, *descendants(pid)):
        with contextlib.suppress(OSError):
            total += proc_status(p, key)
    return total


def tree_pss(pid: int) -> float:
    """Proportional set size (MB) summed over `pid` and its descendants: shared pages
    (the interpreter, libraries) are split between the processes instead of counted twice."""
    total = 0.0
    for p in (pid, *descendants(pid)):
        with contextlib.suppress(OSError), open(f"/proc/{p}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) / 1024
    return total


def process_roles(pid: int) -> dict[int, str]:
    """pid -> "main", "worker", "resource_tracker" or the command name."""
    roles = {pid: "main"}
    for p in descendants(pid):
        try:
            cmdline = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "resource_tracker" in cmdline:
            roles[p] = "resource_tracker"
        elif "spawn_main" in cmdline or "forkserver" in cmdline:
            roles[p] = "worker"
        else:
            roles[p] = cmdline.split(" ", 1)[0].rsplit("/", 1)[-1] or str(p)
    return roles


def proc_status(pid: int, key: str) -> float:
    """A kB figure (VmRSS, VmHWM, ...) from /proc/PID/status, in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child_env() -> dict[str, str]:
    """Children import maild from this tree (also when it is a copy), not an installed one."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / TICK, total / TICK


def postgres_cpu() -> float:
    """CPU seconds of every live PostgreSQL server process (the database's share of the work)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() != "postgres":
                        continue
                total += proc_cpu(int(entry))
    return total


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def say(*args) -> None:
    print(*args, flush=True)


# ---------------------------------------------------------------------------------------------
# The relay sink: a separate process running aiosmtpd, answering "count" on its stdin


def sink_main(port: int) -> int:
    """Child process: count every message relayed to 127.0.0.1:port; report on request."""
    from aiosmtpd.controller import Controller

    state = {"count": 0, "first": None, "last": None, "bytes": 0}

    class Counter:
        async def handle_DATA(self, server, session, envelope):
            moment = time.monotonic()
            if state["first"] is None:
                state["first"] = moment
            state["last"] = moment
            state["count"] += 1
            state["bytes"] += len(envelope.original_content or envelope.content or b"")
            return "250 OK"

    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "count":
                report = dict(state, cpu=proc_cpu(os.getpid()))
                print(json.dumps(report), flush=True)
            elif command == "quit":
                break
    finally:
        controller.stop()
    return 0


class Sink:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--sink", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO,
            env=child_env(),
        )
        self._buffer = b""
        if self._line(timeout=30) != "ready":
            raise RuntimeError("relay sink did not start")

    def _line(self, timeout: float) -> str:
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError("relay sink did not answer")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError("relay sink closed its output")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode().strip()

    def state(self) -> dict:
        self.proc.stdin.write(b"count\n")
        self.proc.stdin.flush()
        return json.loads(self._line(timeout=10))

    def count(self) -> int:
        return self.state()["count"]

    def wait_count(self, target: int, timeout: float, on_tick=None) -> dict:
        """Poll until the sink has `target` messages (or time is up); its last state."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if on_tick is not None:
                on_tick(state)
            if state["count"] >= target or time.monotonic() > deadline:
                return state
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# ---------------------------------------------------------------------------------------------
# The daemon


def write_config(
    directory: Path,
    *,
    db_url: str,
    smtp_port: int,
    relay_port: int,
    extra: dict[str, dict[str, str]] | None = None,
) -> Path:
    """A config.toml like tests/helpers.write_config; `extra` adds raw TOML values per section."""
    (directory / "rules").mkdir(parents=True, exist_ok=True)
    text = f"""\
[helpdesk]
name = "Bench Support"
address = "{HELPDESK}"
url = "http://127.0.0.1:1"
[paths]
data = "{directory / "data"}"
templates = "{REPO / "templates"}"
rules = "{directory / "rules"}"
[store]
url = "{db_url}"
[smtp]
listen = "127.0.0.1:{smtp_port}"
[relay]
host = "127.0.0.1"
port = {relay_port}
timeout = 10.0
[notices]
autoresponse_limit = 1000000
"""
    tables: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
            tables[section] = []
        else:
            tables[section].append(line)
    for section, values in (extra or {}).items():
        body = tables.setdefault(section, [])
        for key, value in values.items():
            body[:] = [line for line in body if line.split(" = ")[0] != key]
            body.append(f"{key} = {value}")
    text = "".join(
        f"[{name}]\n" + "".join(f"{line}\n" for line in body) for name, body in tables.items()
    )
    path = directory / "config.toml"
    path.write_text(text)
    return path


class Daemon:
    def __init__(self, config: Path, smtp_port: int, log: Path) -> None:
        self.config = config
        self.port = smtp_port
        self.log = log
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self, timeout: float = 60) -> None:
        # MAILD_BENCH_DAEMON replaces `python -m maild` (e.g. a patched launcher for an A/B test).
        prefix = os.environ.get("MAILD_BENCH_DAEMON", "").split() or [sys.executable, "-m", "maild"]
        command = [*prefix, "--config", str(self.config), "--log-level", "WARNING", "run"]
        with self.log.open("ab") as logfile:
            # Its own session, so kill() can reach worker processes it may start.
            self.proc = subprocess.Popen(
                command,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env=child_env(),
                start_new_session=True,
            )
        try:
            wait_port(self.port, self.proc, timeout, "maild run")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{self.log.read_text()[-3000:]}") from None

    def stop(self, timeout: float = 60) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        self.kill()
        return code

    def kill(self) -> None:
        """SIGKILL the daemon and anything left in its session (worker processes)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


def log_tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# The corpus and the SMTP clients

# Set in the parent before forking the clients, so the children inherit it without pickling.
CORPUS: list[tuple[str, bytes]] = []
_MID = re.compile(rb"^Message-ID:[ \t]*<[^>\r\n]*>", re.M | re.I)
_RETURN_PATH = re.compile(rb"^Return-Path:[ \t]*<([^>\r\n]*)>", re.M | re.I)
_FROM = re.compile(rb"^From:[^\r\n]*<([^>\r\n]+)>", re.M | re.I)


def load_corpus(n: int, directory: Path) -> list[tuple[str, bytes]]:
    """Generate n messages once (seed 1); return (envelope sender, CRLF bytes) pairs."""
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            str(_gen_corpus_path()),
            str(n),
            "--out",
            str(directory),
            "--seed",
            "1",
            "--to",
            HELPDESK,
        ],
        check=True,
        timeout=max(300, n / 10),
        stdout=subprocess.DEVNULL,
    )
    corpus = []
    for path in sorted((directory / "eml").glob("*.eml")):
        raw = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        found = _RETURN_PATH.search(raw) or _FROM.search(raw)
        sender = found.group(1).decode("ascii", "replace") if found else "customer@bench.test"
        corpus.append((sender, raw))
    sizes = sorted(len(r) for _, r in corpus)
    say(
        f"corpus: {len(corpus)} messages in {time.monotonic() - started:.1f}s; "
        f"size median {sizes[len(sizes) // 2] / 1024:.1f} KB, "
        f"mean {sum(sizes) / len(sizes) / 1024:.1f} KB"
    )
    return corpus


def unique(raw: bytes, tag: str) -> bytes:
    """The message with a fresh Message-ID, so it is not dropped as a duplicate."""
    new = f"Message-ID: <{tag}@bench.test>".encode()
    replaced, count = _MID.subn(new, raw, count=1)
    return replaced if count else new + b"\r\n" + raw


def _client(port: int, indexes: range, tag: str | None, barrier, results, accepted) -> None:
    """One SMTP connection sending CORPUS[i % len] for i in indexes; reports its timing."""
    errors = 0
    first = last = 0.0
    try:
        smtp = smtplib.SMTP("127.0.0.1", port, timeout=120)
        smtp.ehlo()
        barrier.wait(timeout=120)
        first = time.monotonic()
        for i in indexes:
            sender, raw = CORPUS[i % len(CORPUS)]
            if tag is not None:
                raw = unique(raw, f"{tag}.{i}")
            try:
                smtp.sendmail(sender, [HELPDESK], raw)
            except smtplib.SMTPServerDisconnected:
                errors += 1
                smtp = smtplib.SMTP("127.0.0.1", port, timeout=120)
            except smtplib.SMTPException:
                errors += 1
            if accepted is not None:
                with accepted.get_lock():
                    accepted.value += 1
        last = time.monotonic()
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()
    except Exception as exc:
        results.put({"error": f"{type(exc).__name__}: {exc}"})
        return
    results.put({"first": first, "last": last, "sent": len(indexes), "errors": errors})


class Clients:
    """CLIENTS processes, each with one persistent connection, released together."""

    def __init__(self, port: int, total: int, *, tag: str | None = None, track=False) -> None:
        ctx = mp.get_context("fork")
        self.results = ctx.Queue()
        self.accepted = ctx.Value("l", 0) if track else None
        barrier = ctx.Barrier(CLIENTS)
        self.procs = [
            ctx.Process(
                target=_client,
                args=(port, range(k, total, CLIENTS), tag, barrier, self.results, self.accepted),
                daemon=True,
            )
            for k in range(CLIENTS)
        ]
        self.cpu_before = children_cpu()
        for p in self.procs:
            p.start()

    def join(self, timeout: float) -> dict:
        reports = []
        deadline = time.monotonic() + timeout
        for _ in self.procs:
            left = max(0.1, deadline - time.monotonic())
            try:
                reports.append(self.results.get(timeout=left))
            except Exception:
                reports.append({"error": "client timed out"})
        for p in self.procs:
            p.join(timeout=max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        failed = [r["error"] for r in reports if "error" in r]
        done = [r for r in reports if "error" not in r]
        if failed or not done:
            return {"failed": failed or ["no client finished"]}
        return {
            "first": min(r["first"] for r in done),
            "last": max(r["last"] for r in done),
            "sent": sum(r["sent"] for r in done),
            "errors": sum(r["errors"] for r in done),
            "client_cpu": children_cpu() - self.cpu_before,
        }

    def kill(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.kill()
                p.join(timeout=5)


# ---------------------------------------------------------------------------------------------
# Phases


def maild_command() -> tuple[list[str], str]:
    """The installed `maild` console script (on PATH, else next to this interpreter)."""
    exe = shutil.which("maild")
    if exe:
        return [exe], f"console script {exe}"
    sibling = Path(sys.executable).parent / "maild"
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return [str(sibling)], f"console script {sibling} (not on PATH; next to {sys.executable})"
    return [sys.executable, "-m", "maild"], "python -m maild (no `maild` console script installed)"


def startup_baseline(runs: int = 30) -> dict[str, float]:
    """CPU ms of bare interpreter start-up on this machine."""
    out = {}
    for label, command in (
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("python -S -c pass", [sys.executable, "-S", "-c", "pass"]),
    ):
        before = children_cpu()
        for _ in range(runs):
            subprocess.run(command, check=True, timeout=30)
        out[label] = (children_cpu() - before) / runs * 1000
    return out


def run_pipes(config: Path, count: int, tag: str) -> dict:
    """`maild pipe` one after another for `count` messages; CPU ms/message and rate."""
    command, _ = maild_command()
    inputs = []
    for k in range(count):
        sender, raw = CORPUS[k % len(CORPUS)]
        # An MTA's pipe hands over LF line endings.
        inputs.append((sender, unique(raw, f"{tag}.{k}").replace(b"\r\n", b"\n")))
    failures = []
    env = child_env()
    cpu_before = children_cpu()
    started = time.monotonic()
    for sender, raw in inputs:
        result = subprocess.run(
            [*command, "--config", str(config), "pipe", "-f", sender, HELPDESK],
            input=raw,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
            cwd=REPO,
            env=env,
        )
        if result.returncode != 0:
            failures.append(f"exit {result.returncode}: {result.stderr.decode()[-200:].strip()}")
    wall = time.monotonic() - started
    cpu = children_cpu() - cpu_before
    return {
        "count": count,
        "cpu_ms": cpu / count * 1000,
        "rate": count / wall,
        "wall": wall,
        "failures": failures,
    }


def end_to_end(daemon: Daemon, sink: Sink, n: int) -> dict:
    """4 SMTP clients send the corpus; wait for n autoresponses at the sink."""
    threads_before = tree_threads(daemon.pid)
    cpu_before = tree_cpu(daemon.pid)
    machine_before = machine_cpu()
    pg_before = postgres_cpu()
    sink_before = sink.state()
    clients = Clients(daemon.port, n)
    try:
        sent = clients.join(timeout=max(300, n / 10))
    finally:
        clients.kill()
    if "failed" in sent:
        return {"failed": sent["failed"]}
    target = sink_before["count"] + n
    state = sink.wait_count(target, timeout=max(180, n / 20))
    cpu_after = tree_cpu(daemon.pid)
    threads_after = tree_threads(daemon.pid)
    machine_after = machine_cpu()
    pg_after = postgres_cpu()
    received = state["count"] - sink_before["count"]
    result = {
        "sent": sent["sent"],
        "errors": sent["errors"],
        "accept_wall": sent["last"] - sent["first"],
        "accept_rate": n / (sent["last"] - sent["first"]),
        "received": received,
        "client_cpu_ms": sent["client_cpu"] / n * 1000,
        "sink_cpu_ms": (state["cpu"] - sink_before["cpu"]) / n * 1000,
        "daemon_cpu_ms": (cpu_after - cpu_before) / n * 1000,
        "threads": [
            (key, (threads_after.get(key, 0.0) - threads_before.get(key, 0.0)) / n * 1000)
            for key in sorted(threads_after)
        ],
        "processes": 1 + len(descendants(daemon.pid)),
        "roles": process_roles(daemon.pid),
        # Share of all cores busy (anything on the machine) from first send to last autoresponse.
        "machine_busy": (machine_after[0] - machine_before[0])
        / max(1e-9, machine_after[1] - machine_before[1])
        * 100,
        "machine_cpu_ms": (machine_after[0] - machine_before[0]) / n * 1000,
        "postgres_cpu_ms": (pg_after - pg_before) / n * 1000,
    }
    if received >= n:
        result["e2e_wall"] = state["last"] - sent["first"]
        result["e2e_rate"] = n / result["e2e_wall"]
        result["tail"] = state["last"] - sent["last"]
    return result


def db_counts(db_url: str) -> dict[str, int]:
    """Rows per state, to show every message became a ticket."""
    queries = {
        "tickets": "SELECT COUNT(*) FROM tickets",
        "inbound_done": "SELECT COUNT(*) FROM inbound WHERE state = 'done'",
        "inbound_other": "SELECT COUNT(*) FROM inbound WHERE state <> 'done'",
        "outbound_sent": "SELECT COUNT(*) FROM outbound WHERE state = 'sent'",
    }
    if db_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(db_url.removeprefix("sqlite:///"))) as conn:
            return {k: conn.execute(q).fetchone()[0] for k, q in queries.items()}
    import psycopg

    with psycopg.connect(db_url) as conn:
        return {k: conn.execute(q).fetchone()[0] for k, q in queries.items()}


def bench_backend(backend: str, db_url: str, workdir: Path, args) -> dict:
    n = len(CORPUS)
    fig: dict = {"backend": backend}
    sink = Sink()
    smtp_port = free_port()
    config = write_config(
        workdir, db_url=db_url, smtp_port=smtp_port, relay_port=sink.port, extra=args.extra
    )
    daemon = Daemon(config, smtp_port, workdir / "daemon.log")
    try:
        daemon.start()
        time.sleep(1)  # let worker processes, if any, finish starting
        fig["rss_start"] = proc_status(daemon.pid, "VmRSS")
        fig["rss_start_tree"] = tree_status(daemon.pid, "VmRSS")
        say(
            f"[{backend}] daemon pid {daemon.pid} up; sending {n} messages over "
            f"{CLIENTS} connections ..."
        )
        e2e = end_to_end(daemon, sink, n)
        fig.update(e2e)
        if "failed" in e2e:
            say(f"[{backend}] clients failed: {e2e['failed']}\n{log_tail(daemon.log)}")
            return fig
        say(
            f"[{backend}] accept {e2e['accept_rate']:.0f}/s, "
            + (
                f"end-to-end {e2e['e2e_rate']:.0f}/s"
                if "e2e_rate" in e2e
                else f"only {e2e['received']}/{n} autoresponses arrived in time"
            )
        )
        fig["rss_after_e2e"] = proc_status(daemon.pid, "VmRSS")

        say(f"[{backend}] maild pipe x{args.pipe_n} with the daemon running ...")
        before = sink.count()
        fig["pipe"] = run_pipes(config, args.pipe_n, f"pipe-{backend}")
        state = sink.wait_count(before + args.pipe_n, timeout=120)
        fig["pipe_processed"] = state["count"] - before
        fig["rss_peak"] = proc_status(daemon.pid, "VmHWM")
        fig["rss_end"] = proc_status(daemon.pid, "VmRSS")
        fig["rss_peak_tree"] = tree_status(daemon.pid, "VmHWM")
        fig["pss_end_tree"] = tree_pss(daemon.pid)
        fig["rss_end_tree"] = tree_status(daemon.pid, "VmRSS")

        fig["daemon_exit"] = daemon.stop()
        say(f"[{backend}] maild pipe x{args.pipe_alone_n} with no daemon (pipe processes) ...")
        before = sink.count()
        fig["pipe_alone"] = run_pipes(config, args.pipe_alone_n, f"alone-{backend}")
        state = sink.wait_count(before + args.pipe_alone_n, timeout=30)
        fig["pipe_alone_processed"] = state["count"] - before
        fig["db"] = db_counts(db_url)
        errors = [
            line
            for line in log_tail(daemon.log, 2000).splitlines()
            if " ERROR " in line or "Traceback" in line
        ]
        fig["log_errors"] = len(errors)
        if errors:
            say(f"[{backend}] daemon log has {len(errors)} errors, e.g. {errors[0]}")
    finally:
        daemon.kill()
        sink.stop()
    return fig


def memory_sample(pid: int, processed: int, accepted: int, elapsed: float) -> tuple:
    """(processed, accepted, VmRSS main, VmRSS all processes, PSS all processes, elapsed)."""
    return (
        processed,
        accepted,
        proc_status(pid, "VmRSS"),
        tree_status(pid, "VmRSS"),
        tree_pss(pid),
        elapsed,
    )


def soak(total: int, workdir: Path, extra=None, every: int = 1000) -> dict:
    """SQLite daemon fed `total` unique messages; VmRSS sampled every `every` processed."""
    sink = Sink()
    smtp_port = free_port()
    db_url = f"sqlite:///{workdir / 'soak.db'}"
    config = write_config(
        workdir, db_url=db_url, smtp_port=smtp_port, relay_port=sink.port, extra=extra
    )
    daemon = Daemon(config, smtp_port, workdir / "daemon.log")
    samples = []
    clients = None
    try:
        daemon.start()
        started = time.monotonic()
        time.sleep(1)
        samples.append(memory_sample(daemon.pid, 0, 0, 0.0))
        clients = Clients(daemon.port, total, tag=f"soak.{secrets.token_hex(3)}", track=True)
        next_mark = every

        def tick(state) -> None:
            nonlocal next_mark
            while state["count"] >= next_mark:
                elapsed = time.monotonic() - started
                samples.append(
                    memory_sample(daemon.pid, next_mark, clients.accepted.value, elapsed)
                )
                say(
                    f"[soak] {next_mark:>6} processed, {clients.accepted.value:>6} accepted, "
                    f"VmRSS main {samples[-1][2]:.1f} MB, all processes {samples[-1][3]:.1f} MB"
                )
                next_mark += every

        state = sink.wait_count(total, timeout=max(300, total / 20), on_tick=tick)
        sent = clients.join(timeout=60)
        return {
            "samples": samples,
            "processed": state["count"],
            "peak": tree_status(daemon.pid, "VmHWM"),
            "peak_main": proc_status(daemon.pid, "VmHWM"),
            "processes": 1 + len(descendants(daemon.pid)),
            "wall": time.monotonic() - started,
            "errors": sent.get("errors", sent.get("failed")),
        }
    finally:
        if clients is not None:
            clients.kill()
        daemon.kill()
        sink.stop()


# ---------------------------------------------------------------------------------------------
# Report


def machine() -> dict[str, str]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GB"
    commit = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "maild", "store", "templates"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.split("\n")
        changed = len([line for line in dirty if line.strip()])
        commit = f"{head}" + (
            f" + {changed} uncommitted file(s) in maild/store/templates" if changed else ""
        )
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": mem,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1/5/15 min, at report time)",
    }


def _fmt(value, spec: str) -> str:
    if value is None:
        return "-"
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def report(figures: list[dict], baseline: dict, launcher: str, soaked: dict | None, args):
    n = args.n
    say("\n" + "=" * 78)
    say(f"maild ingest benchmark — {n} messages from gen_corpus.py (seed 1)")
    if args.set or os.environ.get("MAILD_BENCH_DAEMON"):
        say(
            f"  NOT DEFAULTS: --set {args.set} MAILD_BENCH_DAEMON="
            f"{os.environ.get('MAILD_BENCH_DAEMON', '')!r}"
        )
    for key, value in machine().items():
        say(f"  {key:<8} {value}")
    say(f"  pipe     {launcher}")
    for label, ms in baseline.items():
        say(f"  baseline {label}: {ms:.1f} ms CPU")
    rows = [
        ("SMTP accept rate, 4 connections (msg/s)", "accept_rate", ".0f"),
        ("  SMTP errors (4xx/5xx/disconnects)", "errors", "d"),
        ("End-to-end rate: send -> N autoresponses (msg/s)", "e2e_rate", ".0f"),
        ("  last autoresponse after last 250 (s)", "tail", ".2f"),
        ("  autoresponses received", "received", "d"),
        ("Daemon CPU per message, e2e phase (ms)", "daemon_cpu_ms", ".2f"),
        ("  SMTP clients CPU per message (ms)", "client_cpu_ms", ".2f"),
        ("  relay sink CPU per message (ms)", "sink_cpu_ms", ".2f"),
        ("  PostgreSQL server CPU per message (ms)", "postgres_cpu_ms", ".2f"),
        ("  whole machine CPU per message (ms)", "machine_cpu_ms", ".2f"),
        ("  machine busy during e2e phase (% of all cores)", "machine_busy", ".0f"),
        ("maild pipe, daemon running: CPU/msg (ms)", ("pipe", "cpu_ms"), ".1f"),
        ("  of which over `python -c pass` start-up (ms)", "pipe_over_start", ".1f"),
        ("maild pipe, daemon running: msg/s", ("pipe", "rate"), ".1f"),
        ("  pipe messages processed by the daemon", "pipe_processed", "d"),
        ("maild pipe, no daemon: CPU/msg (ms)", ("pipe_alone", "cpu_ms"), ".1f"),
        ("maild pipe, no daemon: msg/s", ("pipe_alone", "rate"), ".1f"),
        ("Daemon processes (main + workers)", "processes", "d"),
        ("Daemon RSS after start, main process (MB)", "rss_start", ".1f"),
        ("Daemon RSS at end, main process (MB)", "rss_end", ".1f"),
        ("Daemon peak RSS, VmHWM, main process (MB)", "rss_peak", ".1f"),
        ("  RSS after start, all daemon processes (MB)", "rss_start_tree", ".1f"),
        ("  RSS at end, all daemon processes (MB)", "rss_end_tree", ".1f"),
        ("  sum of VmHWM, all daemon processes (MB)", "rss_peak_tree", ".1f"),
        ("  PSS at end, all daemon processes (MB)", "pss_end_tree", ".1f"),
    ]
    start = baseline.get("python -c pass")
    for f in figures:
        if start is not None and "pipe" in f:
            f["pipe_over_start"] = f["pipe"]["cpu_ms"] - start
    width = 52
    say("")
    say(f"{'figure':<{width}}" + "".join(f"{f['backend']:>13}" for f in figures))
    say("-" * (width + 13 * len(figures)))
    for label, key, spec in rows:
        cells = []
        for f in figures:
            value = f.get(key[0], {}).get(key[1]) if isinstance(key, tuple) else f.get(key)
            cells.append(f"{_fmt(value, spec):>13}")
        say(f"{label:<{width}}" + "".join(cells))
    for f in figures:
        if "failed" in f:
            say(f"{f['backend']}: clients failed: {f['failed']}")
        for phase in ("pipe", "pipe_alone"):
            fails = f.get(phase, {}).get("failures")
            if fails:
                say(f"{f['backend']} {phase}: {len(fails)} failures, e.g. {fails[0]}")
        if "db" in f:
            say(
                f"{f['backend']}: database at the end: {f['db']}; daemon exit "
                f"{f.get('daemon_exit')}; errors in daemon log: {f.get('log_errors')}"
            )
        if f.get("threads"):
            roles = f.get("roles", {})
            busy = [(key, ms) for key, ms in f["threads"] if ms >= 0.005]
            say(
                f"{f['backend']}: daemon CPU ms/message by process role/thread id (thread ids "
                "in creation order; main's first thread is the asyncio SMTP loop): "
                + ", ".join(f"{roles.get(pid, pid)}/{tid}: {ms:.2f}" for (pid, tid), ms in busy)
            )
    if soaked:
        say(
            f"\nRSS soak (SQLite): {soaked['processed']} messages in {soaked['wall']:.0f}s "
            f"({soaked['processed'] / soaked['wall']:.0f} msg/s end to end), "
            f"SMTP errors {soaked['errors']}; {soaked['processes']} daemon process(es); "
            f"VmHWM main {soaked['peak_main']:.1f} MB, summed over all {soaked['peak']:.1f} MB"
        )
        say(
            f"{'processed':>10} {'accepted':>10} {'RSS main':>10} {'RSS all':>10} "
            f"{'PSS all':>10} {'elapsed s':>10}   (MB)"
        )
        for processed, accepted, main_rss, rss, pss, elapsed in soaked["samples"]:
            say(
                f"{processed:>10} {accepted:>10} {main_rss:>10.1f} {rss:>10.1f} {pss:>10.1f} "
                f"{elapsed:>10.1f}"
            )
        for column, label in ((2, "RSS main"), (3, "RSS all"), (4, "PSS all")):
            values = [sample[column] for sample in soaked["samples"][1:]]
            if len(values) >= 2:
                half = len(values) // 2
                say(
                    f"{label}: first-half mean {sum(values[:half]) / half:.1f} MB, second-half "
                    f"mean {sum(values[half:]) / (len(values) - half):.1f} MB, "
                    f"min {min(values):.1f}, max {max(values):.1f}"
                )


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="corpus size (default 5000)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--rss-n",
        type=int,
        default=20000,
        help="messages in the SQLite RSS soak; 0 skips it (default 20000)",
    )
    parser.add_argument(
        "--pipe-n", type=int, default=300, help="`maild pipe` runs with the daemon up (default 300)"
    )
    parser.add_argument(
        "--pipe-alone-n",
        type=int,
        default=100,
        help="`maild pipe` runs with no daemon (default 100)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=TOML",
        help="extra config value for the daemon, e.g. processing.batch_size=10",
    )
    parser.add_argument("--sink", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sink:
        return sink_main(args.sink)
    args.extra = {}
    for item in args.set:
        dotted, eq, value = item.partition("=")
        section, dot, key = dotted.partition(".")
        if not (eq and dot and section and key):
            parser.error(f"--set wants SECTION.KEY=VALUE, got {item!r}")
        args.extra.setdefault(section, {})[key] = value

    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop the children and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    top = Path(tempfile.mkdtemp(prefix="maild-bench-"))
    figures = []
    soaked = None
    try:
        CORPUS[:] = load_corpus(args.n, top / "corpus")
        _, launcher = maild_command()
        baseline = startup_baseline()
        for backend in backends:
            workdir = top / backend
            workdir.mkdir()
            if backend == "sqlite":
                figures.append(
                    bench_backend(backend, f"sqlite:///{workdir / 'maild.db'}", workdir, args)
                )
                continue
            try:
                name, url = create_pg_database()
            except Exception as exc:
                say(f"[postgresql] skipped: cannot create a database: {exc}")
                continue
            try:
                figures.append(bench_backend(backend, url, workdir, args))
            finally:
                drop_pg_database(name)
        if args.rss_n > 0 and "sqlite" in backends:
            say(f"[soak] {args.rss_n} messages into a fresh SQLite daemon ...")
            workdir = top / "soak"
            workdir.mkdir()
            soaked = soak(args.rss_n, workdir, args.extra)
        report(figures, baseline, launcher, soaked, args)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
