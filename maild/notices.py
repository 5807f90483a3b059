"""Rendering notices from the Jinja2 templates in `templates/`.

Each notice is one file with three blocks: `subject`, `text` and `html`. The same file is
loaded by two environments, one escaping HTML and one not, so the html block is escaped
and the subject and text blocks are not. Undefined variables are errors (StrictUndefined),
and `check()` renders every notice with sample values so `maild check` catches them early.

A department may have its own wording: `templates/<department name>/<notice>.j2` replaces
the common template for that department's tickets. Which overrides exist is read once, at
start, so choosing a template costs no file-system lookup per notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

__all__ = ["MARKER", "NOTICES", "Notices", "Rendered"]

MARKER = "-- Please reply above this line --"

NOTICES = (
    "new_ticket_autoresponse",
    "new_message_autoresponse",
    "agent_response",
    "overdue_alert",
    "sla_warning",
    "new_ticket_alert",
    "new_message_alert",
    "assignment_alert",
    "transfer_alert",
    "rejection",
    "agent_mail_result",
)
_BLOCKS = ("subject", "text", "html")


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


class Notices:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        loader = jinja2.FileSystemLoader(str(directory))
        common = {"loader": loader, "undefined": jinja2.StrictUndefined, "auto_reload": False}
        self._plain = jinja2.Environment(autoescape=False, **common)
        self._escaped = jinja2.Environment(autoescape=True, **common)
        self.overrides = _overrides(directory)
        self._loaded: dict[str, tuple] = {}

    def template_name(self, name: str, department: str | None = None) -> str:
        """The file that renders `name` for `department`: its override, else the common one."""
        if department and name in self.overrides.get(department, ()):
            return f"{department}/{name}.j2"
        return f"{name}.j2"

    def render(self, name: str, context: dict[str, Any], department: str | None = None) -> Rendered:
        plain, escaped, defaults = self._templates(self.template_name(name, department))
        context = {**defaults, **context}
        # One context for both plain blocks: building a context costs more than a block.
        # The globals are already in `context`, so it is passed as it is (shared) instead of
        # being merged anew for each context.
        shared = plain.new_context(context, shared=True)
        subject = " ".join(_block(plain, "subject", shared).split())
        html = (
            _block(escaped, "html", escaped.new_context(context, shared=True))
            if "html" in escaped.blocks
            else ""
        )
        return Rendered(
            subject=subject,
            text=_block(plain, "text", shared).strip() + "\n",
            html=html.strip(),
        )

    def _templates(self, path: str) -> tuple[jinja2.Template, jinja2.Template, dict[str, Any]]:
        """The plain and the escaping template at `path`, and the values every render starts
        from (Jinja's globals, the marker, an empty signature); loaded once."""
        found = self._loaded.get(path)
        if found is None:
            plain = self._plain.get_template(path)
            defaults = {**plain.globals, "marker": MARKER, "signature": ""}
            found = self._loaded[path] = (plain, self._escaped.get_template(path), defaults)
        return found

    def check(self) -> list[str]:
        """Every problem with the templates and department overrides, each naming the file."""
        extra = sorted(p.stem for p in self.directory.glob("*.j2") if p.stem not in NOTICES)
        names = [*NOTICES, *extra]  # extra ones: canned responses rules may name
        problems = [p for name in names if (p := self._check_one(name, f"{name}.j2"))]
        for department, names in sorted(self.overrides.items()):
            for name in sorted(names):
                problem = self._check_one(name, f"{department}/{name}.j2")
                if problem:
                    problems.append(problem)
        return problems

    def _check_one(self, name: str, relative: str) -> str | None:
        path = self.directory / relative
        try:
            template = self._plain.get_template(relative)
        except jinja2.TemplateNotFound:
            return f"{path}: missing"
        except jinja2.TemplateSyntaxError as exc:
            return f"{path}:{exc.lineno}: {exc.message}"
        missing = [b for b in _BLOCKS[:2] if b not in template.blocks]
        if missing:
            return f"{path}: no {' or '.join(missing)} block"
        department = relative.rpartition("/")[0] or None
        try:
            self.render(name, sample_context(), department)
        except jinja2.TemplateError as exc:
            return f"{path}: {exc}"
        return None


def _overrides(directory: Path) -> dict[str, frozenset[str]]:
    """Department name → the notices its folder overrides."""
    if not directory.is_dir():
        return {}
    found = {}
    for folder in directory.iterdir():
        if folder.is_dir():
            names = frozenset(n for n in NOTICES if (folder / f"{n}.j2").is_file())
            if names:
                found[folder.name] = names
    return found


def _block(template: jinja2.Template, name: str, context: jinja2.runtime.Context) -> str:
    render = template.blocks.get(name)
    return "".join(render(context)) if render is not None else ""


def sample_context() -> dict[str, Any]:
    """Values shaped like the real ones, for checking templates without a database."""
    return {
        "helpdesk": {"name": "Example Support", "address": "support@example.com", "url": ""},
        "ticket": {
            "number": "123456",
            "subject": "Printer on fire",
            "status": "open",
            "department": "Support",
            "priority": "high",
        },
        "breach": {"target": "resolution", "due": "2026-11-30 16:00 UTC", "plan": "standard"},
        "recipient": {"name": "Ada Lovelace", "email": "ada@example.org"},
        "message": {"text": "It is still burning.", "from": "Ada Lovelace <ada@example.org>"},
        "assignment": {"how": "round-robin"},
        "transfer": {"from": "Support"},
        "result": {"subject": "Re: Printer", "ticket": "123456", "problems": ["#frob: unknown"]},
        "rejection": {"reason": "We do not accept mail from this domain.", "subject": "Hi"},
        "response": {"text": "Please unplug it.", "html": "<p>Please unplug it.</p>"},
        "agent": {"name": "Grace Hopper"},
        "token": "[#123456]",
        "previous_ticket": "654321",
        "signature": "The Support team",
    }
