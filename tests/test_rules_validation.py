"""Loading reports every mistake, naming the file and the rule, and never raises."""

from __future__ import annotations

import pytest

from rules import Known, Problem, load_rule_text, load_rules

FILE = "rules/20-routing.toml"
KNOWN = Known(
    departments={"Billing", "Sales", "Support"},
    agents={"Alice@Example.com"},
    teams={"VIP"},
    slas={"gold"},
    topics={"Refunds"},
    templates={"password_reset", "vip_alert"},
    statuses={"open", "pending"},
    priorities={"low", "normal", "high"},
)


def problems(text: str, known: Known = KNOWN) -> list[str]:
    _, found = load_rule_text(text, FILE, known)
    return [str(problem) for problem in found]


def rule(body: str, name: str = "billing keywords") -> str:
    return f'[[rule]]\nname = "{name}"\n{body}\n'


def only_problem(text: str, known: Known = KNOWN) -> str:
    found = problems(text, known)
    assert len(found) == 1, found
    assert found[0].startswith(f"{FILE}: rule 'billing keywords': "), found[0]
    return found[0].removeprefix(f"{FILE}: rule 'billing keywords': ")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # unknown keys, with a suggestion when one is close
        ('chanels = ["email"]', "unknown key 'chanels' (did you mean 'channels'?)"),
        (
            'if = [{ field = "subject", contain = "x" }]',
            "if[1]: unknown key 'contain' (did you mean 'contains'?)",
        ),
        (
            'then = { departement = "Billing" }',
            "then: unknown action 'departement' (did you mean 'department'?)",
        ),
        (
            "[rule.then]\nstop = true",
            "then: unknown action 'stop' ('stop' belongs to the rule: write it above [rule.then])",
        ),
        # wrong types
        ('enabled = "yes"', "enabled must be true or false, not 'yes'"),
        ("stop = 1", "stop must be true or false, not 1"),
        ("description = 3", "description must be a string, not 3"),
        ('channels = "email"', 'channels must be a list of strings, e.g. channels = ["email"]'),
        (
            'if = { field = "subject", exists = true }',
            "if: must be a list of conditions, e.g. if = [ { field = … } ]",
        ),
        ('if = ["subject"]', 'if[1]: a condition is a table, e.g. { field = "subject", … }'),
        ("then = []", "then: must be a table ([rule.then], or then = { … })"),
        (
            "if = [{ field = 3, exists = true }]",
            'if[1]: field must be a string (e.g. field = "subject")',
        ),
        ('if = [{ field = "subject", equals = 1 }]', "if[1]: equals takes a string, not a number"),
        (
            'if = [{ field = "subject", in = "a" }]',
            'if[1]: in takes a list of strings, e.g. in = ["a", "b"]',
        ),
        (
            'if = [{ field = "subject", in = [] }]',
            "if[1]: in takes a list with at least one string",
        ),
        ('if = [{ field = "subject", exists = "yes" }]', "if[1]: exists takes true or false"),
        (
            'if = [{ field = "subject", contains = "" }]',
            "if[1]: contains an empty string would match every value",
        ),
        (
            'if = [{ field = "auto_reply", equals = "yes" }]',
            "if[1]: equals takes true or false on 'auto_reply'",
        ),
        (
            'if = [{ field = "subject", greater = "5" }]',
            "if[1]: greater takes a number, not the string '5'",
        ),
        (
            'if = [{ field = "subject", case_sensitive = "yes", contains = "x" }]',
            "if[1]: case_sensitive must be true or false",
        ),
        (
            'if = [{ field = "size", greater = 5, case_sensitive = true }]',
            "if[1]: case_sensitive applies only to text comparisons",
        ),
        ('then = { tags = "vip" }', 'then.tags: takes a list of strings, e.g. tags = ["…"]'),
        (
            "then = { fields = { a = [1] } }",
            "then.fields: a: takes a string, a number or true/false",
        ),
        (
            'then = { send = [{ to = "a@example.com" }] }',
            'then.send: [1]: must be { to = "address", template = "name" }, nothing else',
        ),
        ('then = { collaborators = ["bob"] }', "then.collaborators: 'bob' is not an address"),
        ('then = { assign = "alice" }', "then.assign: unknown agent 'alice'"),
        (
            "then = { autoresponse = true }",
            "then.autoresponse: takes a template name, or false to send none",
        ),
        (
            "then = { reject = false }",
            "then.reject: takes true or an explanation to mail to the sender",
        ),
        ('then = { discard = "yes" }', "then.discard: takes true (to drop the message)"),
        ('then = { quarantine = "" }', "then.quarantine: takes the reason, as a string"),
        (
            "then = { reject = true, discard = true }",
            "then: reject and discard exclude each other; keep one",
        ),
        # regular expressions, operators, fields, sizes
        (
            "if = [{ field = \"subject\", matches = '(unclosed' }]",
            "if[1]: bad regular expression '(unclosed': missing ), unterminated subpattern at "
            "position 0",
        ),
        ('if = [{ field = "subject", resembles = "x" }]', "if[1]: unknown key 'resembles'"),
        (
            'if = [{ field = "subject" }]',
            "if[1]: no operator (one of equals, not_equals, contains, not_contains, starts_with, "
            "ends_with, matches, not_matches, in, not_in, greater, less, exists)",
        ),
        (
            'if = [{ field = "subject", contains = "a", equals = "b" }]',
            "if[1]: several operators (contains, equals); a condition takes exactly one",
        ),
        (
            'if = [{ field = "subjct", contains = "a" }]',
            "if[1]: unknown field 'subjct' (did you mean 'subject'?)",
        ),
        (
            'if = [{ field = "header:Bad Name", exists = true }]',
            "if[1]: field 'header:Bad Name': not a valid header name",
        ),
        (
            'if = [{ field = "field:", exists = true }]',
            "if[1]: field 'field:': the custom field's name is missing",
        ),
        (
            'if = [{ field = "size", contains = "a" }]',
            "if[1]: contains does not apply to 'size' (a number)",
        ),
        (
            'if = [{ field = "bounce", greater = 1 }]',
            "if[1]: greater does not apply to 'bounce' (true/false)",
        ),
        (
            'if = [{ field = "size", greater = "5 XB" }]',
            "if[1]: greater has a bad size '5 XB' "
            "(write e.g. 5MB, 200KB, 1.5 MB or a number of bytes)",
        ),
        (
            'if = [{ field = "size", less = "MB" }]',
            "if[1]: less has a bad size 'MB' (write e.g. 5MB, 200KB, 1.5 MB or a number of bytes)",
        ),
        (
            'if = [{ field = "size", greater = nan }]',
            "if[1]: greater takes a finite number, not nan",
        ),
        # groups
        ("if = [{ any = [] }]", "if[1].any: an empty group never decides anything; remove it"),
        (
            'if = [{ all = [{ field = "subject", exists = true }], field = "x" }]',
            "if[1]: a group has only its 'all' list, not also 'field'",
        ),
        (
            'if = [{ any = [{ all = [{ field = "subjct", exists = true }] }] }]',
            "if[1].any[1].all[1]: unknown field 'subjct' (did you mean 'subject'?)",
        ),
        (
            'if = [{ any = { field = "subject", exists = true } }]',
            "if[1].any: must be a list of conditions",
        ),
        # channels, moments, match
        (
            'channels = ["email", "sms"]',
            "channels: unknown channel 'sms' (one of email, web, api, phone)",
        ),
        ("channels = []", "channels is empty, so the rule would never run"),
        ('on = ["close"]', "on: unknown moment 'close' (one of create, reply)"),
        ('match = "some"', 'match must be "all" or "any", not \'some\''),
        (
            'if = [{ field = "channel", in = ["web", "fax"] }]',
            "if[1]: unknown channel 'fax' (one of email, web, api, phone)",
        ),
        # captures and placeholders
        (
            'then = { tags = ["{order}"] }',
            "then.tags: unknown capture {order}: this rule captures nothing; a matches condition "
            "can, with (?P<order>…)",
        ),
        (
            "if = [{ field = \"subject\", matches = '(?P<order>ORD-\\d+)' }]\n"
            'then = { fields = { n = "{ordr}" } }',
            "then.fields: unknown capture {ordr} (did you mean 'order'?): this rule captures order",
        ),
        (
            "if = [{ field = \"subject\", not_matches = '(?P<order>ORD-\\d+)' }]\n"
            'then = { fields = { n = "{order}" } }',
            "then.fields: unknown capture {order}: this rule captures nothing; a matches condition "
            "can, with (?P<order>…)",
        ),
        (
            'then = { department = "{oops" }',
            "then.department: unbalanced '{' in '{oops' (write '{{' for a literal brace)",
        ),
        (
            'then = { team = "{a.b}" }',
            "then.team: placeholder {a.b} in '{a.b}' must be a capture name",
        ),
        (
            'then = { autoresponse = "{x}" }',
            "then.autoresponse: template names cannot use placeholders ('{x}')",
        ),
    ],
)
def test_each_mistake_is_reported_with_file_and_rule(body, message):
    assert only_problem(rule(body)) == message


