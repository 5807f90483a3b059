"""Actions: a rule's `[rule.then]` table, checked at load and rendered when the rule matches.

    reject = true | "explanation mailed to the sender"     ends evaluation
    discard = true                                         drop silently; ends evaluation
    quarantine = "reason"                                  hold as spam; ends evaluation
    department, topic, priority, sla, status, team = "name"
    assign = "agent@example.com"
    collaborators = ["a@example.com"]     tags = ["vip"]
    autoresponse = "template" | false     a canned autoresponse instead of the default, or none
    send = [ { to = "addr", template = "name" } ]
    fields = { order_number = "{order}" }  custom fields

String values may use `{capture}` placeholders (`rules.placeholders`), except template
names, which name files. Names are checked against `Known` unless they use a placeholder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rules.placeholders import Text, parse_text
from rules.problems import Known, suggest

__all__ = ["ACTIONS", "ENDING", "Actions", "Send", "parse_actions"]

Captures = Mapping[str, str] | None
Render = Callable[[Captures], object]

ENDING = ("reject", "discard", "quarantine")
# Scalar actions naming a thing, with the kind `Known` checks them as.
_NAMED = {
    "department": "department",
    "topic": "topic",
    "priority": "priority",
    "sla": "SLA plan",
    "status": "status",
    "assign": "agent",
    "team": "team",
}
ACTIONS = (*ENDING, *_NAMED, "collaborators", "tags", "autoresponse", "send", "fields")


@dataclass(frozen=True, slots=True)
class Send:
    to: str
    template: str


@dataclass(frozen=True, slots=True)
class Actions:
    items: tuple[tuple[str, Render], ...]  # in the order the file lists them
    ends: bool  # reject, discard or quarantine: nothing runs after this rule

    def render(self, captures: Captures) -> tuple[tuple[str, object], ...]:
        return tuple((name, render(captures)) for name, render in self.items)


_NONE = Actions((), False)


def parse_actions(
    table: object, known: Known, captures: frozenset[str] | None, path: str = "then"
) -> tuple[Actions, list[str]]:
    """The rule's actions and the problems found.

    `captures` are the placeholder names the rule may use; None skips that check (when the
    rule's conditions are broken, their captures are unknown).
    """
    if table is None:
        return _NONE, []
    if not isinstance(table, dict):
        return _NONE, [f"{path}: must be a table ([rule.then], or then = {{ … }})"]
    problems: list[str] = []
    items = []
    for name, written in table.items():
        where = f"{path}.{name}"
        if name not in ACTIONS:
            problems.append(f"{path}: unknown action {name!r}{_hint(name)}")
            continue
        render = _PARSERS.get(name, _named)(name, written, known)
        if isinstance(render, str):
            problems.append(f"{where}: {render}")
            continue
        used, render = render
        if captures is not None:
            unknown = [n for n in used if n not in captures]
            problems += [f"{where}: {_unknown_capture(n, captures)}" for n in unknown]
        items.append((name, render))
    ending = [name for name in ENDING if name in table]
    if len(ending) > 1:
        problems.append(f"{path}: {' and '.join(ending)} exclude each other; keep one")
    return Actions(tuple(items), bool(ending)), problems


# Keys of the rule itself, which land in `then` when written below the [rule.then] header.
_RULE_KEYS = ("name", "description", "enabled", "channels", "on", "match", "if", "stop")


def _hint(name: str) -> str:
    if name in _RULE_KEYS:
        return f" ({name!r} belongs to the rule: write it above [rule.then])"
    return suggest(name, ACTIONS)


def _unknown_capture(name: str, captures: frozenset[str]) -> str:
    if not captures:
        hint = f"this rule captures nothing; a matches condition can, with (?P<{name}>…)"
        return f"unknown capture {{{name}}}: {hint}"
    have = ", ".join(sorted(captures))
    return f"unknown capture {{{name}}}{suggest(name, captures)}: this rule captures {have}"


Parsed = tuple[tuple[str, ...], Render] | str  # (capture names used, renderer) or a problem


def _text(written: object, what: str = "a string") -> Text | str:
    if not isinstance(written, str) or not written.strip():
        return f"takes {what}"
    return parse_text(written)


def _constant(value: object) -> Render:
    return lambda captures: value


def _named(name: str, written: object, known: Known) -> Parsed:
    kind = _NAMED[name]
    text = _text(written, "an address" if kind == "agent" else f"a {kind} name")
    if isinstance(text, str):
        return text
    if not text.names:
        problem = known.unknown(kind, written) or _address_problem(kind, text)  # type: ignore[arg-type]
        if problem:
            return problem
    return text.names, text.render


def _address_problem(kind: str, text: Text) -> str | None:
    if kind == "agent" and "@" not in text.written:
        return f"{text.written!r} is not an address"
    return None


def _reject(name: str, written: object, known: Known) -> Parsed:
    if written is True:
        return (), _constant(True)
    text = _text(written, "true or an explanation to mail to the sender")
    return text if isinstance(text, str) else (text.names, text.render)


def _discard(name: str, written: object, known: Known) -> Parsed:
    return ((), _constant(True)) if written is True else "takes true (to drop the message)"


def _quarantine(name: str, written: object, known: Known) -> Parsed:
    text = _text(written, "the reason, as a string")
    return text if isinstance(text, str) else (text.names, text.render)


def _template(written: object, known: Known) -> str | None:
    """The problem with a template name, or None."""
    if not isinstance(written, str) or not written.strip():
        return "takes a template name"
    if "{" in written or "}" in written:
        return f"template names cannot use placeholders ({written!r})"
    return known.unknown("template", written)


def _autoresponse(name: str, written: object, known: Known) -> Parsed:
    if written is False:
        return (), _constant(False)
    problem = _template(written, known)
    if problem:
        return f"{problem}, or false to send none" if problem.startswith("takes") else problem
    return (), _constant(written)


def _string_list(name: str, written: object, known: Known) -> Parsed:
    what = "addresses" if name == "collaborators" else "strings"
    if not isinstance(written, list) or not written:
        return f'takes a list of {what}, e.g. {name} = ["…"]'
    texts = [_text(item, f"a list of {what}") for item in written]
    problem = next((text for text in texts if isinstance(text, str)), None)
    if problem:
        return problem
    parsed: list[Text] = texts  # type: ignore[assignment]
    if name == "collaborators":
        wrong = next((t.written for t in parsed if not t.names and "@" not in t.written), None)
        if wrong is not None:
            return f"{wrong!r} is not an address"
    names = tuple(n for text in parsed for n in text.names)
    return names, lambda captures: tuple(text.render(captures) for text in parsed)


def _send(name: str, written: object, known: Known) -> Parsed:
    if not isinstance(written, list) or not written:
        return 'takes a list of { to = "address", template = "name" } tables'
    messages: list[tuple[Text, str]] = []
    for number, item in enumerate(written, 1):
        if not isinstance(item, dict) or set(item) != {"to", "template"}:
            return f'[{number}]: must be {{ to = "address", template = "name" }}, nothing else'
        to = _text(item["to"], "an address")
        if isinstance(to, str):
            return f"[{number}].to: {to}"
        if not to.names and "@" not in to.written:
            return f"[{number}].to: {to.written!r} is not an address"
        problem = _template(item["template"], known)
        if problem:
            return f"[{number}].template: {problem}"
        messages.append((to, item["template"]))
    names = tuple(n for to, _ in messages for n in to.names)
    return names, lambda captures: tuple(Send(to.render(captures), t) for to, t in messages)


def _fields(name: str, written: object, known: Known) -> Parsed:
    if not isinstance(written, dict) or not written:
        return 'takes a table of custom fields, e.g. fields = { order_number = "{order}" }'
    values: list[tuple[str, Text | object]] = []
    for key, value in written.items():
        if isinstance(value, str):
            text = parse_text(value)
            if isinstance(text, str):
                return f"{key}: {text}"
            values.append((key, text))
        elif isinstance(value, bool | int | float):
            values.append((key, value))
        else:
            return f"{key}: takes a string, a number or true/false"
    names = tuple(n for _, v in values if isinstance(v, Text) for n in v.names)
    return names, lambda captures: tuple(
        (key, value.render(captures) if isinstance(value, Text) else value) for key, value in values
    )


_PARSERS: dict[str, Callable[[str, object, Known], Parsed]] = {
    "reject": _reject,
    "discard": _discard,
    "quarantine": _quarantine,
    "autoresponse": _autoresponse,
    "collaborators": _string_list,
    "tags": _string_list,
    "send": _send,
    "fields": _fields,
}
