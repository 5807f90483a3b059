"""The ticket statuses in force: the four built-in ones plus those declared in config.toml.

Every status has a state (open, pending, resolved or closed); the state, not the name,
decides what the status means. A ticket in a resolved or closed state is finished: its
SLA clock stops and the sweep ignores it. A customer's reply moves a ticket out of any
status whose `reopen_on_reply` is set (by default pending, resolved and closed) into its
`reopen_to` status.
"""

from __future__ import annotations

from maild.config import Config
from maild.config_org import Status

__all__ = ["StatusBook"]

_BUILTIN = (
    Status("open", "open", reopen_on_reply=False),
    Status("pending", "pending"),
    Status("resolved", "resolved"),
    Status("closed", "closed"),
)
_FINISHED_STATES = ("resolved", "closed")


class StatusBook:
    def __init__(self, config: Config) -> None:
        self.by_name = {s.name: s for s in (*_BUILTIN, *config.statuses)}
        self.final = frozenset(n for n, s in self.by_name.items() if s.state in _FINISHED_STATES)

    def __contains__(self, name: str) -> bool:
        return name in self.by_name

    def names(self) -> list[str]:
        return list(self.by_name)

    def state(self, name: str) -> str:
        status = self.by_name.get(name)
        return status.state if status is not None else "open"

    def is_final(self, name: str) -> bool:
        return name in self.final

    def after_customer_reply(self, name: str) -> str | None:
        """The status a customer's reply moves a ticket in `name` to; None: it stays."""
        status = self.by_name.get(name)
        if status is None or not status.reopen_on_reply or status.reopen_to == name:
            return None
        return status.reopen_to
