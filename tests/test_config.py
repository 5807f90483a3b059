"""config.toml: the shipped defaults, every kind of mistake named with key and file, `check`."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from maild.config import Config, load
from maild.errors import ConfigError
from tests.helpers import run_maild

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "config.toml"


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load(path)
    return raised.value.problems


def maild(config: Path, *args: str) -> subprocess.CompletedProcess:
    return run_maild(config, *args, text=True)


# -- the shipped file -------------------------------------------------------------------


def test_shipped_config_loads_with_documented_defaults():
    config = load(SHIPPED)

    assert config.path == SHIPPED
    assert config.smtp.listen == "127.0.0.1:2525"
    assert config.relay.host == ""
    assert config.store.url == f"sqlite:///{REPO / 'data' / 'maild.db'}"
    assert config.paths.data == REPO / "data"
    assert config.paths.templates == REPO / "templates"
    assert config.helpdesk.address == "support@example.com"
    assert config.tickets.token == "[#{number}]"


def test_shipped_config_shows_every_key_with_its_default(tmp_path):
    """Every key is in the shipped file, and the value shown there is the default."""
    table = tomllib.loads(SHIPPED.read_text())
    for section in dataclasses.fields(Config):
        if section.name == "path" or section.default_factory is dataclasses.MISSING:
            continue  # the arrays of tables ([[department]] …) are commented examples
        keys = {f.name for f in dataclasses.fields(section.default_factory())}
        assert set(table[section.name]) == keys, section.name

    empty = write(tmp_path, "")
    shutil.copy(SHIPPED, tmp_path / "shipped.toml")
    defaults = load(empty)
    shipped = load(tmp_path / "shipped.toml")
    assert dataclasses.replace(shipped, path=empty) == defaults


def test_missing_file_is_an_error_naming_it(tmp_path):
    (problem,) = problems_of(tmp_path / "nowhere.toml")
    assert str(tmp_path / "nowhere.toml") in problem


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "[smtp]\nlisten = \n")
    (problem,) = problems_of(path)
    assert str(path) in problem
    assert "line 2" in problem


# -- mistakes named with key and file ---------------------------------------------------


def test_unknown_section_names_section_and_file(tmp_path):
    path = write(tmp_path, "[smpt]\nlisten = '127.0.0.1:25'\n")
    (problem,) = problems_of(path)
    assert str(path) in problem
    assert "smpt" in problem


def test_unknown_key_names_key_and_file(tmp_path):
    path = write(tmp_path, "[smtp]\nlisen = '127.0.0.1:25'\n")
    (problem,) = problems_of(path)
    assert str(path) in problem
    assert "[smtp]" in problem
    assert "lisen" in problem


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("smtp", "max_recipients", '"100"'),
        ("smtp", "enabled", "1"),
        ("helpdesk", "aliases", "[1, 2]"),
        ("helpdesk", "aliases", '"help@example.com"'),
        ("relay", "timeout", '"30"'),
        ("relay", "host", "127"),
        ("outbound", "max_attempts", "2.5"),
        ("paths", "data", '""'),
    ],
)
def test_wrong_type_names_key_and_file(tmp_path, section, key, value):
    path = write(tmp_path, f"[{section}]\n{key} = {value}\n")
    (problem,) = problems_of(path)
    assert str(path) in problem
    assert f"[{section}]" in problem
    assert key in problem


def test_section_that_is_not_a_table_is_an_error(tmp_path):
    path = write(tmp_path, 'smtp = "127.0.0.1:25"\n')
    (problem,) = problems_of(path)
    assert str(path) in problem
    assert "smtp" in problem


def test_every_problem_is_listed_at_once(tmp_path):
    path = write(
        tmp_path,
        """
        [smtp]
        max_recipients = "many"
        listen = "nope"
        colour = "blue"
        [relay]
        starttls = 1
        [tickets]
        token = "#"
        [nonsense]
        """,
    )
    problems = problems_of(path)
    text = "\n".join(problems)
    assert len(problems) == 6, problems
    for word in ("max_recipients", "listen", "colour", "starttls", "token", "nonsense"):
        assert word in text
    assert all(str(path) in p for p in problems)


def test_every_problem_is_listed_including_unknown_section(tmp_path):
    path = write(tmp_path, "[nonsense]\n[smtp]\nenabled = 'yes'\n")
    problems = problems_of(path)
    assert len(problems) == 2
    assert any("nonsense" in p for p in problems)
    assert any("enabled" in p for p in problems)


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('[smtp]\nlisten = "nope"', ["[smtp]", "listen", "nope"]),
        ('[web]\nlisten = "127.0.0.1:99999"', ["[web]", "listen"]),
        ('[smtp]\nlisten = ":25"', ["[smtp]", "listen"]),
        ('[helpdesk]\naddress = "support.example.com"', ["[helpdesk]", "support.example.com"]),
        ('[helpdesk]\naliases = ["help"]', ["[helpdesk]", "help"]),
        ('[tickets]\ntoken = "[#]"', ["[tickets]", "token"]),
        ('[tickets]\nnumber_format = "TICKET"', ["[tickets]", "number_format"]),
        ('[tickets]\nnumbering = "serial"', ["[tickets]", "numbering", "serial"]),
        ('[store]\nurl = "mysql://root@localhost/maild"', ["[store]", "url", "mysql"]),
        ("[outbound]\nmax_attempts = 0", ["[outbound]", "max_attempts"]),
        ("[smtp]\nmax_message_size = -1", ["[smtp]", "max_message_size"]),
    ],
)
def test_invalid_value_is_an_error(tmp_path, toml, words):
    path = write(tmp_path, toml + "\n")
    (problem,) = problems_of(path)
    assert str(path) in problem
    for word in words:
        assert word in problem


def test_invalid_address_names_its_key(tmp_path):
    path = write(tmp_path, '[helpdesk]\naddress = "support.example.com"\naliases = ["help"]\n')
    problems = problems_of(path)
    assert any("address" in p.replace("email address", "") for p in problems)
    assert any("aliases" in p for p in problems)


def test_postgresql_store_url_is_accepted_unchanged(tmp_path):
    url = "postgresql://maild:secret@db.internal:5432/maild"
    config = load(write(tmp_path, f'[store]\nurl = "{url}"\n'))
    assert config.store.url == url


# -- paths ------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    folder = tmp_path / "etc" / "maild"
    folder.mkdir(parents=True)
    write(
        folder,
        '[paths]\ndata = "state"\ntemplates = "../notices"\n[store]\nurl = "sqlite:///db/x.db"\n',
    )
    monkeypatch.chdir(tmp_path)

    config = load(Path("etc/maild/config.toml"))

    assert config.paths.data == folder / "state"
    assert config.paths.templates.resolve() == tmp_path / "etc" / "notices"
    assert config.paths.rules == folder / "rules"
    assert config.store.url == f"sqlite:///{folder / 'db' / 'x.db'}"


def test_absolute_paths_are_kept(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    config = load(
        write(
            tmp_path,
            f'[paths]\ndata = "{elsewhere}"\n[store]\nurl = "sqlite:///{elsewhere}/m.db"\n',
        )
    )
    assert config.paths.data == elsewhere
    assert config.store.url == f"sqlite:///{elsewhere}/m.db"


# -- whose mail is it -------------------------------------------------------------------


@pytest.fixture
def ours(tmp_path) -> Config:
    return load(
        write(
            tmp_path,
            '[helpdesk]\naddress = "support@example.com"\naliases = ["help@example.com"]\n',
        )
    )


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("support@example.com", True),
        ("Support@Example.COM", True),
        ("help@example.com", True),
        ("support+billing@example.com", True),
        ("support+1234-abcdef@example.com", True),
        ("help+urgent@example.com", True),
        ("support@example.org", False),
        ("support+billing@example.org", False),
        ("sales@example.com", False),
        ("sales+support@example.com", False),
        ("xsupport@example.com", False),
    ],
)
def test_is_ours(ours, address, expected):
    assert ours.is_ours(address) is expected


def test_plus_addresses_are_not_ours_when_plus_addressing_is_off(tmp_path):
    config = load(write(tmp_path, "[helpdesk]\nplus_addressing = false\n"))
    assert config.is_ours("support@example.com")
    assert not config.is_ours("support+billing@example.com")


# -- `maild check` ----------------------------------------------------------------------


def test_check_passes_on_the_shipped_config():
    result = maild(SHIPPED, "check")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_check_lists_every_config_error_on_stderr(tmp_path):
    path = write(tmp_path, '[smtp]\nlisten = "nope"\nbogus = 1\n[relay]\nport = "25"\n')
    result = maild(path, "check")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, result.stderr
    assert all(str(path) in line for line in lines)
    for word in ("listen", "bogus", "port"):
        assert word in result.stderr


def test_check_on_a_missing_config_fails_naming_it(tmp_path):
    result = maild(tmp_path / "absent.toml", "check")
    assert result.returncode != 0
    assert str(tmp_path / "absent.toml") in result.stderr


@pytest.fixture
def broken_templates(tmp_path):
    """A copy of the shipped templates and a config pointing at it: `(config, folder)`."""
    folder = tmp_path / "templates"
    shutil.copytree(REPO / "templates", folder)
    config = write(tmp_path, f'[paths]\ntemplates = "{folder}"\n')
    assert maild(config, "check").returncode == 0
    return config, folder


def test_check_reports_template_syntax_error_with_file_and_line(broken_templates):
    config, folder = broken_templates
    broken = folder / "agent_response.j2"
    lines = broken.read_text().splitlines()
    lines.insert(4, "{% if ticket.number %}never closed")
    broken.write_text("\n".join(lines) + "\n")

    result = maild(config, "check")

    assert result.returncode == 1
    assert f"{broken}:" in result.stderr
    assert "OK" not in result.stdout


def test_check_reports_undefined_template_variable(broken_templates):
    config, folder = broken_templates
    broken = folder / "new_ticket_autoresponse.j2"
    broken.write_text(broken.read_text().replace("{{ helpdesk.name }}", "{{ helpdesk_name }}"))

    result = maild(config, "check")

    assert result.returncode == 1
    assert str(broken) in result.stderr
    assert "helpdesk_name" in result.stderr


def test_check_reports_missing_template(broken_templates):
    config, folder = broken_templates
    (folder / "new_message_autoresponse.j2").unlink()

    result = maild(config, "check")

    assert result.returncode == 1
    assert str(folder / "new_message_autoresponse.j2") in result.stderr


def test_relay_port_out_of_range_is_an_error(tmp_path):
    path = write(tmp_path, '[relay]\nhost = "127.0.0.1"\nport = 70000\n')
    (problem,) = problems_of(path)
    assert "[relay]" in problem
    assert "port" in problem


def test_check_covers_department_template_overrides(broken_templates):
    config, folder = broken_templates
    text = config.read_text() + '[[department]]\nname = "Billing"\n'
    config.write_text(text)
    (folder / "Billing").mkdir()
    override = folder / "Billing" / "agent_response.j2"
    override.write_text("{% block subject %}{{ token }}{% endblock %}"
                        "{% block text %}{{ no_such_thing }}{% endblock %}")  # fmt: skip
    (folder / "Biling").mkdir()
    (folder / "Biling" / "agent_response.j2").write_text((folder / "agent_response.j2").read_text())

    result = maild(config, "check")

    assert result.returncode == 1
    assert f"{override}: 'no_such_thing' is undefined" in result.stderr
    assert f"{folder / 'Biling'}: overrides notices for department 'Biling'" in result.stderr
