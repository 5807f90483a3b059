#!/usr/bin/env python3
"""Rule engine benchmark: microseconds per message with 10, 100 and 1,000 rules.

    python bench/rules.py [--sizes 10,100,1000] [--messages 500] [--repeat 5]

Prints figures and asserts nothing (see bench/README.md, "Rule engine", for the target and the
results). It writes N generated rules of a realistic mix into 10 files in a temporary
directory, loads them with `rules.load_rules`, and times `rules.evaluate` over a corpus from
`gen_corpus.py` (seed 1) parsed with the standard library's `email` package. Parsing and
building `Facts` are done once, before timing: the figures are the engine's alone. Times are
CPU time of this process (`time.process_time`), best of `--repeat` passes over the corpus, so
that other work on the machine does not count.

The mix (seeded): 35% keyword rules (`contains` on the subject, a third on the body; each
keyword or phrase used by one rule), 25% customer domains (`sender_domain in [1-6 domains]`,
one domain in five from the corpus), 15% regular expressions with a named capture (a third on
the body), 10% header `equals`, 10% a keyword AND a nested `any` group, 5% size, list-mail
or attachment-type rules; a fifth of the rules are for the email channel only, a tenth also
run on replies.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from email.utils import getaddresses, parseaddr
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# This file is called rules.py too: drop bench/ from the path so that `rules` is the package.
HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
sys.path.insert(0, str(REPO))

from rules import Facts, evaluate, header_map, load_rules  # noqa: E402

HELPDESK = "support@helpdesk.test"
FILES = 10

# Words and domains of the kind gen_corpus.py writes, so that a realistic share of rules match.
# fmt: off
KEYWORDS = [
    "invoice", "refund", "password", "login", "sync", "export", "csv", "licence", "renewal",
    "slow", "update", "upload", "two-factor", "migration", "cancel", "subscription", "error",
    "quote", "seats", "backup", "vpn", "api", "timesheet", "payroll", "outage", "certificate",
    "InvoicePro", "SyncDrive", "Ledgerly", "FleetTrack", "PayFlow", "DataPipe",
]
DOMAIN_WORDS = [
    "acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark", "wayne", "tyrell",
    "cyberdyne", "soylent", "massive", "wonka", "oceanic", "dunder", "aperture", "contoso",
    "fabrikam", "northwind", "tailspin", "litware", "woodgrove", "alpine",
]
SUFFIXES = ["-corp.com", "-inc.com", ".co.uk", ".de", ".io", "-group.com", ".net", "-labs.com"]
PHRASES = [
    "cannot log in", "sync failing", "wrong amount", "new users", "very slow", "reset link",
    "export to csv", "licence renewal", "http 500", "missing after migration", "month-end",
    "cancel subscription", "corrected invoice", "status page", "audit log", "firewall",
    "screenshot", "business plan", "time sensitive", "workspace cache",
]
# fmt: on
DEPARTMENTS = ["Billing", "Sales", "Support", "Accounts", "Security"]


def say(*args) -> None:
    print(*args, flush=True)


class Vocabulary:
    """Keywords and customer domains, each used by one rule only, as an admin would write them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        combos = [f"{a} {b}" for a in KEYWORDS for b in KEYWORDS if a != b]
        rng.shuffle(combos)
        self.singles = rng.sample(KEYWORDS, len(KEYWORDS))
        self.phrases = rng.sample(PHRASES, len(PHRASES)) + combos
        corpus = [word + suffix for word in DOMAIN_WORDS for suffix in SUFFIXES]
        self.corpus_domains = rng.sample(corpus, len(corpus))
        self.other_domains = (f"client{n}.example" for n in range(10**9))

    def needle(self) -> str:
        if self.singles and self.rng.random() < 0.3:
            return self.singles.pop()
        return self.phrases.pop() if self.phrases else f"phrase {self.rng.random()}"

    def domain(self) -> str:
        # One customer domain in five is one the corpus sends from.
        if self.corpus_domains and self.rng.random() < 0.2:
            return self.corpus_domains.pop()
        return next(self.other_domains)


def keyword_rule(rng: random.Random, words: Vocabulary) -> str:
    field = rng.choice(["subject", "subject", "body"])
    condition = f'{{ field = "{field}", contains = "{words.needle()}" }}'
    return f'if = [{condition}]\n[rule.then]\ndepartment = "{rng.choice(DEPARTMENTS)}"\n'


def domain_rule(rng: random.Random, words: Vocabulary) -> str:
    domains = ", ".join(f'"{words.domain()}"' for _ in range(rng.randint(1, 6)))
    extra = ', { field = "auto_reply", equals = false }' if rng.random() < 0.3 else ""
    return (
        f'if = [{{ field = "sender_domain", in = [{domains}] }}{extra}]\n'
        f'[rule.then]\npriority = "high"\ntags = ["customer-{rng.randint(1, 99)}"]\n'
    )


def header_rule(rng: random.Random, words: Vocabulary) -> str:
    header, value = rng.choice(
        [
            ("X-Customer-Tier", f"tier-{rng.randint(1, 50)}"),
            ("X-Priority", "1 (Highest)"),
            ("X-Mailer", "Microsoft Outlook 16.0"),
            ("X-Spam-Flag", "YES"),
        ]
    )
    condition = f'{{ field = "header:{header}", equals = "{value}" }}'
    return f'if = [{condition}]\nthen = {{ tags = ["h"] }}\n'


