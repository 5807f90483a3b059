"""Queuing notices: render a template about a ticket, compose the message, queue it.

Everything a notice carries is decided here once: our signed Message-ID, threading
headers, the ticket token in the subject, Reply-To with the signed reply address, and
`Auto-Submitted` (auto-replied for autoresponses, auto-generated for agent alerts). The
message is queued in the caller's transaction, so it exists exactly when the change that
caused it does.
"""

from __future__ import annotations

from collections.abc import Sequence

from maild.compose import Envelope, compose
from maild.config import Config
from maild.notices import Notices
from maild.parse import ParsedMessage
from maild.recipients import agents_to_alert
from maild.tokens import Signer, subject_token
from store import agents, outbound
from store.models import Ticket

__all__ = ["NO_TICKET", "Notifier"]

NO_TICKET = "0"  # the number in Message-IDs of mail about no ticket; never a ticket's


class Notifier:
    def __init__(self, config: Config, *, signer: Signer, notices: Notices) -> None:
        self.config = config
        self.signer = signer
        self.notices = notices
        self.loop_token = signer.loop_token()
        self.departments = {d.name: d for d in config.departments}

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
    ) -> None:
        """Render `notice` about `ticket` and queue it for delivery in this transaction.

        `sender_name` replaces the helpdesk's name as the From display name (an agent's
        response goes out under the agent's name, from the helpdesk address).
        """
        number = ticket.number
        helpdesk = self.config.helpdesk
        token = subject_token(self.config.tickets.token, number)
        department = self.departments.get(ticket.department or "")
        context = {
            "helpdesk": {"name": helpdesk.name, "address": helpdesk.address, "url": helpdesk.url},
            "ticket": _ticket_facts(ticket),
            "recipient": {"name": to[0][0], "email": to[0][1]},
            "token": token,
            "signature": department.signature if department else "",
            **(extra or {}),
        }
        rendered = self.notices.render(notice, context, ticket.department)
        if token not in rendered.subject:
            rendered = type(rendered)(f"{token} {rendered.subject}", rendered.text, rendered.html)
        self._enqueue(
            notice, rendered, number=number, ticket=ticket, to=to, cc=cc, parent=parent,
            sender_name=sender_name or helpdesk.name, auto_submitted=auto_submitted,
            reply_to=self._reply_address(number) if reply_to is None else reply_to,
            rate_key=rate_key,
        )  # fmt: skip

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
        helpdesk = self.config.helpdesk
        context = {
            "helpdesk": {"name": helpdesk.name, "address": helpdesk.address, "url": helpdesk.url},
            "recipient": {"name": to[0], "email": to[1]},
            "signature": "",
            **(extra or {}),
        }
        rendered = self.notices.render(notice, context)
        self._enqueue(
            notice, rendered, number=NO_TICKET, ticket=None, to=[to], cc=(), parent=parent,
            sender_name=helpdesk.name, auto_submitted="auto-replied", reply_to="",
            rate_key=to[1],
        )  # fmt: skip

    def _enqueue(self, notice: str, rendered, *, number: str, ticket: Ticket | None, to, cc,
                 parent, sender_name: str, auto_submitted: str, reply_to: str,
                 rate_key: str) -> None:  # fmt: skip
        """Compose the rendered notice with our headers and queue it in this transaction."""
        helpdesk = self.config.helpdesk
        message_id = self.signer.message_id(number)
        references = (*parent.references, parent.message_id) if parent else ()
        envelope = Envelope(
            sender_name=sender_name,
            sender=helpdesk.address,
            to=to,
            cc=cc,
            message_id=message_id,
            loop_token=self.loop_token,
            reply_to=reply_to,
            in_reply_to=parent.message_id if parent else "",
            references=tuple(m for m in references if m),
            auto_submitted=auto_submitted,
        )
        outbound.enqueue(
            kind=notice,
            mail_from=helpdesk.address,
            recipients=envelope.recipients,
            message_id=message_id,
            raw=compose(envelope, rendered),
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
    ) -> list[str]:
        """Queue an agent alert (if `[notices] <notice>` is on); the addresses it went to.

        Without `to`, it goes to the ticket's assignee, else team, else department members,
        and the department's manager. Alerts carry only this ticket's own facts. Each agent
        gets a copy of their own whose Reply-To is signed for them and this ticket, so a
        reply from their mail client is known to be theirs (maild.agent_mail); an address
        that is no agent's gets no reply address. `cache` (a dict kept for a batch of
        alerts) remembers which addresses are agents.
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
