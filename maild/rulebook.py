"""The TOML rules in force, loaded from `[paths] rules` and kept current.

Names in the rules are checked against the organisation in config.toml, the notice
templates on disk and, when the database is at hand, the agents. A rules directory that
does not exist holds no rules. At start-up any problem is an error (the daemon and
`maild check` refuse to run on broken rules); after that, `refresh()` reloads when a file
changed (the daemon asks every few seconds, and on SIGHUP), and a new rule set with
problems is refused — logged with every reason — while the last good one stays in force.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from maild.config import Config
from maild.errors import ConfigError
from rules import Decision, Facts, Known, Problem, RuleSet, evaluate, load_rules, signature

__all__ = ["RuleBook", "RulesError", "known_names", "template_names"]

log = logging.getLogger(__name__)


class RulesError(ConfigError):
    """The rule files have problems; `problems` has each one, naming file and rule."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        super().__init__([str(p) for p in problems])


def template_names(directory: Path) -> frozenset[str]:
    """The notice templates a rule may name: every `*.j2` directly in `directory`."""
    if not directory.is_dir():
        return frozenset()
    return frozenset(p.stem for p in directory.glob("*.j2") if p.is_file())


def known_names(config: Config, agents: Iterable[str] | None = None) -> Known:
    statuses = {"open", "pending", "resolved", "closed", *(s.name for s in config.statuses)}
    return Known(
        departments=frozenset(d.name for d in config.departments),
        agents=frozenset(a.lower() for a in agents) if agents is not None else None,
        teams=frozenset(t.name for t in config.teams),
        slas=frozenset(s.name for s in config.slas),
        topics=frozenset(t.name for t in config.topics),
        templates=template_names(config.paths.templates),
        statuses=frozenset(statuses),
        priorities=frozenset(config.tickets.priorities),
    )


class RuleBook:
    def __init__(self, config: Config, agents: Callable[[], Iterable[str]] | None = None) -> None:
        """Load the rules; raise RulesError listing every problem.

        `agents` gives the agents' addresses to check `assign` against (None: unchecked).
        """
        self.config = config
        self.directory = config.paths.rules
        self._agents = agents
        self._lock = threading.Lock()
        self._refused: tuple | None = None  # the signature of files already refused
        ruleset, problems = self._load()
        if problems:
            raise RulesError(problems)
        self.ruleset = ruleset

    def _load(self) -> tuple[RuleSet, list[Problem]]:
        if not self.directory.is_dir():
            return RuleSet.build((), (), ()), []
        agents = self._agents() if self._agents is not None else None
        return load_rules(self.directory, known_names(self.config, agents))

    def refresh(self, *, force: bool = False) -> bool:
        """Reload if a rule file changed (or `force`); whether a new rule set is in force."""
        with self._lock:
            current = signature(self.directory) if self.directory.is_dir() else ()
            if not force and current in (self.ruleset.signature, self._refused):
                return False
            ruleset, problems = self._load()
            if problems:
                self._refused = current
                log.error(
                    "rules in %s not reloaded; the previous rules stay in force:\n  %s",
                    self.directory,
                    "\n  ".join(str(p) for p in problems),
                )
                return False
            self.ruleset = ruleset
            log.info("rules reloaded from %s: %d rules", self.directory, len(ruleset))
            return True

    def decide(
        self, facts: Facts, *, channel: str = "email", moment: str = "create", explain=False
    ) -> Decision:
        return evaluate(self.ruleset, facts, channel=channel, moment=moment, explain=explain)
