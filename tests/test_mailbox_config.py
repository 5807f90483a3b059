"""`[[mailbox]]` in config.toml: what loads, every mistake named with file and mailbox, the
password kept out of every message; and the pure pieces of polling (back-off, keys)."""

from __future__ import annotations

import pytest

from maild.config import load
from maild.errors import ConfigError
from maild.fetch import MAX_BACKOFF, backoff
from maild.mailbox_config import PasswordUnavailable, department_of_source
from maild.mailbox_source import describe, message_identity
from tests.helpers import run_maild

SECRET = "s3cr3t-Pa55"

VALID = f"""
[helpdesk]
address = "support@example.com"

[[department]]
name = "Billing"
addresses = ["billing@example.com"]

[[mailbox]]
name = "support"
protocol = "imap"
host = "imap.example.com"
username = "support@example.com"
password = "{SECRET}"
after = "move"
move_to = "Archive"
idle = true

[[mailbox]]
name = "billing"
protocol = "pop3"
host = "pop.example.com"
tls = "starttls"
username = "billing"
password_file = "secrets/billing"
after = "delete"
department = "Billing"
interval = 300
max_per_poll = 20
"""


def write(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def problems_of(tmp_path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load(write(tmp_path, text))
    return raised.value.problems


def test_mailboxes_load_with_defaults_and_resolved_paths(tmp_path):
    config = load(write(tmp_path, VALID))

    support, billing = config.mailboxes
    assert (support.folder, support.tls, support.server_port) == ("INBOX", "implicit", 993)
    assert (support.interval, support.max_per_poll, support.enabled) == (60, 100, True)
    assert support.source == "imap:support" and support.secret() == SECRET
    assert billing.server_port == 110 and billing.password_file == str(
        tmp_path / "secrets" / "billing"
    )
    assert department_of_source(config, "pop3:billing") == "Billing"
    assert department_of_source(config, "imap:support") is None
    assert department_of_source(config, "smtp") is None


def test_password_never_shows_in_repr_or_problems(tmp_path):
    config = load(write(tmp_path, VALID))
    assert SECRET not in repr(config)

    problems = problems_of(tmp_path, VALID.replace(f'"{SECRET}"', "31337"))
    assert any("'support': password must be a string" in p for p in problems)
    assert not any("31337" in p for p in problems)


def test_password_from_environment_and_file(tmp_path, monkeypatch):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "billing").write_text("from-file\n")
    text = VALID.replace(f'password = "{SECRET}"', 'password_env = "MAILD_TEST_IMAP"')
    config = load(write(tmp_path, text))
    support, billing = config.mailboxes

    assert billing.secret() == "from-file"
    monkeypatch.delenv("MAILD_TEST_IMAP", raising=False)
    with pytest.raises(PasswordUnavailable) as missing:
        support.secret()
    assert describe(missing.value) == "no password: environment variable MAILD_TEST_IMAP is not set"
    monkeypatch.setenv("MAILD_TEST_IMAP", "from-env")
    assert support.secret() == "from-env"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('protocol = "imap"', 'protocol = "smtp"'),
         "'support': protocol must be one of imap, pop3, got 'smtp'"),
        (('tls = "starttls"', 'tls = "maybe"'), "'billing': tls must be one of"),
        (('move_to = "Archive"', 'move_to = ""'), "'support': after = \"move\" needs move_to"),
        (('after = "delete"', 'after = "move"'), "'billing': POP3 has no folders"),
        (('department = "Billing"', 'department = "Sales"'),
         "'billing': department 'Sales' is not declared"),
        (('password_file = "secrets/billing"', ""),
         "'billing': give exactly one of password, password_env or password_file"),
        (('name = "support"', 'name = "a-much-too-long-name"'), "name must be 1-11 letters"),
        (("interval = 300", "interval = 0"), "'billing': interval must be at least 1, got 0"),
        (('host = "pop.example.com"', 'host = ""'), "'billing': host must not be empty"),
        (("max_per_poll = 20", "max_per_poll = -1"), "'billing': max_per_poll must be at least"),
        (('username = "billing"', 'username = "billing"\nport = 70000'), "port must be 1-65535"),
        (('tls = "starttls"', 'tls = "starttls"\nidle = true'), "'billing': idle is for IMAP"),
        (('name = "billing"', 'name = "support"'), "[[mailbox]] 'support' is declared twice"),
        (('after = "delete"', 'after = "delete"\npasword = "x"'), "unknown key 'pasword'"),
    ],
)  # fmt: skip
def test_mistakes_name_the_file_and_the_mailbox(tmp_path, change, expected):
    old, new = change
    assert old in VALID
    problems = problems_of(tmp_path, VALID.replace(old, new, 1))
    assert any(expected in p and str(tmp_path / "config.toml") in p for p in problems), problems


def test_two_passwords_are_an_error_and_check_exits_non_zero(tmp_path):
    text = VALID.replace('password_file = "secrets/billing"',
                         'password_file = "secrets/billing"\npassword = "hunter22"')  # fmt: skip
    result = run_maild(write(tmp_path, text), "check", text=True)

    assert result.returncode != 0
    assert "'billing': give exactly one of" in result.stderr
    assert "(got password, password_file)" in result.stderr
    assert "hunter22" not in result.stderr and SECRET not in result.stdout + result.stderr


def test_backoff_doubles_up_to_half_an_hour():
    assert [backoff(60, n) for n in range(7)] == [60, 60, 120, 240, 480, 960, 1800]
    assert backoff(60, 50) == MAX_BACKOFF
    assert backoff(3600, 3) == 3600  # an interval longer than the cap is kept


def test_message_identity_by_message_id_else_content():
    with_id = b"Message-ID:  <abc@x.test>\r\nSubject: a\r\n\r\nbody\r\n"
    same_id = b"Subject: b\r\nMessage-Id: <abc@x.test>\r\n\r\nother body\r\n"
    without = b"Subject: a\r\n\r\nbody\r\n"

    assert message_identity(with_id)[0] == "abc@x.test"
    assert message_identity(with_id)[1] == message_identity(same_id)[1]
    assert message_identity(without)[0] == ""
    assert message_identity(without)[1].startswith("raw:")
    assert message_identity(without)[1] != message_identity(without + b"more")[1]
