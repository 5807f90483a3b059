"""The peewee models: every table maild keeps.

Times are naive UTC datetimes (`store.clock.now()`), the same on SQLite and PostgreSQL.
Models are bound to `database`, a proxy that `store.db.open_database` points at SQLite or
PostgreSQL, so tests and several daemons re-bind it without import-time globals of their own.
"""

from __future__ import annotations

from peewee import (
    BigAutoField,
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from store.clock import now

__all__ = [
    "MODELS",
    "Agent",
    "AgentAddress",
    "AgentDepartment",
    "Attachment",
    "Blob",
    "Collaborator",
    "Entry",
    "Inbound",
    "MailboxMessage",
    "MailboxState",
    "MessageRef",
    "Meta",
    "Organisation",
    "OrganisationDomain",
    "Outbound",
    "StatusChange",
    "Ticket",
    "TicketField",
    "TicketTag",
    "User",
    "database",
]

database = DatabaseProxy()


class BaseModel(Model):
    class Meta:
        database = database


class Meta(BaseModel):
    """Key/value facts about the database itself: schema version, signing secret, heartbeats."""

    key = CharField(primary_key=True, max_length=64)
    value = TextField()

    class Meta:
        table_name = "meta"


class Organisation(BaseModel):
    """A customer organisation. `sharing` says who among its members sees each other's
    tickets: "off" (nobody), "primary" (primary contacts see all), "all" (every member)."""

    id = BigAutoField()
    name = CharField(max_length=200, unique=True)
    sharing = CharField(max_length=16, default="off")
    created = DateTimeField(default=now)

    class Meta:
        table_name = "organisations"


class OrganisationDomain(BaseModel):
    """A mail domain (lower-case) whose new senders join the organisation automatically."""

    id = BigAutoField()
    organisation = ForeignKeyField(Organisation, backref="domains", on_delete="CASCADE")
    domain = CharField(max_length=253, unique=True)

    class Meta:
        table_name = "organisation_domains"


class User(BaseModel):
    id = BigAutoField()
    email = CharField(max_length=320, unique=True)
    name = CharField(max_length=200, default="")
    created = DateTimeField(default=now)
    organisation = ForeignKeyField(Organisation, null=True, on_delete="SET NULL")
    primary_contact = BooleanField(default=False)

    class Meta:
        table_name = "users"


class Agent(BaseModel):
    """A member of staff. Addresses, departments and roles hang off it; teams are declared
    in config.toml by agent address."""

    id = BigAutoField()
    name = CharField(max_length=200)
    active = BooleanField(default=True)
    password_hash = TextField(default="")
    totp_secret = TextField(default="")
    totp_last_step = IntegerField(default=0)
    created = DateTimeField(default=now)

    class Meta:
        table_name = "agents"


class AgentAddress(BaseModel):
    id = BigAutoField()
    agent = ForeignKeyField(Agent, backref="addresses", on_delete="CASCADE")
    email = CharField(max_length=320, unique=True)

    class Meta:
        table_name = "agent_addresses"


class AgentDepartment(BaseModel):
    """An agent's place in a department, with the role they have there."""

    id = BigAutoField()
    agent = ForeignKeyField(Agent, backref="departments", on_delete="CASCADE")
    department = CharField(max_length=100, index=True)
    role = CharField(max_length=100)
    primary = BooleanField(default=False)

    class Meta:
        table_name = "agent_departments"
        indexes = ((("agent", "department"), True),)


class Ticket(BaseModel):
    id = BigAutoField()
    number = CharField(max_length=32, unique=True)
    subject = CharField(max_length=998, default="")
    status = CharField(max_length=32, default="open", index=True)
    priority = CharField(max_length=32, default="normal")
    source = CharField(max_length=16, default="email")
    requester = ForeignKeyField(User, backref="tickets", on_delete="RESTRICT")
    department = CharField(max_length=100, null=True, index=True)
    topic = CharField(max_length=200, null=True)
    sla = CharField(max_length=100, null=True)
    assignee = ForeignKeyField(Agent, null=True, on_delete="SET NULL", index=True)
    team = CharField(max_length=100, null=True, index=True)
    created = DateTimeField(default=now)
    updated = DateTimeField(default=now)
    due = DateTimeField(null=True)  # resolution due (naive UTC), None when none or paused
    first_response_due = DateTimeField(null=True)
    first_response_at = DateTimeField(null=True)
    # Breach bookkeeping for the SLA sweep: set in the transaction that queues the alert,
    # cleared when the due times are recomputed, so each breach is announced exactly once.
    overdue = BooleanField(default=False)
    first_response_breached = BooleanField(default=False)
    warned = BooleanField(default=False)
    closed = DateTimeField(null=True)

    class Meta:
        table_name = "tickets"
        indexes = (
            (("status", "due"), False),
            (("overdue", "due"), False),
            (("first_response_breached", "first_response_due"), False),
            (("warned", "due"), False),
        )


class TicketTag(BaseModel):
    """A label on a ticket (set by rules, agents or the API), for queues and searches."""

    id = BigAutoField()
    ticket = ForeignKeyField(Ticket, backref="tags", on_delete="CASCADE")
    tag = CharField(max_length=100)

    class Meta:
        table_name = "ticket_tags"
        indexes = ((("ticket", "tag"), True), (("tag",), False))


class TicketField(BaseModel):
    """A custom field's value on a ticket: a help topic's form field, or set by a rule."""

    id = BigAutoField()
    ticket = ForeignKeyField(Ticket, backref="fields", on_delete="CASCADE")
    name = CharField(max_length=100)
    value = TextField(default="")

    class Meta:
        table_name = "ticket_fields"
        indexes = ((("ticket", "name"), True),)


class StatusChange(BaseModel):
    """Every status a ticket entered and when: the SLA clock's pauses are read from here."""

    id = BigAutoField()
    ticket = ForeignKeyField(Ticket, backref="status_changes", on_delete="CASCADE")
    status = CharField(max_length=32)
    at = DateTimeField(default=now)

    class Meta:
        table_name = "status_changes"
        indexes = ((("ticket", "id"), False),)


class Collaborator(BaseModel):
    """Someone other than the requester who takes part in a ticket's conversation."""

    id = BigAutoField()
    ticket = ForeignKeyField(Ticket, backref="collaborators", on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")

    class Meta:
        table_name = "collaborators"
        indexes = ((("ticket", "user"), True),)


class Inbound(BaseModel):
    """One accepted message, raw as received; kept so every ticket traces back to its bytes."""

    id = BigAutoField()
    raw = BlobField()
    mail_from = CharField(max_length=998, null=True)
    rcpt_to = TextField(default="")
    source = CharField(max_length=16)
    received = DateTimeField(default=now)
    state = CharField(max_length=16, default="pending")
    attempts = IntegerField(default=0)
    next_try = DateTimeField(default=now)
    lease_owner = CharField(max_length=200, default="")
    last_error = TextField(default="")
    outcome = TextField(default="")
    message_id = CharField(max_length=998, default="")
    ticket = ForeignKeyField(Ticket, null=True, on_delete="SET NULL")

    class Meta:
        table_name = "inbound"
        indexes = ((("state", "next_try", "id"), False),)


class Entry(BaseModel):
    """One item in a ticket's thread: a message, an agent's response, a note or an event."""

    id = BigAutoField()
    ticket = ForeignKeyField(Ticket, backref="entries", on_delete="CASCADE")
    kind = CharField(max_length=16)
    author = ForeignKeyField(User, null=True, on_delete="SET NULL")
    agent = ForeignKeyField(Agent, null=True, on_delete="SET NULL")  # responses and notes
    author_name = CharField(max_length=200, default="")
    text = TextField(default="")
    html = TextField(default="")
    # A reply's text and HTML before quoted history and signatures were cut ("" if none was).
    full_text = TextField(default="")
    full_html = TextField(default="")
    message_id = CharField(max_length=998, default="")
    headers = TextField(default="")
    inbound = ForeignKeyField(Inbound, null=True, on_delete="SET NULL")
    created = DateTimeField(default=now)

    class Meta:
        table_name = "entries"
        indexes = ((("ticket", "id"), False),)


class Blob(BaseModel):
    """Attachment content, stored once however many messages carry it."""

    sha256 = CharField(max_length=64, primary_key=True)
    size = IntegerField()
    data = BlobField()

    class Meta:
        table_name = "blobs"


class Attachment(BaseModel):
    id = BigAutoField()
    entry = ForeignKeyField(Entry, backref="attachments", on_delete="CASCADE")
    name = CharField(max_length=255)
    content_type = CharField(max_length=255)
    size = IntegerField()
    blob = ForeignKeyField(Blob, column_name="sha256", on_delete="RESTRICT")
    content_id = CharField(max_length=255, default="")
    inline = BooleanField(default=False)

    class Meta:
        table_name = "attachments"


class MessageRef(BaseModel):
    """The Message-ID index: every id we received or sent, for threading and dedupe.

    `direction` is "in" for received mail and "out" for ours; messages without a
    Message-ID are indexed by a content hash ("hash:<sha256>") so redelivery is caught.
    """

    message_id = CharField(max_length=998, primary_key=True)
    direction = CharField(max_length=3)
    ticket = ForeignKeyField(Ticket, null=True, on_delete="CASCADE")
    entry = ForeignKeyField(Entry, null=True, on_delete="SET NULL")
    created = DateTimeField(default=now)

    class Meta:
        table_name = "message_refs"


class Outbound(BaseModel):
    """One message waiting for, or done with, delivery through the relay: its bytes, or the
    draft it is composed from when it is first sent (`maild.notify.Draft`)."""

    id = BigAutoField()
    ticket = ForeignKeyField(Ticket, null=True, on_delete="SET NULL")
    kind = CharField(max_length=32)
    mail_from = CharField(max_length=998)
    recipients = TextField()
    rate_key = CharField(max_length=320, default="")
    message_id = CharField(max_length=998)
    raw = BlobField()  # empty until a message queued as a draft is composed
    draft = TextField(default="")  # what to compose when sending (JSON), if not yet composed
    state = CharField(max_length=16, default="pending")
    attempts = IntegerField(default=0)
    next_try = DateTimeField(default=now)
    lease_owner = CharField(max_length=200, default="")
    last_error = TextField(default="")
    created = DateTimeField(default=now)
    sent = DateTimeField(null=True)

    class Meta:
        table_name = "outbound"
        indexes = (
            (("state", "next_try", "id"), False),
            (("rate_key", "created"), False),
        )


class MailboxState(BaseModel):
    """A polled mailbox (`[[mailbox]]` in config.toml): who polls it now, when next, how it went.

    The lease (`lease_owner` until `lease_until`) lets exactly one process poll the mailbox
    at a time. `uidvalidity` is the IMAP folder's last seen UIDVALIDITY (0 for POP3);
    `failures` counts consecutive failed polls (the back-off) and `last_error` says why.
    """

    name = CharField(max_length=32, primary_key=True)
    lease_owner = CharField(max_length=200, default="")
    lease_until = DateTimeField(default=now)
    next_poll = DateTimeField(default=now)
    uidvalidity = BigIntegerField(default=0)
    last_poll = DateTimeField(null=True)
    last_ok = DateTimeField(null=True)
    failures = IntegerField(default=0)
    last_error = TextField(default="")
    stored = BigIntegerField(default=0)
    duplicates = BigIntegerField(default=0)
    rejected = BigIntegerField(default=0)

    class Meta:
        table_name = "mailboxes"


class MailboxMessage(BaseModel):
    """One message seen in a polled mailbox, by (mailbox, uidvalidity, uid): the record that
    makes polling exactly-once. It is written in the transaction that stores the message.

    `uid` is the IMAP UID as text or the POP3 UIDL; `number` the IMAP UID (0 for POP3).
    `state`: "stored" (its `inbound` row), "duplicate" (the same Message-ID or content came
    from this mailbox before), "too_large", "failed" (the server never delivered it in
    full), or "retrying" (a fetch failed; `attempts` so far, `error` the last reason).
    """

    id = BigAutoField()
    mailbox = CharField(max_length=32)
    uidvalidity = BigIntegerField()
    uid = CharField(max_length=100)
    number = BigIntegerField(default=0)
    message_key = CharField(max_length=80, default="")
    state = CharField(max_length=16)
    inbound = ForeignKeyField(Inbound, null=True, on_delete="SET NULL")
    size = BigIntegerField(default=0)
    attempts = IntegerField(default=0)
    error = TextField(default="")
    created = DateTimeField(default=now)

    class Meta:
        table_name = "mailbox_messages"
        indexes = (
            (("mailbox", "uidvalidity", "uid"), True),
            (("mailbox", "uidvalidity", "number"), False),
            (("mailbox", "message_key"), False),
        )


MODELS = (
    Meta,
    Organisation,
    OrganisationDomain,
    User,
    Agent,
    AgentAddress,
    AgentDepartment,
    Ticket,
    TicketTag,
    TicketField,
    StatusChange,
    Collaborator,
    Inbound,
    Entry,
    Blob,
    Attachment,
    MessageRef,
    Outbound,
    MailboxState,
    MailboxMessage,
)
