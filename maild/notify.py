"""Queuing notices: render a template about a ticket, compose the message, queue it.

Everything a notice carries is decided here once: our signed Message-ID, threading
headers, the ticket token in the subject, Reply-To with the signed reply address, and
`Auto-Submitted` (auto-replied for autoresponses, auto-generated for agent alerts). The
message is queued in the caller's transaction, so it exists exactly when the change that
caused it does.

A notice is usually composed when it is queued. Alerts queued in bulk (the SLA sweep
announcing a hundred breaches at once) can be queued as a `Draft` instead: the sender
composes each one, with its Message-ID, when it first sends it, so the transaction that
records the breaches stays short.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from maild.compose import Envelope, compose
from maild.config import Config
from maild.notices import Notices
from maild.parse import ParsedMessage
from maild.recipients import agents_to_alert
from maild.tokens import Signer, subject_token
from store import agents, outbound
from store.models import Ticket

__all__ = ["NO_TICKET", "Draft", "Notifier"]

NO_TICKET = "0"  # the number in Message-IDs of mail about no ticket; never a ticket's


@dataclass(frozen=True, slots=True)
class Draft:
    """Everything a notice needs to become a message: which template, the values it is
    rendered with (besides the helpdesk's own, which come from the config), and the
    envelope. Stored as JSON in the outbound row of a message that is composed when it is
    sent (`Notifier.alert(..., later=True)`)."""

    notice: str
    number: str  # the ticket's, or NO_TICKET: signed into the Message-ID
    department: str
    context: dict
    token: str  # the ticket token the subject must carry ("" for mail about no ticket)
    to: tuple[tuple[str, str], ...]
    cc: tuple[tuple[str, str], ...]
    sender_name: str
    reply_to: str
    in_reply_to: str
    references: tuple[str, ...]
    auto_submitted: str

    def to_json(self) -> str:
        # Not dataclasses.asdict: it deep-copies every value, which costs more than the rest
        # of queuing an alert.
        return json.dumps({name: getattr(self, name) for name in self.__slots__})

    @classmethod
    def from_json(cls, text: str) -> Draft:
        values = json.loads(text)
        for name in ("to", "cc"):
            values[name] = tuple(tuple(pair) for pair in values[name])
        values["references"] = tuple(values["references"])
        return cls(**values)


class Notifier:
    def __init__(self, config: Config, *, signer: Signer, notices: Notices) -> None:
        self.config = config
        self.signer = signer
        self.notices = notices
        self.loop_token = signer.loop_token()
        self.departments = {d.name: d for d in config.departments}
        helpdesk = config.helpdesk
        self._helpdesk = {"name": helpdesk.name, "address": helpdesk.address, "url": helpdesk.url}

    def queue(
        self,
        notice: str,
        ticket: Ticket,
        *,
        to: Sequence[tuple[str, str]],
        parent: ParsedMessage | None,
        auto_submitted: str = "",
        rate_key: str = "",
        cc: Sequence[tuple[str, str]] = (),
        extra: dict | None = None,
        sender_name: str = "",
        reply_to: str | None = None,
        later: bool = False,
    ) -> None:
        """Render `notice` about `ticket` and queue it for delivery in this transaction.

        `sender_name` replaces the helpdesk's name as the From display name (an agent's
        response goes out under the agent's name, from the helpdesk address). With
        `later`, the message is queued as a draft that the sender composes when it sends
        it (see `compose_draft`): for alerts sent in bulk, where composing is most of the work.
        """
        number = ticket.number
        token = subject_token(self.config.tickets.token, number)
        context = {
            "ticket": _ticket_facts(ticket),
            "recipient": {"name": to[0][0], "email": to[0][1]},
            **(extra or {}),
        }
        draft = self._draft(
            notice, number, context, department=ticket.department or "", token=token, to=to, cc=cc,
            parent=parent, sender_name=sender_name, auto_submitted=auto_submitted,
            reply_to=self._reply_address(number) if reply_to is None else reply_to,
        )  # fmt: skip
        self._enqueue(draft, ticket=ticket, rate_key=rate_key, later=later)

    def queue_without_ticket(
        self,
        notice: str,
        *,
        to: tuple[str, str],
        parent: ParsedMessage | None,
        extra: dict | None = None,
    ) -> None:
        """Queue `notice` to one person about a message that opened no ticket (a rule's
        rejection). It carries our signed Message-ID, so a reply to it is known as ours, but
        no token and no reply address: there is no ticket to reply to."""
        context = {"recipient": {"name": to[0], "email": to[1]}, **(extra or {})}
        draft = self._draft(
            notice, NO_TICKET, context, department="", token="", to=[to], cc=(), parent=parent,
            sender_name="", auto_submitted="auto-replied", reply_to="",
        )  # fmt: skip
        self._enqueue(draft, ticket=None, rate_key=to[1], later=False)

    def compose_draft(self, draft: Draft, message_id: str) -> bytes:
        """The message `draft` describes, with our headers, as `message_id`."""
        department = self.departments.get(draft.department)
        context = {
            "helpdesk": self._helpdesk,
            **({"token": draft.token} if draft.token else {}),
            "signature": department.signature if department else "",
            **draft.context,
        }
        rendered = self.notices.render(draft.notice, context, draft.department or None)
        if draft.token and draft.token not in rendered.subject:
            rendered = type(rendered)(f"{draft.token} {rendered.subject}", rendered.text,
                                      rendered.html)  # fmt: skip
        envelope = Envelope(
            sender_name=draft.sender_name,
            sender=self.config.helpdesk.address,
            to=draft.to,
            cc=draft.cc,
            message_id=message_id,
            loop_token=self.loop_token,
            reply_to=draft.reply_to,
            in_reply_to=draft.in_reply_to,
            references=draft.references,
            auto_submitted=draft.auto_submitted,
        )
        return compose(envelope, rendered)

    def _draft(self, notice: str, number: str, context: dict, *, department: str, token: str,
               to, cc, parent: ParsedMessage | None, sender_name: str, auto_submitted: str,
               reply_to: str) -> Draft:  # fmt: skip
        references = (*parent.references, parent.message_id) if parent else ()
        return Draft(
            notice=notice,
            number=number,
            department=department,
            context=context,
            token=token,
            to=tuple(tuple(pair) for pair in to),
            cc=tuple(tuple(pair) for pair in cc),
            sender_name=sender_name or self.config.helpdesk.name,
            reply_to=reply_to,
            in_reply_to=parent.message_id if parent else "",
            references=tuple(m for m in references if m),
            auto_submitted=auto_submitted,
        )

    def _enqueue(self, draft: Draft, *, ticket: Ticket | None, rate_key: str,
                 later: bool) -> None:  # fmt: skip
        """Queue the message `draft` describes in this transaction: composed now, or (with
        `later`) as the draft itself, which the sender composes and gives its Message-ID
        (maild.delivery)."""
        message_id = "" if later else self.signer.message_id(draft.number)
        outbound.enqueue(
            kind=draft.notice,
            mail_from=self.config.helpdesk.address,
            recipients=[address for _, address in (*draft.to, *draft.cc)],
            message_id=message_id,
            raw=b"" if later else self.compose_draft(draft, message_id),
            draft=draft.to_json() if later else "",
            ticket=ticket,
            rate_key=rate_key,
        )

    def alert(
        self,
        notice: str,
        ticket: Ticket,
        *,
        to: Sequence[str] | None = None,
        parent: ParsedMessage | None = None,
        extra: dict | None = None,
        cache: dict | None = None,
        later: bool = False,
    ) -> list[str]:
        """Queue an agent alert (if `[notices] <notice>` is on); the addresses it went to.

        Without `to`, it goes to the ticket's assignee, else team, else department members,
        and the department's manager. Alerts carry only this ticket's own facts. Each agent
        gets a copy of their own whose Reply-To is signed for them and this ticket, so a
        reply from their mail client is known to be theirs (maild.agent_mail); an address
        that is no agent's gets no reply address. `cache` (a dict kept for a batch of
        alerts) remembers which addresses are agents; `later` queues drafts (see `queue`).
        """
        if not getattr(self.config.notices, notice, True):
            return []
        recipients = list(to) if to is not None else agents_to_alert(self.config, ticket)
        ids = self._agent_ids(recipients, {} if cache is None else cache)
        for address in recipients:
            agent_id = ids.get(address.lower())
            signed = self.config.helpdesk.plus_addressing and agent_id is not None
            self.queue(
                notice,
                ticket,
                to=[("", address)],
                parent=parent,
                auto_submitted="auto-generated",
                extra=extra,
                reply_to=self.signer.agent_reply_address(
                    self.config.helpdesk.address, ticket.number, agent_id
                ) if signed else "",
                later=later,
            )  # fmt: skip
        return recipients

    @staticmethod
    def _agent_ids(addresses: Sequence[str], cache: dict) -> dict[str, int]:
        unknown = [a.lower() for a in addresses if ("agent id", a.lower()) not in cache]
        if unknown:
            found = agents.agent_ids_by_email(unknown)
            for address in unknown:
                cache[("agent id", address)] = found.get(address)
        return {a.lower(): cache[("agent id", a.lower())] for a in addresses}

    def _reply_address(self, number: str) -> str:
        if not self.config.helpdesk.plus_addressing:
            return ""
        return self.signer.reply_address(self.config.helpdesk.address, number)


def _ticket_facts(ticket: Ticket) -> dict:
    return {
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "department": ticket.department or "",
        "priority": ticket.priority,
    }
