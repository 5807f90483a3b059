"""A real Dovecot (IMAP and POP3, plain, STARTTLS and implicit TLS) for the mailbox tests.

Each test gets a throw-away instance on free loopback ports with its own config, users and
maildirs, started in the foreground as a child process and killed afterwards. The server
certificate comes from a private CA made with `trustme`; its PEM file is `ca_file`.
Dovecot refuses to run mail processes as root, so the maildirs belong to `mail`.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.helpers import free_ports

__all__ = [
    "Dovecot",
    "TruncatingProxy",
    "dovecot_fixture",
    "mailbox",
    "numbered",
    "process_all",
    "ticket_subjects",
]

PASSWORD = "secret"
USERS = ("support@helpdesk.test", "billing@helpdesk.test")

_CONFIG = """\
base_dir = {dir}/run
state_dir = {dir}/state
instance_name = test-dovecot-{imap}
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{dir}/cert.pem
ssl_key = <{dir}/key.pem
ssl_dh = </usr/share/dovecot/dh.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
log_path = {dir}/dovecot.log
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_privileged_group =
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {dir}/users
  default_fields = uid=mail gid=mail home={dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Archive {{
    auto = subscribe
    special_use = \\Archive
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
  # IDLE learns of new mail by inotify; this is the fallback when inotify runs out.
  mailbox_idle_check_interval = 1 secs
}}
protocol pop3 {{
  mail_max_userip_connections = 100
}}
"""


@functools.cache
def _authority():
    import trustme

    ca = trustme.CA()
    return ca, ca.issue_cert("127.0.0.1", "localhost")


class Dovecot:
    """One Dovecot instance under `directory`; `start()`, then `stop()`."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.imap_port, self.imaps_port, self.pop3_port, self.pop3s_port = free_ports(4)
        self.conf = directory / "dovecot.conf"
        self.ca_file = directory / "ca.pem"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        if shutil.which("dovecot") is None:
            pytest.fail("Dovecot is not installed: apt-get install dovecot-imapd dovecot-pop3d")
        for sub in ("run", "state", "mail"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        shutil.chown(self.dir / "mail", "mail", "mail")
        ca, cert = _authority()
        ca.cert_pem.write_to_path(str(self.ca_file))
        cert.cert_chain_pems[0].write_to_path(str(self.dir / "cert.pem"))
        cert.private_key_pem.write_to_path(str(self.dir / "key.pem"))
        users = "".join(f"{user}:{{PLAIN}}{PASSWORD}::::::\n" for user in USERS)
        (self.dir / "users").write_text(users)
        self.conf.write_text(
            _CONFIG.format(
                dir=self.dir,
                imap=self.imap_port,
                imaps=self.imaps_port,
                pop3=self.pop3_port,
                pop3s=self.pop3s_port,
            )
        )
        self.proc = subprocess.Popen(
            ["dovecot", "-F", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in (self.imap_port, self.pop3_port):
            self._wait_for(port)

    def _wait_for(self, port: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.proc.stderr.read().decode()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot is not listening on {port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()

    # -- looking at and changing the mailboxes, as a mail client or an admin would ---------

    def client(self, user: str = USERS[0]):
        from imapclient import IMAPClient

        imap = IMAPClient("127.0.0.1", port=self.imap_port, ssl=False, timeout=30)
        imap.login(user, PASSWORD)
        return imap

    def append(self, raws: Iterable[bytes], *, user: str = USERS[0], folder: str = "INBOX"):
        raws = list(raws)
        with self.client(user) as imap:
            for start in range(0, len(raws), 100):
                imap.multiappend(folder, raws[start : start + 100])

    def uids(self, *, user: str = USERS[0], folder: str = "INBOX") -> list[int]:
        with self.client(user) as imap:
            imap.select_folder(folder, readonly=True)
            return sorted(imap.search(["ALL"]))

    def seen(self, *, user: str = USERS[0], folder: str = "INBOX") -> list[int]:
        with self.client(user) as imap:
            imap.select_folder(folder, readonly=True)
            return sorted(imap.search(["SEEN"]))

    def doveadm(self, *args: str) -> str:
        done = subprocess.run(
            ["doveadm", "-c", str(self.conf), *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def maildir(self, user: str = USERS[0]) -> Path:
        return self.dir / "mail" / user / "Maildir"


@pytest.fixture(name="dovecot")
def dovecot_fixture() -> Iterator[Dovecot]:
    # Not under tmp_path: pytest makes that 0700, and Dovecot's unprivileged auth and mail
    # processes must be able to walk down to their files.
    directory = Path(tempfile.mkdtemp(prefix="maild-dovecot-"))
    directory.chmod(0o755)
    server = Dovecot(directory)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


class TruncatingProxy:
    """A TCP proxy to `port` that cuts each connection after `limit` bytes from the server.

    `limit` may be changed between connections; None passes everything through.
    """

    def __init__(self, port: int, limit: int | None) -> None:
        import threading

        self.target = port
        self.limit = limit
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            limit = self.limit
            for args in ((client, upstream, None), (upstream, client, limit)):
                threading.Thread(target=self._pump, args=(*args, client, upstream),
                                 daemon=True).start()  # fmt: skip

    def _pump(self, source, sink, limit, *both) -> None:
        sent = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) >= limit:
                    sink.sendall(data[: limit - sent])
                    self.cuts += 1
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for sock in both:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.listener.close()


# -- the maild side of the mailbox tests ----------------------------------------------------


def mailbox(server: Dovecot, protocol: str = "imap", **overrides) -> dict:
    """A [[mailbox]] table for `server` (plain connection unless `tls` is given)."""
    tls = overrides.get("tls", "none")
    ports = {
        ("imap", False): server.imap_port,
        ("imap", True): server.imaps_port,
        ("pop3", False): server.pop3_port,
        ("pop3", True): server.pop3s_port,
    }
    table = {
        "name": "support",
        "protocol": protocol,
        "host": "127.0.0.1",
        "port": ports[(protocol, tls == "implicit")],
        "tls": tls,
        "username": USERS[0],
        "password": PASSWORD,
        "interval": 1,
        "timeout": 10.0,
    }
    table.update(overrides)
    return table


def numbered(count: int, *, prefix: str = "Message", start: int = 0) -> list[bytes]:
    """`count` customer messages, subjects "<prefix> 000" … and matching Message-IDs."""
    from tests.helpers import make_message

    return [
        make_message(
            subject=f"{prefix} {n:03}",
            message_id=f"<{prefix.lower().replace(' ', '-')}-{n}@customer.test>",
        )
        for n in range(start, start + count)
    ]


def process_all(pipeline) -> None:
    from maild.worker import process_batch

    while process_batch(pipeline):
        pass


def ticket_subjects() -> list[str]:
    from store.models import Ticket

    return [t.subject for t in Ticket.select(Ticket.subject).order_by(Ticket.id)]
