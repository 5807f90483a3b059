"""What evaluating the rules on one message decided, and why.

`Decision` is immutable and holds every action's combined value: a later matching rule's
scalar action (department, priority, …) replaces an earlier one; list actions
(collaborators, tags, send) accumulate without duplicates; `fields` merge, later values
winning. `matched` names each rule that matched, the conditions that decided it and the
actions it applied; `trace` (explain mode only) has every rule's outcome in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rules.actions import Send
from rules.operators import show

__all__ = ["NO_DECISION", "Decision", "DecisionBuilder", "Hit", "Step"]

FieldValue = str | int | float | bool


@dataclass(frozen=True, slots=True)
class Hit:
    rule: str
    file: str
    reasons: tuple[str, ...]  # the conditions that decided: "subject 'Invoice' contains 'invoice'"
    actions: tuple[tuple[str, object], ...]  # (action, value) with captures filled in

    def __str__(self) -> str:
        done = "; ".join(_describe(name, value) for name, value in self.actions) or "no actions"
        return f"rule {self.rule!r} ({self.file}): {'; '.join(self.reasons)} => {done}"


@dataclass(frozen=True, slots=True)
class Step:
    rule: str
    file: str
    outcome: str  # "hit", "miss", "skipped" or "not reached"
    reason: str

    def __str__(self) -> str:
        return f"rule {self.rule!r} ({self.file}): {self.outcome}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Decision:
    reject: bool = False
    reject_message: str | None = None  # the explanation to mail to the sender, if the rule gave one
    discard: bool = False
    quarantine: str | None = None  # the reason
    department: str | None = None
    topic: str | None = None
    priority: str | None = None
    sla: str | None = None
    status: str | None = None
    assign: str | None = None
    team: str | None = None
    collaborators: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    autoresponse: str | bool | None = None  # None: the default; False: none; a template name
    send: tuple[Send, ...] = ()
    fields: tuple[tuple[str, FieldValue], ...] = ()
    stopped_by: str | None = None  # the rule after which no further rule ran
    matched: tuple[Hit, ...] = ()
    trace: tuple[Step, ...] = field(default=(), compare=False)

    @property
    def field_values(self) -> Mapping[str, FieldValue]:
        return dict(self.fields)


NO_DECISION = Decision()


class DecisionBuilder:
    """Collects the actions of matching rules, in order, into one `Decision`."""

    def __init__(self) -> None:
        self.scalars: dict[str, object] = {}
        self.lists: dict[str, dict[object, None]] = {}  # insertion-ordered sets
        self.fields: dict[str, FieldValue] = {}
        self.hits: list[Hit] = []
        self.stopped_by: str | None = None

    def apply(self, hit: Hit) -> None:
        self.hits.append(hit)
        for name, value in hit.actions:
            if name in ("collaborators", "tags", "send"):
                self.lists.setdefault(name, {}).update(dict.fromkeys(value))  # type: ignore[call-overload]
            elif name == "fields":
                self.fields.update(value)  # type: ignore[call-overload]
            elif name == "reject":
                self.scalars["reject"] = True
                self.scalars["reject_message"] = value if isinstance(value, str) else None
            else:
                self.scalars[name] = value

    def build(self, trace: tuple[Step, ...] = ()) -> Decision:
        return Decision(
            **self.scalars,  # type: ignore[arg-type]
            **{name: tuple(values) for name, values in self.lists.items()},
            fields=tuple(self.fields.items()),
            stopped_by=self.stopped_by,
            matched=tuple(self.hits),
            trace=trace,
        )


def _describe(name: str, value: object) -> str:
    if name in ("collaborators", "tags"):
        return f"{name} += {show(value)}"
    if name == "send":
        return "; ".join(f"send {s.template!r} to {s.to!r}" for s in value)  # type: ignore[attr-defined]
    if name == "fields":
        return "; ".join(f"fields.{key} = {show(val)}" for key, val in value)  # type: ignore[attr-defined]
    if value is True:
        return name
    return f"{name} = {show(value)}"
