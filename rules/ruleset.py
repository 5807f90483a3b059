"""Loaded rules, and the per-channel plans that make evaluating a thousand of them cheap.

For every (channel, moment) pair the rule set precomputes which rules apply, so skipped
rules cost nothing per message. Most rules cannot match without one particular condition
holding, and many such conditions can be checked for all rules at once:

- `equals` or `in` on a text or list field (say `sender_domain in [...]`): the rule is
  filed under each of its values and found with one dict lookup per message;
- `contains` on a text field, or `matches` whose pattern needs some plain text: the texts
  of all such rules are looked for in one pass over the value (`rules.scan`).

Only the rules found so, and the rules with no such condition, are tested in full, in their
order. A condition a lookup has already settled is not tested again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rules.actions import Actions
from rules.closures import Test, join_tests
from rules.conditions import Group, Leaf
from rules.fields import CHANNELS, MOMENTS, View
from rules.scan import TextScan

__all__ = ["Rule", "RuleSet"]


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    name: str
    file: str
    description: str
    enabled: bool
    channels: tuple[str, ...]
    moments: tuple[str, ...]  # "create" and/or "reply"
    match: str  # "all" or "any"
    stop: bool  # as written; see `ends`
    condition: Group  # the top-level group; no children means it always matches
    actions: Actions

    @property
    def ends(self) -> bool:
        """True when nothing runs after this rule once it matches."""
        return self.stop or self.actions.ends

    @property
    def always_matches(self) -> bool:
        return not self.condition.children


@dataclass(frozen=True, slots=True)
class _Lookup:
    get: Test
    is_list: bool
    positions: dict[object, tuple[int, ...]]  # a value of the field → rules requiring it


@dataclass(frozen=True, slots=True)
class _Scan:
    get: Test
    texts: TextScan  # the text each rule needs in the value


@dataclass(frozen=True, slots=True)
class _Plan:
    unindexed: tuple[int, ...]  # tested for every message
    lookups: tuple[_Lookup, ...]
    scans: tuple[_Scan, ...]

    def candidates(self, view: View) -> Sequence[int]:
        """Positions of the rules worth testing, in order."""
        found: list[int] = []
        for lookup in self.lookups:
            value = lookup.get(view)
            if value is None:
                continue
            for item in value if lookup.is_list else (value,):  # type: ignore[attr-defined]
                hit = lookup.positions.get(item)
                if hit:
                    found += hit
        for scan in self.scans:
            value = scan.get(view)
            if value is not None:
                found += scan.texts.positions(value)  # type: ignore[arg-type]
        if not found:
            return self.unindexed
        merged = [*self.unindexed, *dict.fromkeys(found)]
        merged.sort()  # mostly one sorted run: timsort merges it in linear time
        return merged


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules in evaluation order: files by name, then the order within each file."""

    rules: tuple[Rule, ...] = ()
    files: tuple[str, ...] = ()
    signature: tuple = ()  # see `rules.loader.signature`; equal means nothing changed
    fast_tests: tuple[Test, ...] = field(default=(), repr=False)
    plans: dict[tuple[str, str], _Plan] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, rules: Sequence[Rule], files: Sequence[str], signature: tuple) -> RuleSet:
        keys = [_index_key(rule) for rule in rules]
        fast_tests = tuple(_fast_test(rule, key) for rule, key in zip(rules, keys, strict=True))
        plans = {
            (channel, moment): _plan(rules, keys, channel, moment)
            for channel in CHANNELS
            for moment in MOMENTS
        }
        return cls(tuple(rules), tuple(files), signature, fast_tests, plans)

    def __len__(self) -> int:
        return len(self.rules)

    def plan(self, channel: str, moment: str) -> _Plan:
        try:
            return self.plans[channel, moment]
        except KeyError:
            raise ValueError(
                f"channel must be one of {', '.join(CHANNELS)} and moment one of "
                f"{', '.join(MOMENTS)}, not {channel!r} and {moment!r}"
            ) from None


def _index_key(rule: Rule) -> Leaf | None:
    """The condition the rule is found by, if it has one that can be checked for all at once.

    Only a condition the rule cannot match without will do: one of an "all" group, or the
    single one of an "any" group. A lookup (`equals`, `in`) beats a scan (`contains`, a
    pattern's required text), since a dict lookup costs the same for any number of rules.
    """
    group = rule.condition
    if group.kind != "all" and len(group.children) != 1:
        return None
    leaves = [child for child in group.children if isinstance(child, Leaf)]
    return next((leaf for leaf in leaves if _looked_up(leaf)), None) or next(
        (leaf for leaf in leaves if leaf.needle is not None and not leaf.operator.negated), None
    )


def _looked_up(leaf: Leaf) -> bool:
    return (
        not leaf.operator.negated
        and leaf.operator.relation in ("equals", "in")
        and isinstance(leaf.operand.value, str | frozenset)  # not a size or a flag
    )


def _fast_test(rule: Rule, key: Leaf | None) -> Test:
    """The rule's test for when its index found it: without the condition that settled."""
    settled = key is not None and (_looked_up(key) or key.operator.relation == "contains")
    children = [child for child in rule.condition.children if not (settled and child is key)]
    test = join_tests("all" if settled else rule.condition.kind, [c.test for c in children])
    if not rule.condition.captures:
        return test

    def fresh_captures(view: View) -> object:
        view.captures = None  # a rule's placeholders see only its own captures
        return test(view)

    return fresh_captures


def _plan(rules: Sequence[Rule], keys: list[Leaf | None], channel: str, moment: str) -> _Plan:
    unindexed: list[int] = []
    lookups: dict[str, tuple[Leaf, dict[object, list[int]]]] = {}
    scans: dict[str, tuple[Test, list[tuple[str, int]]]] = {}
    for position, (rule, key) in enumerate(zip(rules, keys, strict=True)):
        if not (rule.enabled and channel in rule.channels and moment in rule.moments):
            continue
        if key is None:
            unindexed.append(position)
        elif _looked_up(key):
            table = lookups.setdefault(key.key, (key, {}))[1]
            values = key.operand.value
            for value in values if isinstance(values, frozenset) else (values,):
                table.setdefault(value, []).append(position)
        else:
            needle = key.needle
            assert needle is not None
            scans.setdefault(needle.key, (needle.get, []))[1].append((needle.text, position))
    return _Plan(
        tuple(unindexed),
        tuple(
            _Lookup(leaf.get, leaf.is_list, {v: tuple(p) for v, p in table.items()})
            for leaf, table in lookups.values()
        ),
        tuple(_Scan(get, TextScan(needles)) for get, needles in scans.values()),
    )
