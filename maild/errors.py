"""The exceptions maild raises on purpose.

    MaildError
    ├── ConfigError (ValueError)      config.toml or a template is wrong; lists every problem
    └── TemporaryFailure (OSError)    try again later (locked database, relay down); the MTA retries

Normal outcomes of processing (duplicate, loop, bounce, quarantined) are return values,
not exceptions.
"""

from __future__ import annotations

__all__ = ["ConfigError", "MaildError", "TemporaryFailure"]


class MaildError(Exception):
    """Root of every error maild raises on purpose."""


class ConfigError(MaildError, ValueError):
    """The configuration (or a template it names) is invalid; `problems` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class TemporaryFailure(MaildError, OSError):
    """A failure worth retrying later: the database is locked, a server is down."""
