r"""The rule engine: admins route and triage mail by editing TOML rule files.

Pure: the standard library only, no I/O but reading the rule files. The daemon loads a
rules directory once (and again when `signature` changes), builds `Facts` for each message
and asks `evaluate` for a `Decision`; `maild check` prints the loader's problems and
`maild rules test` prints an explained decision.

    ruleset, problems = load_rules(Path("rules"), Known(departments={"Billing", "Sales"}))
    decision = evaluate(ruleset, facts, channel="email", moment="create")

Rule files
----------
Every `*.toml` directly in the rules directory is read in file-name order (so name them
`10-…`, `20-…`); each file holds its rules in order, and that is the order they run in.

    [[rule]]
    name = "billing keywords"              # required, unique across all files
    description = "Invoices go to Billing" # optional
    enabled = true                         # default true
    channels = ["email"]                   # of email, web, api, phone; default all four
    on = ["create", "reply"]               # default ["create"]; "reply" = a follow-up
    match = "any"                          # "all" (default) or "any" of the conditions
    if = [                                 # conditions; empty or missing = always matches
      { field = "subject", contains = "invoice" },
      { field = "subject", matches = '(?P<order>\bORD-\d{6}\b)' },
      { any = [ { field = "sender_domain", in = ["bigcorp.example", "vip.example"] },
                { field = "header:X-Priority", equals = "1" } ] },   # { all = [...] } too
    ]
    stop = false                           # true = no further rules run after this one matches
    [rule.then]                            # the actions; keep rule keys above this header
    department = "Billing"
    priority = "high"
    fields = { order_number = "{order}" }  # named captures of `matches` conditions

Fields: sender, sender_name, sender_domain, to, cc, recipients (to + cc), reply_to,
subject, body, header:<Name> (case-insensitive name), recipient (the helpdesk address the
mail was sent to), topic, organisation, attachment_name, attachment_type, size (bytes),
auto_reply, bounce, list (true/false), field:<name> (custom form fields), priority, channel.

Operators: equals, not_equals, contains, not_contains, starts_with, ends_with, matches,
not_matches (Python regular expressions, found anywhere in the value: anchor them with ^
and $), in, not_in (lists), exists (true/false), greater, less (numbers; on size also
"5MB", "200KB", "1.5 MB", binary units). Text comparisons ignore case unless the condition
says `case_sensitive = true`. On a list field (to, cc, recipients, attachments, headers) an
operator matches when any element does, a not_* operator when none does. A missing value
(or empty text) matches only `exists = false` and the not_* operators. Details:
`rules.conditions`, `rules.operators`, `rules.fields`.

Actions: reject, discard, quarantine (these end evaluation), department, topic, priority,
sla, status, assign, team, collaborators, tags, autoresponse, send, fields. A later rule's
department (or other single value) replaces an earlier one; collaborators, tags and send
accumulate; fields merge. String values may use `{name}` for what a named group of one of
the rule's `matches` conditions captured. Details: `rules.actions`, `rules.decision`.

Rules for another channel or moment are skipped. The loader checks everything it can
(keys, types, regular expressions, operators, fields, sizes, channels, duplicate names,
capture names, the `Known` names, rules hidden by an earlier rule that always stops) and
returns every problem with its file and rule; it never raises on bad input. A rule with a
problem is left out of the `RuleSet`, so a caller should refuse a rule set with problems.
"""

from rules.actions import Send
from rules.decision import Decision, Hit, Step
from rules.engine import evaluate
from rules.facts import Facts, header_map
from rules.loader import load_rule_text, load_rules, signature
from rules.problems import Known, Problem
from rules.ruleset import Rule, RuleSet

__all__ = [
    "Decision",
    "Facts",
    "Hit",
    "Known",
    "Problem",
    "Rule",
    "RuleSet",
    "Send",
    "Step",
    "evaluate",
    "header_map",
    "load_rule_text",
    "load_rules",
    "signature",
]