KNOWN_KW = {
    "departments": KNOWN.departments,
    "teams": KNOWN.teams,
    "slas": KNOWN.slas,
    "topics": KNOWN.topics,
    "templates": KNOWN.templates,
    "statuses": KNOWN.statuses,
    "priorities": KNOWN.priorities,
}


@pytest.mark.parametrize(
    ("then", "message"),
    [
        ('department = "Billng"', "unknown department 'Billng' (did you mean 'Billing'?)"),
        ('assign = "bob@example.com"', "unknown agent 'bob@example.com'"),
        ('team = "Red"', "unknown team 'Red'"),
        ('sla = "silver"', "unknown SLA plan 'silver'"),
        ('topic = "Refund"', "unknown topic 'Refund' (did you mean 'Refunds'?)"),
        ('status = "waiting"', "unknown status 'waiting'"),
        ('priority = "urgent"', "unknown priority 'urgent'"),
        (
            'autoresponse = "password-reset"',
            "unknown template 'password-reset' (did you mean 'password_reset'?)",
        ),
    ],
)
def test_unknown_names_are_reported(then, message):
    key = then.partition(" ")[0]
    # One agent unlike bob@example.com, so that no "did you mean" is added.
    found = only_problem(rule(f"[rule.then]\n{then}"), Known(**KNOWN_KW, agents={"x@y"}))
    assert found == f"then.{key}: {message}"


