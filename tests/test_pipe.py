"""`maild pipe` as an MTA runs it: exit codes, durability, processing with and without a daemon."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import make_message, run_maild, write_config


def pipe(config_path, raw: bytes, *args: str) -> subprocess.CompletedProcess:
    return run_maild(config_path, "pipe", *args, stdin=raw)


def ticket_lines(config_path) -> list[str]:
    result = run_maild(config_path, "ticket", "list", text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.fixture
def config_path(tmp_path, sink, db_url):
    return write_config(tmp_path, db_url=db_url, relay_port=sink.port)


def test_pipe_without_daemon_accepts_processes_and_sends(config_path, sink):
    result = pipe(config_path, make_message(subject="Piped in"), "-f", "ada@customer.test",
                  "support@helpdesk.test")  # fmt: skip

    assert result.returncode == 0, result.stderr
    (line,) = ticket_lines(config_path)
    assert "Piped in" in line
    (notice,) = sink.wait_for(1)
    assert notice["Subject"].endswith("Piped in")


def test_pipe_with_daemon_running_leaves_processing_to_it(daemon_for, db_url, sink):
    daemon = daemon_for(db_url)
    result = pipe(daemon.config_path, make_message(subject="For the daemon"))

    assert result.returncode == 0, result.stderr
    (notice,) = sink.wait_for(1)
    assert notice["Subject"].endswith("For the daemon")
    assert len(ticket_lines(daemon.config_path)) == 1


def test_empty_input_exits_65_with_reason(config_path):
    result = pipe(config_path, b"")
    assert result.returncode == 65
    assert b"empty message" in result.stderr


def test_oversized_input_exits_65(tmp_path, sink):
    path = write_config(tmp_path, db_url=f"sqlite:///{tmp_path}/m.db", relay_port=sink.port,
                        smtp={"max_message_size": 1000})  # fmt: skip
    result = pipe(path, make_message(body="x" * 5000))
    assert result.returncode == 65
    assert b"larger than 1000 bytes" in result.stderr


def test_unusable_store_setting_exits_75_so_the_mta_retries(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[store]\nurl = 12\n")
    result = pipe(path, make_message())
    assert result.returncode == 75
    assert b"configuration error" in result.stderr
    assert b"[store] url" in result.stderr


def test_other_config_errors_keep_the_message_for_later(tmp_path, sink):
    path = write_config(tmp_path, db_url=f"sqlite:///{tmp_path}/m.db", relay_port=sink.port,
                        smtp={"listen": "nonsense"})  # fmt: skip
    result = pipe(path, make_message())

    assert result.returncode == 0
    assert b"processing deferred" in result.stderr
    path.write_text(path.read_text().replace('"nonsense"', '"127.0.0.1:2525"'))
    assert pipe(path, make_message(subject="second")).returncode == 0
    assert len(ticket_lines(path)) == 2


def test_unreachable_database_exits_75(tmp_path, sink):
    path = write_config(tmp_path, db_url="postgresql://postgres@127.0.0.1:1/nothing",
                        relay_port=sink.port)  # fmt: skip
    result = pipe(path, make_message())
    assert result.returncode == 75
    assert b"could not store the message" in result.stderr


def test_bad_arguments_exit_64(config_path):
    result = pipe(config_path, make_message(), "--no-such-option")
    assert result.returncode == 64
