"""Test helpers: a counting aiosmtpd relay sink, message factories, config files."""

from __future__ import annotations

import contextlib
import email.policy
import smtplib
import socket
import threading
import time
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import make_msgid
from pathlib import Path

from aiosmtpd.controller import Controller

REPO = Path(__file__).resolve().parent.parent
HELPDESK = "support@helpdesk.test"
# `[[role]]` tables for tests of agents at work: "agent" answers and closes, "lead" also
# assigns and transfers.
AGENT_ROLES = [
    {"name": "agent", "permissions": ["ticket.view", "ticket.reply", "ticket.note",
                                      "ticket.edit", "ticket.close"]},
    {"name": "lead", "permissions": ["ticket.view", "ticket.reply", "ticket.note",
                                     "ticket.edit", "ticket.close", "ticket.assign",
                                     "ticket.transfer"]},
]  # fmt: skip


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports: the sockets stay open until all are chosen,
    so the kernel cannot hand out the same port twice."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


class _Collector:
    def __init__(self, sink: RelaySink) -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        with self.sink.lock:
            self.sink.messages.append((envelope.mail_from, list(envelope.rcpt_tos), raw))
        return "250 OK"


class RelaySink:
    """A real SMTP server on loopback that keeps every message relayed to it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.lock = threading.Lock()
        self._controller = Controller(_Collector(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def parsed(self) -> list[EmailMessage]:
        with self.lock:
            raws = [raw for _, _, raw in self.messages]
        return [BytesParser(policy=email.policy.default).parsebytes(r) for r in raws]

    def wait_for(self, count: int, timeout: float = 15.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.parsed()
            time.sleep(0.02)
        raise AssertionError(f"expected {count} relayed messages, got {len(self.messages)}")


def make_message(
    *,
    sender: str = "Ada Lovelace <ada@customer.test>",
    to: str = HELPDESK,
    subject: str = "Printer on fire",
    body: str = "The printer in room 4 is on fire.\n",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A customer's message as CRLF bytes, ready for SMTP or a pipe."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Sat, 28 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = message_id or make_msgid(domain="customer.test")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes(policy=email.policy.SMTP)


def reply_to(notice: EmailMessage, *, sender: str, body: str, keep_token: bool = True,
             in_reply_to: bool = True, to: str | None = None) -> bytes:  # fmt: skip
    """A customer's reply to one of our notices, quoting it below the answer."""
    subject = notice["Subject"] if keep_token else "Re: about my problem"
    headers = {}
    if in_reply_to:
        headers = {"In-Reply-To": notice["Message-ID"], "References": notice["Message-ID"]}
    quoted = "\n".join(
        "> " + line for line in notice.get_body(("plain",)).get_content().splitlines()
    )
    return make_message(
        sender=sender,
        to=to or HELPDESK,
        subject=f"Re: {subject}",
        body=f"{body}\n\nOn Sat, 28 Nov 2026, Support wrote:\n{quoted}\n",
        headers=headers,
    )


def send(port: int, raw: bytes, *, sender: str = "ada@customer.test", to=(HELPDESK,)) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(sender, list(to), raw)


def write_config(directory: Path, *, db_url: str, relay_port: int, **sections) -> Path:
    """A config.toml for tests: helpdesk.test, the given database, the relay sink."""
    tables = {
        "helpdesk": {"name": "Test Support", "address": HELPDESK, "url": "http://127.0.0.1:1"},
        "store": {"url": db_url},
        "paths": {"data": str(directory / "data"), "templates": str(REPO / "templates")},
        "smtp": {"listen": f"127.0.0.1:{free_port()}"},
        "relay": {"host": "127.0.0.1", "port": relay_port, "timeout": 10.0},
        "processing": {"retry_delay": 0.2},
        "outbound": {"retry_delay": 0.2},
    }
    for name, values in sections.items():
        if isinstance(values, list):
            tables[name] = values
        else:
            tables.setdefault(name, {}).update(values)
    lines = []
    for name, values in tables.items():
        if isinstance(values, list):  # an array of tables: [[department]] …
            for item in values:
                lines.append(f"[[{name}]]")
                lines += [f"{key} = {_toml(value)}" for key, value in item.items()]
            continue
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
    path = directory / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped + '"'


def run_maild(config_path: Path, *args: str, stdin: bytes | None = None, text: bool = False):
    """`python -m maild --config PATH ARGS…` as an operator or an MTA runs it."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "maild", "--config", str(config_path), *args],
        input=stdin.decode() if text and stdin is not None else stdin,
        capture_output=True,
        text=text,
        timeout=60,
        cwd=REPO,
    )


def wait_until(predicate, timeout: float = 20.0, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached in {timeout}s")


def ingest(pipeline, raw: bytes, rcpt=(HELPDESK,), mail_from: str = "ada@customer.test"):
    """Accept `raw` as SMTP would and process the queue; the newest ticket afterwards."""
    from maild.worker import process_batch
    from store.inbound import NewInbound, add_inbound
    from store.models import Ticket

    add_inbound([NewInbound(raw=raw, source="smtp", mail_from=mail_from, rcpt_to=rcpt)])
    while process_batch(pipeline):
        pass
    return Ticket.select().order_by(Ticket.id.desc()).first()


def queued(kind: str) -> list[tuple[list[str], EmailMessage]]:
    """The outbound messages of one kind (e.g. "transfer_alert"): (recipients, message)."""
    import json

    from store.models import Outbound

    rows = Outbound.select().where(Outbound.kind == kind).order_by(Outbound.id)
    parse = BytesParser(policy=email.policy.default).parsebytes
    return [(json.loads(r.recipients), parse(bytes(r.raw))) for r in rows]
