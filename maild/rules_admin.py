"""`maild rules test MESSAGE.eml`: what the rules would do with a saved message.

It shows the fields the rules saw, every rule's hit or miss with the reason, the combined
decision, the routing that would follow and the notices that would be sent — and changes
nothing: the database is only read (inside a transaction that is rolled back), no user is
created, no mail is queued.
"""

from __future__ import annotations

import dataclasses
from argparse import Namespace
from pathlib import Path

from maild.config import Config
from maild.refusals import Refused, refusing
from maild.rulebook import RulesError

__all__ = ["rules_test"]


@refusing(RulesError)
def rules_test(config: Config, args: Namespace) -> int:
    from maild.classify import classify
    from maild.daemon import build_pipeline
    from maild.parse import parse
    from store.models import database

    try:
        raw = Path(args.message).read_bytes()
    except OSError as exc:
        raise Refused(f"cannot read {args.message}: {exc.strerror}") from None
    with database.atomic() as transaction:
        pipeline = build_pipeline(config)
        msg = parse(raw)
        verdict = classify(msg, mail_from=None, identity=pipeline.identity)
        ticket = _ticket(args.as_reply_to)
        user = _user(msg)
        rcpt_to = [config.helpdesk.address] if not args.to else args.to
        facts = pipeline.ruling.facts(msg, verdict, rcpt_to=rcpt_to, size=len(raw), user=user,
                                      ticket=ticket)  # fmt: skip
        decision = pipeline.ruling.decide(facts, reply=ticket is not None,
                                          channel=args.channel, explain=True)  # fmt: skip
        moment = f"reply to ticket {ticket.number}" if ticket else "create"
        effects = _routing_and_notices(pipeline, msg, verdict, rcpt_to, user, ticket, decision)
        out = [f"message {args.message}: channel {args.channel}, moment {moment}",
               f"classified as {verdict.kind}" + (f" ({verdict.reason})" if verdict.reason else ""),
               "", "fields the rules saw:", *_indent(_facts(facts)),
               "", f"rules ({len(pipeline.rules.ruleset)}):",
               *_indent(str(step) for step in decision.trace),
               "", "decision:", *_indent(_decision_lines(decision)), *effects]  # fmt: skip
        transaction.rollback()
    print("\n".join(out))
    print("\nnothing was changed")
    return 0


def _ticket(number: str | None):
    if number is None:
        return None
    from store.tickets import ticket_by_number

    ticket = ticket_by_number(number)
    if ticket is None:
        raise Refused(f"--as-reply-to: no ticket {number}")
    return ticket


def _user(msg):
    """The sender as the rules would see them, without creating them."""
    from store.models import User
    from store.organisations import organisation_id_for_address

    address = (msg.from_addr or "").lower()
    found = User.get_or_none(User.email == address)
    if found is not None:
        return found
    return User(email=address, name=msg.from_name,
                organisation=organisation_id_for_address(address))  # fmt: skip


def _facts(facts) -> list[str]:
    lines = []
    for field in dataclasses.fields(facts):
        value = getattr(facts, field.name)
        name = "list" if field.name == "mailing_list" else field.name
        if field.name == "headers":
            lines += [f"header:{h}: {_short(', '.join(v))}" for h, v in value.items()]
        elif field.name == "fields":
            lines += [f"field:{k}: {_short(str(v))}" for k, v in value.items()]
        elif value not in (None, (), ""):
            shown = ", ".join(value) if isinstance(value, tuple) else str(value)
            lines.append(f"{name}: {_short(shown)}")
    return lines


def _decision_lines(decision) -> list[str]:
    lines = [str(hit) for hit in decision.matched] or ["no rule matched"]
    if decision.stopped_by:
        lines.append(f"stopped after rule {decision.stopped_by!r}")
    return lines


def _routing_and_notices(pipeline, msg, verdict, rcpt_to, user, ticket, decision) -> list[str]:
    if decision.quarantine is not None:
        return ["", f"the message would be held in quarantine: {decision.quarantine}"]
    if decision.discard:
        return ["", "the message would be discarded silently"]
    if decision.reject:
        told = decision.reject_message is not None and verdict.answerable
        return ["", "the message would be rejected: no ticket",
                f"notices: rejection to {user.email}" if told else "notices: none"]  # fmt: skip
    from maild.pipeline import autoresponse_for

    lines = []
    settings = pipeline.config.notices
    if ticket is None:
        routing = pipeline.org.route_new(msg, rcpt_to, rules=pipeline.ruling.choices(decision))
        lines += ["", "routing of the new ticket:", *_indent(routing.reasons)]
        default, enabled = "new_ticket_autoresponse", settings.new_ticket_autoresponse
    else:
        default, enabled = "new_message_autoresponse", settings.new_message_autoresponse

    notices = []
    notice = autoresponse_for(decision, default, enabled)
    if notice and verdict.answerable:
        notices.append(f"{notice} to {user.email}")
    notices += [f"{s.template} to {s.to}" for s in decision.send]
    return [*lines, "", "notices (besides agent alerts):", *_indent(notices or ["none"])]


def _indent(lines) -> list[str]:
    return [f"  {line}" for line in lines]


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
