"""Read rule files into a `RuleSet`, reporting every problem instead of raising.

Every `*.toml` directly in the rules directory (not in subdirectories; names starting with
a dot, such as editors' lock files, are ignored) is read in file-name order. A rule with
any problem is left out of the rule set and the rest still load, so the caller decides
whether to run with them (`maild check` prints the problems and fails). The one exception
is a rule that can never run (hidden by an earlier rule that always matches and stops): it
stays, so that explain mode shows it as not reached. The format is described in the
`rules` package docstring.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

from rules.actions import parse_actions
from rules.conditions import parse_conditions
from rules.fields import CHANNELS, MOMENTS
from rules.problems import Known, Problem, suggest
from rules.ruleset import Rule, RuleSet

__all__ = ["load_rule_text", "load_rules", "signature"]

RULE_KEYS = ("name", "description", "enabled", "channels", "on", "match", "if", "stop", "then")
_NO_NAMES = Known()


def signature(directory: Path | str) -> tuple[tuple[str, int, int], ...]:
    """(file name, mtime in ns, size) of each rule file: a different value means an edit."""
    return tuple((path.name, mtime, size) for path, mtime, size in _rule_files(Path(directory)))


def load_rules(directory: Path | str, known: Known = _NO_NAMES) -> tuple[RuleSet, list[Problem]]:
    """The rules of every rule file in `directory`, and the problems found in them."""
    directory = Path(directory)
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        return RuleSet(), [Problem(str(directory), None, f"the rules directory {what}")]
    # Stat before reading: an edit made while loading shows up as a changed signature later.
    files = _rule_files(directory)
    sources, problems = [], []
    for path, _, _ in files:
        text = _read(path)
        if isinstance(text, Problem):
            problems.append(text)
        else:
            sources.append((str(path), text))
    found = tuple((path.name, mtime, size) for path, mtime, size in files)
    ruleset, more = _load(sources, known, found)
    return ruleset, problems + more


def load_rule_text(
    text: str, file: str = "<text>", known: Known = _NO_NAMES
) -> tuple[RuleSet, list[Problem]]:
    """The rules of one file's `text`, as if read from `file`."""
    return _load([(file, text)], known, ())


def _rule_files(directory: Path) -> list[tuple[Path, int, int]]:
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError:
        return []
    files = []
    for entry in entries:
        if entry.name.startswith(".") or not entry.name.endswith(".toml"):
            continue
        try:
            if entry.is_file():
                status = entry.stat()
                files.append((Path(entry.path), status.st_mtime_ns, status.st_size))
        except OSError:
            continue  # vanished or a dangling link: not a rule file
    return files


def _read(path: Path) -> str | Problem:
    try:
        data = path.read_bytes()
    except OSError as error:
        return Problem(str(path), None, f"cannot read the file: {error.strerror or error}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return Problem(str(path), None, "not UTF-8 text", line=line)


def _load(
    sources: Iterable[tuple[str, str]], known: Known, found: tuple
) -> tuple[RuleSet, list[Problem]]:
    rules: list[Rule] = []
    problems: list[Problem] = []
    defined: dict[str, str] = {}  # rule name → file it was first defined in
    files = []
    for file, text in sources:
        files.append(file)
        entries = _rule_entries(file, text, problems)
        for position, entry in enumerate(entries, 1):
            rule, wrong = _parse_rule(entry, file, position, known)
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str) and name in defined:
                where = defined[name]
                wrong.append(Problem(file, name, f"duplicate name (also in {where})", position))
            elif isinstance(name, str):
                defined[name] = file
            problems += wrong
            if rule is not None and not wrong:
                rules.append(rule)
    problems += _unreachable(rules)
    return RuleSet.build(rules, files, found), problems


