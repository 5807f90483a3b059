"""Running the TOML rules on a message and carrying out what they decided.

The engine (`rules`) only decides; this module is where the decision takes effect, in the
pipeline's transaction: a message is rejected (with an explanation mailed to the sender,
never to machine mail), discarded, or held in quarantine; otherwise the routing choices go
to `maild.routing` and the rest — status, tags, custom fields, collaborators, templated
mails, the choice of autoresponse — is applied to the ticket. Every rule that matched is
recorded on the ticket as an event naming the conditions that decided and what it did.
"""

from __future__ import annotations

from maild.actions import ActionRefused
from maild.classify import Classification
from maild.outcome import Unprocessable
from maild.parse import ParsedMessage
from maild.routing import RuleChoices
from maild.rule_facts import message_facts
from rules import Decision, Facts
from store import labels, tickets
from store.agents import agent_by_email
from store.models import Ticket, User

__all__ = ["Ruling", "organisation_of"]

_CHOICES = {"department": "department", "topic": "topic", "sla": "sla",
            "priority": "priority", "assign": "agent", "team": "team"}  # fmt: skip


class Ruling:
    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline
        self.config = pipeline.config

    def facts(self, msg: ParsedMessage, verdict: Classification, *, rcpt_to, size: int,
              user: User, ticket: Ticket | None = None) -> Facts:  # fmt: skip
        """What the rules see of `msg`: at creation, or as a reply to `ticket`."""
        return message_facts(
            msg,
            verdict,
            rcpt_to=rcpt_to,
            is_ours=self.config.is_ours,
            size=size,
            organisation=organisation_of(user),
            topic=ticket.topic if ticket else None,
            priority=ticket.priority if ticket else None,
            fields=labels.fields_of(ticket) if ticket else None,
        )

    def decide(self, facts: Facts, *, reply: bool, channel: str = "email",
               explain: bool = False) -> Decision:  # fmt: skip
        moment = "reply" if reply else "create"
        return self.pipeline.rules.decide(facts, channel=channel, moment=moment, explain=explain)

    def ending(
        self, decision: Decision, msg: ParsedMessage, verdict: Classification, user: User, key
    ) -> str | None:
        """For a message the rules reject, discard or hold: the outcome's note, else None.

        Quarantine raises `Unprocessable`, so the message waits for an admin with the reason.
        """
        if decision.quarantine is not None:
            raise Unprocessable(f"held by rule {decision.stopped_by!r}: {decision.quarantine}")
        if not (decision.reject or decision.discard):
            return None
        # Seen once is enough: the same message again is a duplicate, not a second rejection.
        tickets.add_message_ref(key, direction="in", ticket=None)
        if decision.discard:
            return f"discarded by rule {decision.stopped_by!r}"
        note = f"rejected by rule {decision.stopped_by!r}"
        if decision.reject_message is None:
            return note
        if not verdict.answerable:
            return f"{note}; no explanation sent ({verdict.kind}: {verdict.reason})"
        if self.pipeline.too_many_autoresponses(user.email):
            return f"{note}; no explanation sent (autoresponse limit reached)"
        self.pipeline.notifier.queue_without_ticket(
            "rejection",
            to=(user.name, user.email),
            parent=msg,
            extra={"rejection": {"reason": decision.reject_message, "subject": msg.subject}},
        )
        return f"{note}; explanation sent to {user.email}"

    @staticmethod
    def choices(decision: Decision) -> RuleChoices:
        by = {}
        for hit in decision.matched:
            for name, _ in hit.actions:
                if name in _CHOICES:
                    by[name] = hit.rule
        return RuleChoices(
            department=decision.department,
            topic=decision.topic,
            sla=decision.sla,
            priority=decision.priority,
            agent=decision.assign,
            team=decision.team,
            by=by,
        )

    def apply(self, ticket: Ticket, decision: Decision, *, created: bool, message: dict) -> None:
        """Record the matched rules and carry out what routing did not already do.

        `message` (from, text) is what templated mails may quote of the message.
        """
        for hit in decision.matched:
            tickets.add_event(ticket, f"Rule {hit}")
        if not created:
            self._change(ticket, decision)
        if decision.status:
            try:
                self.pipeline.actions.set_status(
                    ticket, decision.status, via=_setter(decision, "status")
                )
            except ActionRefused as exc:
                tickets.add_event(ticket, f"Rule action not carried out: {exc}")
        if decision.tags:
            labels.add_tags(ticket, decision.tags)
        if decision.fields:
            labels.set_fields(ticket, dict(decision.fields))
        for address in decision.collaborators:
            user = tickets.user_for(address)
            if user.id != ticket.requester_id and not tickets.is_participant(ticket, address):
                tickets.add_collaborator(ticket, user)
        for send in decision.send:
            self.pipeline.notifier.queue(
                send.template,
                ticket,
                to=[("", send.to)],
                parent=None,
                auto_submitted="auto-generated",
                extra={"message": message},
            )

    def _change(self, ticket: Ticket, decision: Decision) -> None:
        """On a reply, the routing actions become changes to the existing ticket."""
        actions = self.pipeline.actions
        changes = (
            ("department", actions.transfer),
            ("topic", actions.set_topic),
            ("sla", actions.set_sla),
            ("priority", actions.set_priority),
            ("team", actions.set_team),
            ("assign", self._assign),
        )
        for name, change in changes:
            value = getattr(decision, name)
            if not value:
                continue
            try:
                change(ticket, value, via=_setter(decision, name))
            except ActionRefused as exc:
                tickets.add_event(ticket, f"Rule action not carried out: {exc}")

    def _assign(self, ticket: Ticket, address: str, *, via: str) -> bool:
        agent = agent_by_email(address)
        if agent is None:
            raise ActionRefused(f"{address} is not an agent")
        return self.pipeline.actions.assign(ticket, agent, via=via)


def organisation_of(user: User) -> str | None:
    """The name of the user's organisation, or None."""
    return user.organisation.name if user.organisation_id else None


def _setter(decision: Decision, action: str) -> str:
    """'rule NAME' for the last matching rule that set `action` (its value is the one kept)."""
    for hit in reversed(decision.matched):
        if any(name == action for name, _ in hit.actions):
            return f"rule {hit.rule!r}"
    return "a rule"
