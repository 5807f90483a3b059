"""The `maild` command line: the composition root that wires config, store and daemon.

Every subcommand imports what it needs when it runs, so `maild pipe` — started by the MTA
once per message — loads almost nothing.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def _parser():
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str):
            # sysexits EX_USAGE, so an MTA running `maild pipe` with bad arguments reports it.
            self.print_usage(sys.stderr)
            self.exit(64, f"{self.prog}: error: {message}\n")

    parser = _Parser(prog="maild", description="An email-first helpdesk.")
    parser.add_argument("--config", default="config.toml", help="default: ./config.toml")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="the daemon: SMTP intake, workers, scheduler")
    pipe = sub.add_parser("pipe", help="accept one message on standard input")
    pipe.add_argument("-f", "--from", dest="mail_from", help="envelope sender")
    pipe.add_argument("recipients", nargs="*", help="envelope recipients")
    sub.add_parser("check", help="validate config and templates; list every error")
    fetch = sub.add_parser("fetch", help="poll the [[mailbox]] mailboxes once now")
    fetch.add_argument("--mailbox", metavar="NAME", help="only this one (even if disabled)")
    mailbox = sub.add_parser("mailbox", help="the polled mailboxes")
    msub = mailbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    msub.add_parser("status", help="state, counts, last error, messages not stored")

    quarantine = sub.add_parser("quarantine", help="messages that could not be processed")
    qsub = quarantine.add_subparsers(dest="action", required=True, metavar="ACTION")
    qsub.add_parser("list", help="list quarantined messages")
    for action, text in (("show", "show one"), ("retry", "process one again")):
        qsub.add_parser(action, help=text).add_argument("id", type=int)
    export = qsub.add_parser("export", help="write the raw message as .eml")
    export.add_argument("id", type=int)
    export.add_argument("-o", "--output", help="file (default: standard output)")

    outbound = sub.add_parser("outbound", help="the outbound mail queue")
    osub = outbound.add_subparsers(dest="action", required=True, metavar="ACTION")
    olist = osub.add_parser("list", help="list queued, sent and failed mail")
    olist.add_argument("--state", choices=("pending", "sent", "failed"))
    osub.add_parser("retry", help="queue a failed message again").add_argument("id", type=int)

    ticket = sub.add_parser("ticket", help="look at tickets")
    tsub = ticket.add_subparsers(dest="action", required=True, metavar="ACTION")
    tlist = tsub.add_parser("list", help="the newest tickets")
    tlist.add_argument("--status")
    tlist.add_argument("--limit", type=int, default=50)
    tsub.add_parser("show", help="one ticket with its thread").add_argument("number")
    tset = tsub.add_parser("set", help="change status, department, assignee, team, priority …")
    tset.add_argument("number")
    tset.add_argument("--status")
    tset.add_argument("--department", help="transfer (alerts the department's members)")
    tset.add_argument("--assign", metavar="EMAIL", help="an agent's address, or 'none'")
    tset.add_argument("--team", help="a team, or 'none'")
    tset.add_argument("--priority")
    tset.add_argument("--sla", help="an SLA plan, or 'none'")
    tset.add_argument("--topic", help="a help topic (its SLA plan, if any, comes with it)")
    reply = tsub.add_parser("reply", help="mail an agent's response (text on standard input)")
    reply.add_argument("number")
    reply.add_argument("--agent", required=True, metavar="EMAIL", help="who is answering")
    reply.add_argument("--status", help="then set this status, e.g. pending or resolved")
    note = tsub.add_parser("note", help="add an internal note (text on standard input)")
    note.add_argument("number")
    note.add_argument("--agent", metavar="EMAIL", help="whose note (default: administrator)")

    rules = sub.add_parser("rules", help="the TOML rules: dry-run them on a saved message")
    rsub = rules.add_subparsers(dest="action", required=True, metavar="ACTION")
    rtest = rsub.add_parser("test", help="what the rules would do with MESSAGE; changes nothing")
    rtest.add_argument("message", metavar="MESSAGE.eml")
    rtest.add_argument("--channel", default="email", choices=("email", "web", "api", "phone"))
    rtest.add_argument("--as-reply-to", metavar="NUMBER", help="as a follow-up to this ticket")
    rtest.add_argument("--to", action="append", metavar="ADDRESS",
                       help="the envelope recipient (default: the helpdesk address)")  # fmt: skip

    sla = sub.add_parser("sla", help="service level: the sweep and how due times came about")
    ssub = sla.add_subparsers(dest="action", required=True, metavar="ACTION")
    sweep = ssub.add_parser("sweep", help="mark overdue tickets and queue alerts now")
    sweep.add_argument("--now", help="the moment to sweep at, ISO 8601 (default: now)")
    ssub.add_parser("explain", help="how a ticket's due times were computed").add_argument("number")

    agent = sub.add_parser("agent", help="staff: addresses, departments, roles, sign-in")
    asub = agent.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = asub.add_parser("add", help="add an agent; the first address is the primary one")
    add.add_argument("emails", nargs="+", metavar="EMAIL")
    add.add_argument("--name", required=True)
    add.add_argument("--department", required=True, help="the primary department")
    add.add_argument("--role", required=True, help="the role in the primary department")
    add.add_argument("--also", action="append", default=[], metavar="DEPT=ROLE",
                     help="another department and the role there (repeatable)")  # fmt: skip
    asub.add_parser("list", help="every agent, one a line")
    for action, text in (
        ("show", "one agent: addresses, departments, teams, sign-in"),
        ("disable", "stop an agent signing in"),
        ("enable", "let a disabled agent sign in again"),
        ("set-password", "read a new password from standard input"),
        ("reset-mfa", "clear the agent's TOTP secret"),
    ):
        asub.add_parser(action, help=text).add_argument("email", metavar="EMAIL")
    edit = asub.add_parser("edit", help="change an agent's name, addresses or departments")
    edit.add_argument("email", metavar="EMAIL")
    edit.add_argument("--name")
    edit.add_argument("--add-email", action="append", default=[], metavar="EMAIL")
    edit.add_argument("--remove-email", action="append", default=[], metavar="EMAIL")
    edit.add_argument("--department", action="append", default=[], metavar="DEPT=ROLE",
                      help="replaces the departments: give every one (repeatable)")  # fmt: skip
    edit.add_argument("--primary", metavar="DEPT", help="the primary department")
    _user_and_org_parsers(sub)
    return parser


def _user_and_org_parsers(sub) -> None:
    user = sub.add_parser("user", help="customers: add, list, show, merge, set organisation")
    usub = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = usub.add_parser("add", help="add a user (mail adds them on its own, too)")
    add.add_argument("email", metavar="EMAIL")
    add.add_argument("--name", help="display name")
    add.add_argument("--org", metavar="ORG", help="default: the one owning the address's domain")
    usub.add_parser("list", help="every user, one a line").add_argument("--org", metavar="ORG")
    show = usub.add_parser("show", help="one user: organisation, tickets")
    show.add_argument("email", metavar="EMAIL")
    merge = usub.add_parser("merge", help="move a user's tickets to another; delete the first")
    merge.add_argument("from_email", metavar="FROM_EMAIL")
    merge.add_argument("into_email", metavar="INTO_EMAIL")
    set_org = usub.add_parser("set-org", help="put a user in an organisation, or in none")
    set_org.add_argument("email", metavar="EMAIL")
    set_org.add_argument("org", metavar="ORG", nargs="?")
    set_org.add_argument("--none", action="store_true", help="in no organisation")
    set_org.add_argument("--primary", action="store_true", help="as a primary contact")

    sharing = {"choices": ("off", "primary", "all"), "help": "who sees members' tickets"}
    org = sub.add_parser("org", help="customer organisations: domains, members, sharing")
    osub = org.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = osub.add_parser("add", help="add an organisation")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--domain", action="append", default=[], metavar="D",
                     help="new senders from D (or a subdomain) join (repeatable)")  # fmt: skip
    add.add_argument("--sharing", default="off", **sharing)
    osub.add_parser("list", help="every organisation, one a line")
    show = osub.add_parser("show", help="domains, sharing and members")
    show.add_argument("name", metavar="NAME")
    edit = osub.add_parser("edit", help="change domains, sharing or name")
    edit.add_argument("name", metavar="NAME")
    edit.add_argument("--add-domain", action="append", default=[], metavar="D")
    edit.add_argument("--remove-domain", action="append", default=[], metavar="D")
    edit.add_argument("--sharing", **sharing)
    edit.add_argument("--rename", metavar="NEW")


def _pipe_arguments(argv: list[str]) -> tuple[str, str | None, list[str]] | None:
    """`[--config PATH] pipe [-f SENDER] [RCPT…]` read without argparse, or None.

    The MTA starts `maild pipe` once per message and building the argparse parser costs
    more CPU than storing the message; anything unusual goes through argparse as usual.
    """
    config = "config.toml"
    if argv[:1] == ["--config"] and len(argv) > 1:
        config, argv = argv[1], argv[2:]
    elif argv[:1] and argv[0].startswith("--config="):
        config, argv = argv[0].partition("=")[2], argv[1:]
    if argv[:1] != ["pipe"]:
        return None
    argv = argv[1:]
    mail_from = None
    if argv[:1] and argv[0] in ("-f", "--from") and len(argv) > 1:
        mail_from, argv = argv[1], argv[2:]
    if any(arg.startswith("-") for arg in argv):
        return None
    return config, mail_from, argv


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    fast = _pipe_arguments(argv)
    if fast is not None:
        from maild.pipe import pipe

        config, mail_from, recipients = fast
        return pipe(config, mail_from=mail_from, recipients=recipients)
    args = _parser().parse_args(argv)
    if args.command == "pipe":
        from maild.pipe import pipe

        return pipe(args.config, mail_from=args.mail_from, recipients=args.recipients)
    import logging

    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("mailparser").setLevel(logging.CRITICAL)  # see maild.daemon
    from maild import admin
    from maild.config import load
    from maild.errors import ConfigError

    try:
        config = load(args.config)
        if args.command == "check":
            return admin.check(config)
        if args.command == "run":
            from maild.daemon import run

            return run(config)
        if args.command in ("fetch", "mailbox"):
            from maild import fetch_admin

            return fetch_admin.dispatch(config, args)
        return admin.dispatch(config, args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 78  # EX_CONFIG
