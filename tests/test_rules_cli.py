"""The rules from the outside: `maild check`, `maild rules test`, and a running daemon that
picks up edited rule files and keeps the last good rules when an edit is broken."""

from __future__ import annotations

import hashlib
import shutil
import signal
import time

from store.models import Ticket
from tests.helpers import REPO, make_message, run_maild, send, wait_until, write_config

DEPARTMENTS = [{"name": "Billing"}, {"name": "Sales"}, {"name": "Support"}]
TO_BILLING = """
[[rule]]
name = "invoices"
if = [ { field = "subject", contains = "invoice" } ]
[rule.then]
department = "Billing"
"""


def configured(tmp_path, rules_text: str | None = None, **sections):
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    if rules_text is not None:
        (rules / "10-main.toml").write_text(rules_text)
    db_url = f"sqlite:///{tmp_path}/maild.db"
    return write_config(tmp_path, db_url=db_url, relay_port=1, paths={"rules": str(rules)},
                        department=DEPARTMENTS, **sections)  # fmt: skip


def test_check_lists_every_rule_problem_with_file_and_rule(tmp_path):
    broken = (
        TO_BILLING.replace('"Billing"', '"Bilings"')
        + """
[[rule]]
name = "invoices"
if = [ { field = "subject", matches = "(unclosed" } ]
"""
    )
    config = configured(tmp_path, broken)

    result = run_maild(config, "check", text=True)

    assert result.returncode == 1
    rules_file = tmp_path / "rules" / "10-main.toml"
    lines = result.stderr.splitlines()
    assert any(str(rules_file) in line and "rule 'invoices'" in line and "Bilings" in line
               for line in lines)  # fmt: skip
    assert any("duplicate" in line.lower() for line in lines)
    assert any("(unclosed" in line or "regular expression" in line for line in lines)


def test_check_accepts_the_shipped_examples(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules" / "examples", rules)
    config = write_config(tmp_path, db_url=f"sqlite:///{tmp_path}/maild.db", relay_port=1,
                          paths={"rules": str(rules)}, team=[{"name": "VIP"}],
                          department=DEPARTMENTS)  # fmt: skip
    result = run_maild(config, "check", text=True)
    assert result.returncode == 0, result.stderr
    assert "agents named in rules not checked: no database yet" in result.stderr


def test_rules_test_explains_and_changes_nothing(tmp_path):
    config = configured(tmp_path, TO_BILLING)
    message = tmp_path / "invoice.eml"
    message.write_bytes(make_message(subject="Your invoice 42", sender="Ada <ada@customer.test>"))
    # A database in use: the dry run must leave it byte for byte as it was.
    assert run_maild(config, "ticket", "list").returncode == 0
    database = tmp_path / "maild.db"
    before = hashlib.sha256(database.read_bytes()).hexdigest()

    result = run_maild(config, "rules", "test", str(message), text=True)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "sender: ada@customer.test" in out
    assert "subject: Your invoice 42" in out
    assert "rule 'invoices' (" in out and "hit" in out
    assert "department 'Billing': from rule 'invoices'" in out
    assert "new_ticket_autoresponse to ada@customer.test" in out
    assert out.rstrip().endswith("nothing was changed")
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before

    missing = run_maild(config, "rules", "test", str(tmp_path / "nope.eml"), text=True)
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_a_running_daemon_follows_edited_rules_and_keeps_the_last_good_ones(tmp_path, daemon_for):
    rules = tmp_path / "rules"
    rules.mkdir()
    rule_file = rules / "10-main.toml"
    rule_file.write_text(TO_BILLING)
    db_url = f"sqlite:///{tmp_path}/maild.db"
    daemon = daemon_for(db_url, paths={"rules": str(rules)}, department=DEPARTMENTS)

    def department_of(subject: str) -> str:
        send(daemon.smtp_port, make_message(subject=subject))
        ticket = wait_until(lambda: Ticket.get_or_none(Ticket.subject == subject), what=subject)
        return ticket.department

    from store.db import close_database, open_database

    open_database(db_url)
    try:
        assert department_of("invoice one") == "Billing"

        rule_file.write_text(TO_BILLING.replace('"Billing"', '"Sales"'))
        time.sleep(1.5)  # the workers look at the rule files once a second
        assert department_of("invoice two") == "Sales"

        rule_file.write_text(TO_BILLING.replace('"Billing"', '"Nowhere"'))
        wait_until(lambda: "not reloaded" in daemon.log.read_text(), what="refusal logged")
        assert department_of("invoice three") == "Sales"
        log = daemon.log.read_text()
        assert "rule 'invoices'" in log and "Nowhere" in log

        # SIGHUP makes the workers read the files even though nothing changed since.
        rule_file.write_text(TO_BILLING)
        wait_until(lambda: daemon.log.read_text().count("rules reloaded") >= 2, what="reload")
        reloads = daemon.log.read_text().count("rules reloaded")
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: daemon.log.read_text().count("rules reloaded") > reloads,
                   what="reload on SIGHUP")  # fmt: skip
        assert daemon.proc.poll() is None
        assert department_of("invoice four") == "Billing"
    finally:
        close_database()


def test_the_daemon_refuses_to_start_on_broken_rules(tmp_path):
    config = configured(tmp_path, TO_BILLING.replace('"Billing"', '"Nowhere"'))
    result = run_maild(config, "run", text=True)
    assert result.returncode == 78
    assert "rule 'invoices'" in result.stderr and "Nowhere" in result.stderr


def test_a_rules_folder_in_the_current_directory_does_not_hide_the_engine(tmp_path):
    import subprocess
    import sys

    config = configured(tmp_path, TO_BILLING)  # tmp_path/rules holds TOML files only
    result = subprocess.run([sys.executable, "-m", "maild", "--config", str(config), "check"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
