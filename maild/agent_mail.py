"""Mail from an agent's address: an authenticated reply becomes the agent's response (or an
internal note), with the commands at its top carried out; anything else is refused.

Forged agent mail must never reach a customer. A message from an agent's address counts
as that agent's only when it came back through the signed reply address of an alert sent
to that very agent about that ticket, or when an `Authentication-Results` header stamped
by one of `[agent_mail] trusted_authserv_ids` shows DKIM or SPF passing for the address.
Anything else — no signed address, another agent's or a customer's signed address, a
tampered one — is recorded as refused on the ticket it names (if any) and explained in a
mail to the agent's registered address; nothing of it is posted or sent to a customer.
"""

from __future__ import annotations

from maild.actions import ActionRefused
from maild.agent_auth import authenticated_by_header
from maild.agent_commands import Command, split_commands
from maild.classify import Classification
from maild.outcome import Outcome
from maild.parse import ParsedMessage
from maild.quotes import trim_reply
from maild.threader import choose, clues
from store import agents, tickets
from store.models import Agent, Ticket

__all__ = ["AgentMail"]

_PROBE = "maild-own-words-probe"
_STATUSES = {"close": "closed", "resolve": "resolved", "pending": "pending", "open": "open"}


class AgentMail:
    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline
        self.config = pipeline.config
        self.actions = pipeline.actions

    def handle(self, msg: ParsedMessage, agent: Agent, verdict: Classification, key: str,
               rcpt_to) -> Outcome:  # fmt: skip
        tickets.add_message_ref(key, direction="in", ticket=None)
        if not verdict.answerable:
            # An agent's out-of-office answering an alert must never become a response.
            return Outcome("ignored", f"{verdict.kind} from agent {msg.from_addr}")
        ticket, how, refusal = self._identify(msg, agent, rcpt_to)
        if not refusal and not agent.active:
            refusal = "your agent account is disabled"
        if refusal:
            return self._refuse(msg, agent, ticket, refusal)
        commands, text = split_commands(msg.text)
        note = any(c.name == "note" for c in commands) or self._to_note_address(msg, rcpt_to)
        problems = self._run(ticket, agent, [c for c in commands if c.name != "note"])
        body = own_words(text)
        done = []
        if body:
            try:
                if note:
                    self.actions.note(ticket, agent=agent, text=body)
                    done.append("note added")
                else:
                    self.actions.respond(ticket, agent=agent, text=body)
                    done.append("response sent")
            except ActionRefused as exc:
                problems.append(str(exc))
        if commands:
            done.append(f"{len(commands)} command(s)")
        if problems:
            self._tell(agent, ticket, msg, problems)
        summary = "; ".join(done) or "nothing to do"
        refused = f"; {len(problems)} refused" if problems else ""
        return Outcome("done", f"agent {msg.from_addr} via {how}: {summary}{refused}", ticket)

    # -- who and which ticket -------------------------------------------------------------

    def _identify(self, msg, agent: Agent, rcpt_to) -> tuple[Ticket | None, str, str]:
        """(ticket, how the agent was authenticated, why refused — "" if not)."""
        addresses = [*rcpt_to, *(a for _, a in msg.to), *(a for _, a in msg.cc)]
        locals_ = self.pipeline.our_locals
        signer = self.pipeline.signer
        signed = next((s for a in addresses if (s := signer.agent_of_reply_address(a, locals_))),
                      None)  # fmt: skip
        if signed is not None:
            number, agent_id = signed
            ticket = tickets.ticket_by_number(number)
            if agent_id != agent.id:
                return ticket, "", "the reply address was made for another agent"
            if ticket is None:
                return None, "", f"ticket {number} no longer exists"
            return ticket, "signed reply address", ""
        ticket = self._ticket_of(msg, rcpt_to)
        vouched = authenticated_by_header(
            msg.header_all("Authentication-Results"), msg.from_addr,
            self.config.agent_mail.trusted_authserv_ids,
        )  # fmt: skip
        if vouched is None:
            return (
                ticket,
                "",
                (
                    "it did not come back through the reply address of an alert sent to you, "
                    "and no trusted server vouched for the sender"
                ),
            )
        if ticket is None:
            return None, "", "it names no ticket (reply to an alert, or keep the token)"
        return ticket, vouched, ""

    def _ticket_of(self, msg, rcpt_to) -> Ticket | None:
        found = clues(msg, rcpt_to, signer=self.pipeline.signer,
                      our_locals=self.pipeline.our_locals,
                      token_format=self.config.tickets.token)  # fmt: skip

        def stored(ids) -> str | None:
            ref = tickets.find_message_ref(ids)
            return ref.ticket.number if ref and ref.ticket_id else None

        match = choose(
            found,
            exists=lambda n: tickets.ticket_by_number(n) is not None,
            number_of_stored_reference=stored,
            sender_takes_part=lambda n: True,  # an authenticated agent may answer any ticket
        )
        return tickets.ticket_by_number(match.number) if match else None

    def _to_note_address(self, msg, rcpt_to) -> bool:
        note = self.config.agent_mail.note_address.lower()
        addresses = [*rcpt_to, *(a for _, a in msg.to), *(a for _, a in msg.cc)]
        return bool(note) and any(a.lower() == note for a in addresses)

    # -- commands -------------------------------------------------------------------------

    def _run(self, ticket: Ticket, agent: Agent, commands: list[Command]) -> list[str]:
        """Carry out `commands` as `agent`; what was refused or not understood."""
        problems = []
        for command in commands:
            if command.problem:
                problems.append(command.problem)
                continue
            try:
                self._one(ticket, agent, command)
            except ActionRefused as exc:
                problems.append(f"{command.line}: {exc}")
        return problems

    def _one(self, ticket: Ticket, agent: Agent, command: Command) -> None:
        name, arg = command.name, command.argument
        actions = self.actions
        if name in _STATUSES:
            actions.set_status(ticket, _STATUSES[name], by=agent)
        elif name == "take":
            actions.assign(ticket, agent, by=agent)
        elif name == "release":
            actions.assign(ticket, None, by=agent)
        elif name == "assign":
            actions.assign(ticket, self._agent_named(arg), by=agent)
        elif name == "team":
            actions.set_team(ticket, arg, by=agent)
        elif name == "priority":
            actions.set_priority(ticket, arg.lower(), by=agent)
        elif name == "dept":
            actions.transfer(ticket, arg, by=agent)
        elif name == "cc":
            actions.add_collaborator(ticket, arg, by=agent)
        elif name == "uncc":
            actions.remove_collaborator(ticket, arg, by=agent)
        elif name == "tag":
            actions.add_tags(ticket, arg.split(), by=agent)

    def _agent_named(self, name: str) -> Agent:
        """An agent by address, or by the local part of one (`#assign alice`)."""
        found = agents.agent_by_email(name) if "@" in name else None
        if found is None and "@" not in name:
            matches = [a for a in agents.list_agents() if any(
                e.partition("@")[0] == name.lower() for e in agents.addresses_of(a))]  # fmt: skip
            found = matches[0] if len(matches) == 1 else None
        if found is None:
            raise ActionRefused(f"no single agent called {name!r}")
        return found

    # -- telling the agent ----------------------------------------------------------------

    def _refuse(self, msg, agent: Agent, ticket: Ticket | None, reason: str) -> Outcome:
        if ticket is not None:
            tickets.add_event(ticket, f"Refused mail from {msg.from_addr}: {reason}")
        self._tell(agent, ticket, msg, [f"Your message was not accepted: {reason}."])
        where = f" for ticket {ticket.number}" if ticket else ""
        return Outcome("ignored", f"refused agent mail from {msg.from_addr}{where}: {reason}",
                       ticket)  # fmt: skip

    def _tell(self, agent: Agent, ticket: Ticket | None, msg, problems: list[str]) -> None:
        """One mail to the agent's registered address listing what went wrong."""
        address = agents.primary_email(agent)
        if not address or self.pipeline.too_many_autoresponses(address):
            return
        self.pipeline.notifier.queue_without_ticket(
            "agent_mail_result",
            to=(agent.name, address),
            parent=msg,
            extra={
                "result": {
                    "subject": msg.subject,
                    "ticket": ticket.number if ticket else "",
                    "problems": problems,
                }
            },
        )


def own_words(text: str) -> str:
    """What the agent wrote above the history they quoted; "" when there is nothing else.

    `trim_reply` keeps a message that is only a quote whole (a customer's forward is
    content); for an agent, a reply that is only commands and the quoted alert says
    nothing to the customer. A first line of own words lets the trimmer cut the rest.
    """
    trimmed = trim_reply(f"{_PROBE}\n{text}").text
    rest = trimmed.partition(_PROBE)[2].strip("\n")
    return rest + "\n" if rest.strip() else ""