_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _rule_entries(file: str, text: str, problems: list[Problem]) -> list:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message, line = str(error), None
        where = _TOML_WHERE.search(message)
        if where:
            message = f"{message[: where.start()]} (column {where.group(2)})"
            line = int(where.group(1))
        problems.append(Problem(file, None, f"TOML syntax: {message}", line=line))
        return []
    except RecursionError:
        problems.append(Problem(file, None, "TOML syntax: nested too deeply"))
        return []
    for key in data:
        if key != "rule":
            hint = suggest(key, ["rule"]) or " (a rule file holds only [[rule]] tables)"
            problems.append(Problem(file, None, f"unknown top-level key {key!r}{hint}"))
    entries = data.get("rule", [])
    if not isinstance(entries, list):
        problems.append(Problem(file, None, "write each rule as [[rule]], with two brackets"))
        return []
    return entries


def _parse_rule(
    entry: object, file: str, position: int, known: Known
) -> tuple[Rule | None, list[Problem]]:
    if not isinstance(entry, dict):
        return None, [Problem(file, None, "must be a table ([[rule]])", position)]
    name = entry.get("name")
    messages = []
    if not isinstance(name, str) or not name.strip():
        messages.append("name is missing" if name is None else "name must be a non-empty string")
        name = None
    for key in entry:
        if key not in RULE_KEYS:
            messages.append(f"unknown key {key!r}{suggest(key, RULE_KEYS)}")
    description = _typed(entry, "description", str, "", "a string", messages)
    enabled = _typed(entry, "enabled", bool, True, "true or false", messages)
    stop = _typed(entry, "stop", bool, False, "true or false", messages)
    match = entry.get("match", "all")
    if match not in ("all", "any"):
        messages.append(f'match must be "all" or "any", not {match!r}')
        match = "all"
    channels = _choices(entry, "channels", "channel", CHANNELS, CHANNELS, messages)
    moments = _choices(entry, "on", "moment", MOMENTS, ("create",), messages)
    condition, wrong = parse_conditions(entry.get("if", []), match, "if")
    messages += wrong
    captures = None if condition is None else frozenset(condition.captures)
    actions, wrong = parse_actions(entry.get("then"), known, captures)
    messages += wrong
    problems = [Problem(file, name, message, position) for message in messages]
    if problems or condition is None:
        return None, problems
    rule = Rule(
        name=name,  # type: ignore[arg-type]
        file=file,
        description=description,
        enabled=enabled,
        channels=channels,
        moments=moments,
        match=match,
        stop=stop,
        condition=condition,
        actions=actions,
    )
    return rule, []


def _typed(entry: dict, key: str, kind: type, default, what: str, messages: list[str]):
    value = entry.get(key, default)
    if not isinstance(value, kind):
        messages.append(f"{key} must be {what}, not {value!r}")
        return default
    return value


def _choices(
    entry: dict, key: str, what: str, allowed: tuple[str, ...], default, messages: list[str]
) -> tuple[str, ...]:
    value = entry.get(key)
    if value is None:
        return default
    example = f'{key} = ["{allowed[0]}"]'
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        messages.append(f"{key} must be a list of strings, e.g. {example}")
        return default
    if not value:
        messages.append(f"{key} is empty, so the rule would never run")
    for item in value:
        if item not in allowed:
            messages.append(f"{key}: unknown {what} {item!r} (one of {', '.join(allowed)})")
    return tuple(choice for choice in allowed if choice in value)


def _unreachable(rules: list[Rule]) -> list[Problem]:
    """A problem for each enabled rule that an earlier unconditional stopping rule hides."""
    blocking: dict[tuple[str, str], Rule] = {}  # (channel, moment) → first rule that ends there
    problems = []
    for rule in rules:
        if not rule.enabled:
            continue
        pairs = [(channel, moment) for channel in rule.channels for moment in rule.moments]
        if all(pair in blocking for pair in pairs):
            stoppers = list(dict.fromkeys(blocking[pair] for pair in pairs))
            named = " and ".join(f"rule {s.name!r} ({s.file})" for s in stoppers)
            verbs = "always matches and stops" if len(stoppers) == 1 else "always match and stop"
            problems.append(Problem(rule.file, rule.name, f"can never run: {named} {verbs}"))
        elif rule.always_matches and rule.ends:
            for pair in pairs:
                blocking.setdefault(pair, rule)
    return problems