def test_the_exact_form_of_an_unknown_name_problem():
    found = problems(rule('[rule.then]\ndepartment = "Billng"'))
    assert found == [
        "rules/20-routing.toml: rule 'billing keywords': then.department: unknown department "
        "'Billng' (did you mean 'Billing'?)"
    ]


def test_send_templates_are_checked_and_agents_ignore_case():
    text = rule(
        '[rule.then]\nassign = "ALICE@example.com"\n'
        'send = [{ to = "a@example.com", template = "vip_alert" },'
        ' { to = "b@example.com", template = "nope" }]'
    )
    assert only_problem(text) == "then.send: [2].template: unknown template 'nope'"


def test_names_using_placeholders_and_unchecked_kinds_pass():
    text = rule(
        "if = [{ field = \"subject\", matches = '(?P<d>\\w+)' }]\n"
        '[rule.then]\ndepartment = "{d}"\npriority = "anything"'
    )
    assert problems(text, Known(departments={"Billing"})) == []
    assert problems(rule('[rule.then]\ndepartment = "Anything"'), Known()) == []


def test_toml_syntax_errors_name_file_and_line():
    text = rule('if = [\n  { field = "subject" contains = "a" },\n]')
    assert problems(text) == [
        "rules/20-routing.toml:4: TOML syntax: Unclosed inline table (column 23)"
    ]
    (problem,) = load_rule_text(text, FILE)[1]
    assert (problem.file, problem.line, problem.rule) == (FILE, 4, None)


def test_a_rule_without_a_name_is_named_by_its_position():
    text = rule("") + '[[rule]]\ndescription = "x"\n' + "[[rule]]\nname = 5\n"
    assert problems(text) == [
        "rules/20-routing.toml: rule #2: name is missing",
        "rules/20-routing.toml: rule #3: name must be a non-empty string",
    ]
    found = load_rule_text(text, FILE)[1]
    assert [(p.rule, p.position) for p in found] == [(None, 2), (None, 3)]


def test_file_level_mistakes():
    assert problems('[rule]\nname = "x"\n') == [
        "rules/20-routing.toml: write each rule as [[rule]], with two brackets"
    ]
    assert problems('rules = 1\n[[rule]]\nname = "x"\n') == [
        "rules/20-routing.toml: unknown top-level key 'rules' (did you mean 'rule'?)"
    ]
    assert problems("rule = [1]\n") == [
        "rules/20-routing.toml: rule #1: must be a table ([[rule]])"
    ]