def regex_rule(rng: random.Random, words: Vocabulary) -> str:
    prefix = rng.choice(["INV", "SUB", "ORD", "REF", "CASE", "PO"])
    field = "body" if rng.random() < 0.3 else "subject"
    pattern = rf"\b(?P<ref>{prefix}-\d{{{rng.randint(4, 6)}}})\b"
    return (
        f"if = [{{ field = \"{field}\", matches = '{pattern}' }}]\n"
        '[rule.then]\nfields = { reference = "{ref}" }\n'
    )


def nested_rule(rng: random.Random, words: Vocabulary) -> str:
    return (
        f'if = [{{ field = "subject", contains = "{words.needle()}" }},\n'
        "  { any = [\n"
        f'    {{ field = "sender_domain", ends_with = "{rng.choice(SUFFIXES)}" }},\n'
        '    { field = "header:X-Priority", starts_with = "1" },\n'
        f'    {{ field = "recipients", contains = "{rng.choice(["sales", "billing"])}" }},\n'
        "  ] }]\n"
        f'then = {{ team = "Team {rng.randint(1, 9)}" }}\n'
    )


def size_or_flag_rule(rng: random.Random, words: Vocabulary) -> str:
    condition = rng.choice(
        [
            '{ field = "size", greater = "5MB" }',
            '{ field = "list", equals = true }',
            '{ field = "attachment_type", starts_with = "image/" }',
        ]
    )
    return f'if = [{condition}]\nthen = {{ tags = ["flagged"] }}\n'


MIX = [
    (keyword_rule, 35),
    (domain_rule, 25),
    (regex_rule, 15),
    (header_rule, 10),
    (nested_rule, 10),
    (size_or_flag_rule, 5),
]


def write_rules(directory: Path, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    makers = [maker for maker, weight in MIX for _ in range(weight)]
    words = Vocabulary(rng)
    files: list[list[str]] = [[] for _ in range(FILES)]
    for number in range(n):
        header = f'[[rule]]\nname = "rule {number}"\n'
        if rng.random() < 0.2:
            header += 'channels = ["email"]\n'
        if rng.random() < 0.1:
            header += 'on = ["create", "reply"]\n'
        files[number * FILES // n].append(header + rng.choice(makers)(rng, words))
    for index, rules in enumerate(files):
        (directory / f"{index:02d}-bench.toml").write_text("\n".join(rules))


def corpus(n: int, directory: Path) -> list[Facts]:
    tool = REPO.parent / "shared/tools/gen_corpus.py"
    if not tool.exists():
        tool = Path("/work/shared/tools/gen_corpus.py")
    command = [sys.executable, str(tool), str(n), "--out", str(directory), "--seed", "1"]
    subprocess.run([*command, "--to", HELPDESK], check=True, stdout=subprocess.DEVNULL)
    return [facts_of(path.read_bytes()) for path in sorted((directory / "eml").glob("*.eml"))]


def facts_of(raw: bytes) -> Facts:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    sender_name, sender = parseaddr(str(msg.get("From", "")))
    to = tuple(a for _, a in getaddresses([str(v) for v in msg.get_all("To", [])]) if a)
    cc = tuple(a for _, a in getaddresses([str(v) for v in msg.get_all("Cc", [])]) if a)
    body = msg.get_body(preferencelist=("plain",))
    attachments = list(msg.iter_attachments())  # type: ignore[attr-defined]
    return Facts(
        sender=sender,
        sender_name=sender_name,
        to=to,
        cc=cc,
        subject=str(msg.get("Subject", "")),
        body=body.get_content() if body is not None else None,  # type: ignore[attr-defined]
        headers=header_map((name, str(value)) for name, value in msg.items()),
        recipient=HELPDESK,
        attachment_name=tuple(part.get_filename() or "" for part in attachments),
        attachment_type=tuple(part.get_content_type() for part in attachments),
        size=len(raw),
    )


def per_message(ruleset, messages: list[Facts], repeat: int, *, explain: bool) -> float:
    """Best of `repeat` passes over the corpus, in microseconds per message."""
    passes = []
    for _ in range(repeat):
        started = time.process_time()
        for facts in messages:
            evaluate(ruleset, facts, channel="email", explain=explain)
        passes.append(time.process_time() - started)
    return min(passes) / len(messages) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    say(f"maild rule engine benchmark — Python {platform.python_version()}, {platform.machine()}")
    with tempfile.TemporaryDirectory(prefix="maild-bench-rules-") as temporary:
        root = Path(temporary)
        messages = corpus(args.messages, root / "corpus")
        mean_kb = statistics.mean(f.size or 0 for f in messages) / 1024
        say(f"{len(messages)} messages from gen_corpus.py (seed 1), mean {mean_kb:.1f} KB")
        say("")
        say("| rules | load | µs/message | explain µs/message | rules matched per message |")
        say("|---:|---:|---:|---:|---:|")
        for size in sizes:
            directory = root / f"rules-{size}"
            directory.mkdir()
            write_rules(directory, size)
            started = time.process_time()
            ruleset, problems = load_rules(directory)
            load_ms = (time.process_time() - started) * 1000
            if problems:
                raise SystemExit(f"generated rules have problems: {problems[0]}")
            fast = per_message(ruleset, messages, args.repeat, explain=False)
            explained = per_message(ruleset, messages, max(1, args.repeat // 2), explain=True)
            hits = statistics.mean(
                len(evaluate(ruleset, facts, channel="email").matched) for facts in messages
            )
            say(f"| {size:,} | {load_ms:.1f} ms | {fast:.1f} | {explained:.1f} | {hits:.2f} |")


if __name__ == "__main__":
    main()
