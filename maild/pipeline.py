"""Processing one accepted message: the heart of the path from inbound row to ticket.

`Pipeline.process` runs inside the caller's transaction, so everything it does — the
ticket, the thread entry, attachments, the Message-ID index, the queued notices — commits
together or not at all. It parses, classifies (loops, bounces, auto-replies, lists), drops
duplicates, threads or creates, stores, and queues the autoresponse. Normal outcomes are
returned as an `Outcome`; `Unprocessable` means the message can never succeed and goes
straight to quarantine.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import replace
from datetime import timedelta

from maild import assign
from maild.actions import TicketActions
from maild.agent_mail import AgentMail
from maild.classify import Classification, Identity, Kind, bounce_references, classify
from maild.config import Config
from maild.notices import Notices
from maild.notify import Notifier
from maild.org import Organisation, naive
from maild.outcome import Outcome, Unprocessable
from maild.parse import ParsedMessage, parse
from maild.quotes import trim_reply
from maild.recipients import agents_to_alert, department_members
from maild.rulebook import RuleBook
from maild.ruling import Ruling
from maild.sanitize import sanitize_html
from maild.threader import choose, clues
from maild.tokens import Signer, new_ticket_number, sequential_ticket_number
from store import agents, assignment, outbound, tickets
from store.clock import now
from store.models import Inbound, Ticket, User

__all__ = ["Outcome", "Pipeline", "Unprocessable"]

log = logging.getLogger(__name__)

KEPT_HEADERS = (
    "From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To",
    "References", "Auto-Submitted", "Precedence", "List-Id", "X-Mailer", "User-Agent",
)  # fmt: skip
_SANE_ADDRESS = re.compile(r"^[^@\s<>\"(),;:\\\[\]]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")


class Pipeline:
    def __init__(
        self, config: Config, *, secret: bytes, notices: Notices, rules: RuleBook | None = None
    ) -> None:
        """`rules`: the rule book in force (default: loaded from `[paths] rules` now)."""
        self.config = config
        self.signer = Signer(secret, config.domain)
        self.loop_token = self.signer.loop_token()
        self.identity = Identity(
            addresses=config.our_addresses,
            loop_token=self.loop_token,
            is_own_message_id=self.signer.is_own_message_id,
        )
        self.our_locals = frozenset(a.partition("@")[0] for a in config.our_addresses)
        self.org = Organisation(config)
        self.notifier = Notifier(config, signer=self.signer, notices=notices)
        self.actions = TicketActions(self)
        self.rules = rules if rules is not None else RuleBook(config, agents.all_addresses)
        self.ruling = Ruling(self)
        self.agent_mail = AgentMail(self)

    def process(self, row: Inbound, msg: ParsedMessage | None = None) -> Outcome:
        """Turn `row` into its effects; `msg` is `parse(row.raw)` when the caller has it."""
        raw = bytes(row.raw)
        msg = msg or parse(raw)
        return replace(self._process(row, raw, msg), message_id=msg.message_id)

    def _process(self, row: Inbound, raw: bytes, msg: ParsedMessage) -> Outcome:
        rcpt_to = json.loads(row.rcpt_to or "[]")
        verdict = classify(msg, mail_from=row.mail_from, identity=self.identity)
        if verdict.kind is Kind.LOOP:
            return Outcome("ignored", f"loop: {verdict.reason}")
        key = msg.message_id or "hash:" + _content_hash(msg)
        if tickets.message_ref_exists(key):
            return Outcome("duplicate", f"duplicate of {key}")
        if verdict.kind is Kind.BOUNCE:
            return self._bounce(msg, raw, verdict, key)
        if not msg.from_addr:
            raise Unprocessable("no sender address in From")
        agent = agents.agent_by_email(msg.from_addr)
        if agent is not None:
            return self.agent_mail.handle(msg, agent, verdict, key, rcpt_to)
        user = tickets.user_for(msg.from_addr, msg.from_name)
        ticket, via = self._thread(msg, rcpt_to, user)
        if ticket is None:
            return self._new_ticket(msg, row, user, verdict, key, rcpt_to)
        return self._follow_up(msg, row, user, ticket, via, verdict, key, rcpt_to)

    # -- the branches ---------------------------------------------------------------------

    def _new_ticket(self, msg, row, user, verdict, key, rcpt_to, previous=None) -> Outcome:
        """Open a ticket for `msg`; `previous`: the closed ticket it answers too late."""
        ruling = self.ruling
        facts = ruling.facts(msg, verdict, rcpt_to=rcpt_to, size=len(row.raw), user=user)
        decision = ruling.decide(facts, reply=False)
        ended = ruling.ending(decision, msg, verdict, user, key)
        if ended:
            return Outcome("ignored", ended)
        routing = self.org.route_new(
            msg, rcpt_to, rules=ruling.choices(decision), source=row.source
        )
        created = now()
        clock = self.org.clock(
            routing.sla, created=created, history=[(created, "open")], first_response_at=None,
            now=created,
        )  # fmt: skip
        ticket = tickets.create_ticket(
            number=self._fresh_number(),
            subject=msg.subject,
            requester=user,
            source=row.source,
            created=created,
            department=routing.department,
            topic=routing.topic,
            sla=routing.sla,
            priority=routing.priority,
            team=routing.assign_team,
            due=naive(clock.resolution_due) if clock else None,
            first_response_due=naive(clock.first_response_due) if clock else None,
        )
        tickets.add_entry(ticket, kind="event", text="Routing: " + "; ".join(routing.reasons))
        self._staff(ticket, routing, msg, user)
        self._add_collaborators(ticket, msg, user)
        if previous is not None:
            tickets.add_event(ticket, f"Follow-up to ticket {previous.number}, closed before")
            tickets.add_event(previous, f"A later reply opened ticket {ticket.number}")
        self._store_entry(ticket, msg, row, user, key)
        ruling.apply(ticket, decision, created=True, message=_message_facts(msg, user))
        notice = autoresponse_for(decision, "new_ticket_autoresponse",
                               self.config.notices.new_ticket_autoresponse)  # fmt: skip
        note = self._autorespond(notice, ticket, msg, user, verdict, previous)
        after = f" (reply to ticket {previous.number}, closed too long ago)" if previous else ""
        return Outcome("done", f"new ticket{after}{note}", ticket)

    def _follow_up(self, msg, row, user, ticket, via, verdict, key, rcpt_to) -> Outcome:
        if self._too_late_to_reopen(ticket):
            return self._new_ticket(msg, row, user, verdict, key, rcpt_to, previous=ticket)
        facts = self.ruling.facts(
            msg, verdict, rcpt_to=rcpt_to, size=len(row.raw), user=user, ticket=ticket
        )
        decision = self.ruling.decide(facts, reply=True)
        ended = self.ruling.ending(decision, msg, verdict, user, key)
        if ended:
            return Outcome("ignored", ended, ticket)
        if not tickets.is_participant(ticket, user.email):
            tickets.add_collaborator(ticket, user)
        self._store_entry(ticket, msg, row, user, key, trim=True)
        statuses = self.org.statuses
        reopen = statuses.after_customer_reply(ticket.status)
        if tickets.touch(ticket, status=reopen, final=bool(reopen) and statuses.is_final(reopen)):
            self.actions.recompute_due(ticket)
        self._alert_follow_up(ticket, msg, user)
        self.ruling.apply(ticket, decision, created=False, message=_message_facts(msg, user))
        notice = autoresponse_for(decision, "new_message_autoresponse",
                               self.config.notices.new_message_autoresponse)  # fmt: skip
        note = self._autorespond(notice, ticket, msg, user, verdict)
        return Outcome("done", f"follow-up via {via}{note}", ticket)

    def _bounce(self, msg: ParsedMessage, raw: bytes, verdict: Classification, key) -> Outcome:
        references = bounce_references(msg, raw)
        ticket = self._ticket_of_references(references)
        if ticket is None:
            return Outcome("ignored", f"bounce for no known ticket ({verdict.reason})")
        text = f"Delivery problem reported by {msg.from_addr or 'the mail system'}: {msg.subject}"
        entry = tickets.add_entry(
            ticket, kind="event", text=f"{text}\n\n{msg.text[:4000]}", message_id=msg.message_id
        )
        tickets.add_message_ref(key, direction="in", ticket=ticket, entry=entry)
        return Outcome("done", f"bounce recorded ({verdict.reason})", ticket)

    # -- helpers --------------------------------------------------------------------------

    def _staff(self, ticket: Ticket, routing, msg: ParsedMessage, user: User) -> None:
        """Assign the new ticket if the organisation says so, and tell the agents."""
        agent, how = assign.choose(routing, self.org.statuses.final)
        if agent is not None:
            assignment.assign(ticket, agent)
            address = agents.primary_email(agent)
            tickets.add_entry(ticket, kind="event", text=f"Assigned to {address}: {how}")
            self.notifier.alert("assignment_alert", ticket, to=[address],
                                extra={"assignment": {"how": how}})  # fmt: skip
        elif how:
            tickets.add_entry(ticket, kind="event", text=f"Not assigned: {how}")
        department = self._department(ticket.department)
        if department is not None and department.new_ticket_alert:
            members = department_members(self.config, ticket.department)
            self.notifier.alert("new_ticket_alert", ticket, to=members,
                                extra={"message": _message_facts(msg, user)})  # fmt: skip

    def _alert_follow_up(self, ticket: Ticket, msg: ParsedMessage, user: User) -> None:
        department = self._department(ticket.department)
        if department is not None and not department.new_message_alert:
            return
        recipients = agents_to_alert(self.config, ticket, with_manager=False)
        self.notifier.alert("new_message_alert", ticket, to=recipients,
                            extra={"message": _message_facts(msg, user)})  # fmt: skip

    def _too_late_to_reopen(self, ticket: Ticket) -> bool:
        """Whether a reply to `ticket` opens a new ticket instead: it was finished longer
        ago than its department's `reopen_days`."""
        department = self._department(ticket.department)
        days = department.reopen_days if department is not None else 0
        if not days or not self.org.statuses.is_final(ticket.status) or ticket.closed is None:
            return False
        return now() - ticket.closed > timedelta(days=days)

    def _add_collaborators(self, ticket: Ticket, msg: ParsedMessage, user: User) -> None:
        """Others in To and Cc of a new message join as `[tickets] collaborators` says.

        Only those the customer wrote to openly: a Bcc never shows in the headers, and the
        requester is always the sender, never someone copied.
        """
        policy = self.config.tickets.collaborators
        if policy == "never":
            return
        for _, address in (*msg.to, *msg.cc):
            address = address.lower()
            if not address or self.config.is_ours(address) or address == user.email:
                continue
            other = tickets.user_for(address)
            if policy == "same-organisation" and not _same_organisation(user, other):
                continue
            if not tickets.is_participant(ticket, address):
                tickets.add_collaborator(ticket, other)

    def _department(self, name: str | None):
        return next((d for d in self.config.departments if d.name == name), None)

    def _thread(self, msg: ParsedMessage, rcpt_to, user: User) -> tuple[Ticket | None, str]:
        found = clues(
            msg,
            rcpt_to,
            signer=self.signer,
            our_locals=self.our_locals,
            token_format=self.config.tickets.token,
        )
        cache: dict[str, Ticket | None] = {}

        def lookup(number: str) -> Ticket | None:
            if number not in cache:
                cache[number] = tickets.ticket_by_number(number)
            return cache[number]

        def stored(ids) -> str | None:
            ref = tickets.find_message_ref(ids)
            return ref.ticket.number if ref else None

        match = choose(
            found,
            exists=lambda n: lookup(n) is not None,
            number_of_stored_reference=stored,
            sender_takes_part=lambda n: tickets.is_participant(lookup(n), user.email),
        )
        return (lookup(match.number), match.via) if match else (None, "")

    def _ticket_of_references(self, references) -> Ticket | None:
        for message_id in references:
            number = self.signer.ticket_of_message_id(message_id)
            if number and (ticket := tickets.ticket_by_number(number)):
                return ticket
        ref = tickets.find_message_ref(references)
        return ref.ticket if ref else None

    def _fresh_number(self) -> str:
        number_format = self.config.tickets.number_format
        for _ in range(50):
            if self.config.tickets.numbering == "sequential":
                number = sequential_ticket_number(number_format, tickets.next_in_sequence())
            else:
                number = new_ticket_number(number_format)
            if not tickets.number_taken(number):
                return number
        raise RuntimeError("no free ticket number: widen [tickets] number_format")

    def too_many_autoresponses(self, address: str) -> bool:
        """Whether `address` already got `autoresponse_limit` automatic mails in the window."""
        limits = self.config.notices
        since = now() - timedelta(seconds=limits.autoresponse_window)
        return outbound.count_recent(address, since) >= limits.autoresponse_limit

    def _store_entry(self, ticket, msg: ParsedMessage, row, user, key: str, trim=False) -> None:
        """Store the message in the thread. With `trim` (a reply), quoted history and
        signatures are cut; the full text and HTML are kept beside the trimmed ones."""
        headers = {h: v for h in KEPT_HEADERS if (v := msg.header(h))}
        text, html, full = msg.text, sanitize_html(msg.html), {}
        if trim:
            trimmed = trim_reply(msg.text, msg.html)
            if trimmed.trimmed:
                full = {"full_text": msg.text, "full_html": html}
                text, html = trimmed.text, sanitize_html(trimmed.html)
        entry = tickets.add_entry(
            ticket,
            kind="message",
            text=text,
            html=html,
            **full,
            author=user,
            author_name=msg.from_name,
            message_id=msg.message_id,
            headers=json.dumps(headers, ensure_ascii=False),
            inbound=row.id,
        )
        for a in msg.attachments:
            tickets.add_attachment(
                entry,
                name=a.filename,
                content_type=a.content_type,
                payload=a.payload,
                content_id=a.content_id,
                inline=a.inline,
            )
        tickets.add_message_ref(key, direction="in", ticket=ticket, entry=entry)

    def _autorespond(self, notice, ticket, msg: ParsedMessage, user: User, verdict,
                     previous: Ticket | None = None) -> str:  # fmt: skip
        """Queue `notice` (None: no autoresponse is due) to the sender, if it is safe to."""
        if notice is None:
            return ""
        if not verdict.answerable:
            return f"; not answered ({verdict.kind}: {verdict.reason})"
        if not _SANE_ADDRESS.match(user.email):
            return f"; not answered (unusable address {user.email!r})"
        if self.too_many_autoresponses(user.email):
            limit = self.config.notices.autoresponse_limit
            return f"; not answered (more than {limit} autoresponses)"
        self.notifier.queue(
            notice,
            ticket,
            to=[(user.name, user.email)],
            parent=msg,
            auto_submitted="auto-replied",
            rate_key=user.email,
            extra={
                "message": _message_facts(msg, user),
                "previous_ticket": previous.number if previous else "",
            },
        )
        return "; autoresponse queued"


def _same_organisation(one: User, other: User) -> bool:
    if one.organisation_id is not None:
        return one.organisation_id == other.organisation_id
    return one.email.rpartition("@")[2] == other.email.rpartition("@")[2]


def autoresponse_for(decision, default: str, enabled: bool) -> str | None:
    """The autoresponse to send: a rule's canned one, none if a rule says so, or the default."""
    if decision.autoresponse is False:
        return None
    if isinstance(decision.autoresponse, str):
        return decision.autoresponse
    return default if enabled else None


def _message_facts(msg: ParsedMessage, user: User) -> dict:
    sender = f"{user.name} <{user.email}>" if user.name else user.email
    return {"from": sender, "text": msg.text}


def _content_hash(msg: ParsedMessage) -> str:
    """A stand-in identity for mail without a Message-ID: same sender, date, subject, body."""
    parts = (msg.from_addr, msg.header("Date"), msg.subject, msg.text, msg.html)
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "replace")).hexdigest()