def test_several_problems_are_reported_at_once_and_good_rules_still_load():
    text = (
        rule('chanels = ["email"]\nif = [{ field = "subjct", contains = "a" }]', name="bad")
        + rule('then = { department = "Billing" }', name="good")
        + rule('then = { department = "Billng" }', name="also bad")
    )
    ruleset, found = load_rule_text(text, FILE, KNOWN)
    assert [str(p) for p in found] == [
        "rules/20-routing.toml: rule 'bad': unknown key 'chanels' (did you mean 'channels'?)",
        "rules/20-routing.toml: rule 'bad': if[1]: unknown field 'subjct' (did you mean "
        "'subject'?)",
        "rules/20-routing.toml: rule 'also bad': then.department: unknown department 'Billng' "
        "(did you mean 'Billing'?)",
    ]
    assert [r.name for r in ruleset.rules] == ["good"]


def test_duplicate_names_across_files(tmp_path):
    (tmp_path / "10-a.toml").write_text(rule("", name="vip"))
    (tmp_path / "20-b.toml").write_text(rule("", name="vip") + rule("", name="other"))
    ruleset, found = load_rules(tmp_path)
    assert [str(p) for p in found] == [
        f"{tmp_path}/20-b.toml: rule 'vip': duplicate name (also in {tmp_path}/10-a.toml)"
    ]
    assert [r.name for r in ruleset.rules] == ["vip", "other"]


@pytest.mark.parametrize(
    "ending",
    [
        "stop = true",
        "then = { discard = true }",
        "then = { reject = true }",
        'then = { quarantine = "x" }',
    ],
)
def test_a_rule_hidden_by_an_earlier_rule_that_always_stops(tmp_path, ending):
    (tmp_path / "10-a.toml").write_text(rule(ending, name="catch all"))
    (tmp_path / "20-b.toml").write_text(rule("", name="late"))
    ruleset, found = load_rules(tmp_path)
    assert [str(p) for p in found] == [
        f"{tmp_path}/20-b.toml: rule 'late': can never run: rule 'catch all' "
        f"({tmp_path}/10-a.toml) always matches and stops"
    ]
    assert len(ruleset) == 2


@pytest.mark.parametrize(
    "first",
    [
        'stop = true\nif = [{ field = "subject", exists = true }]',  # has a condition
        'stop = true\nchannels = ["web"]',  # covers another channel only
        'stop = true\non = ["reply"]',  # covers another moment only
        "stop = true\nenabled = false",  # never runs itself
        'then = { tags = ["x"] }',  # does not stop
    ],
)
def test_a_rule_is_not_hidden_unless_all_its_channels_and_moments_are(first):
    assert problems(rule(first, name="first") + rule("", name="late")) == []


def test_several_stopping_rules_together_can_hide_one():
    text = (
        rule('stop = true\nchannels = ["email", "web"]', name="a")
        + rule('stop = true\nchannels = ["api", "phone"]', name="b")
        + rule('on = ["create"]', name="late")
    )
    assert problems(text) == [
        "rules/20-routing.toml: rule 'late': can never run: rule 'a' (rules/20-routing.toml) and "
        "rule 'b' (rules/20-routing.toml) always match and stop"
    ]


def test_unreadable_input_is_a_problem_not_an_exception(tmp_path):
    (tmp_path / "10-latin1.toml").write_bytes(b'[[rule]]\nname = "caf\xe9"\n')
    ruleset, found = load_rules(tmp_path)
    assert [str(p) for p in found] == [f"{tmp_path}/10-latin1.toml:2: not UTF-8 text"]
    assert len(ruleset) == 0
    missing = tmp_path / "nope"
    assert load_rules(missing)[1] == [
        Problem(str(missing), None, "the rules directory does not exist")
    ]


def test_deep_nesting_is_refused():
    condition = '{ field = "subject", exists = true }'
    for _ in range(20):
        condition = f"{{ any = [{condition}] }}"
    (found,) = problems(rule(f"if = [{condition}]"))
    assert "groups nested more than 16 deep" in found
    (found,) = problems("x = " + "[" * 5000 + "]" * 5000)
    assert found.startswith("rules/20-routing.toml: TOML syntax")
