"""Behaviour of maild.classify: machine mail is recognised and never answerable."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maild.classify import Identity, Kind, bounce_references, classify
from maild.parse import parse

OUR_IDS = {"maild.42.a1b2c3.0123456789abcdef@help.example"}
OURS = Identity(
    addresses=frozenset({"support@help.example", "billing@help.example"}),
    loop_token="loop-7f3a9c",
    is_own_message_id=lambda mid: mid in OUR_IDS,
)
CUSTOMER = "alice@customer.example"


def raw_mail(
    *extra: str,
    frm: str = f"Alice Example <{CUSTOMER}>",
    subject: str = "My printer is on fire",
    message_id: str = "<c1.1700000000@customer.example>",
    body: str = "Hello,\r\nplease help, it is smoking.\r\n",
) -> bytes:
    """An ordinary plain-text message with `extra` header lines appended."""
    head = [
        f"From: {frm}",
        "To: Support <support@help.example>",
        f"Subject: {subject}",
        f"Message-ID: {message_id}",
        "Date: Tue, 05 Mar 2024 10:00:00 +0100",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


def check(raw: bytes, mail_from: str | None = CUSTOMER):
    return classify(parse(raw), mail_from=mail_from, identity=OURS)


# --- ordinary mail --------------------------------------------------------------------------


def test_ordinary_message_is_normal_and_answerable():
    result = check(raw_mail())
    assert result.kind is Kind.NORMAL
    assert result.reason == ""
    assert result.answerable is True


def test_ordinary_message_with_unknown_envelope_sender_is_normal():
    assert check(raw_mail(), mail_from=None).kind is Kind.NORMAL


def test_human_subject_mentioning_returned_mail_is_not_a_bounce_without_null_sender():
    assert check(raw_mail(subject="Returned mail? Undeliverable, they say")).kind is Kind.NORMAL


def test_auto_submitted_no_stays_normal():
    assert check(raw_mail("Auto-Submitted: No (sent by a person)")).kind is Kind.NORMAL


def test_only_normal_is_answerable():
    machine = [
        check(raw_mail("Auto-Submitted: auto-replied")),
        check(raw_mail("List-Id: <users.lists.example>")),
        check(raw_mail(frm="MAILER-DAEMON@mx.example")),
        check(raw_mail(frm="support@help.example")),
    ]
    assert [c.kind for c in machine] == [Kind.AUTO_REPLY, Kind.LIST, Kind.BOUNCE, Kind.LOOP]
    assert not any(c.answerable for c in machine)


# --- loops ----------------------------------------------------------------------------------


def test_our_loop_header_with_our_token_is_loop():
    result = check(raw_mail("X-Maild-Loop: loop-7f3a9c"))
    assert result.kind is Kind.LOOP
    assert "X-Maild-Loop" in result.reason


def test_loop_header_with_someone_elses_token_is_not_our_loop():
    assert check(raw_mail("X-Maild-Loop: other-helpdesk")).kind is Kind.NORMAL


def test_our_own_message_id_is_loop():
    mid = next(iter(OUR_IDS))
    result = check(raw_mail(message_id=f"<{mid}>"))
    assert result.kind is Kind.LOOP
    assert mid in result.reason


def test_replying_to_our_message_id_is_not_a_loop():
    mid = next(iter(OUR_IDS))
    assert check(raw_mail(f"In-Reply-To: <{mid}>")).kind is Kind.NORMAL


def test_mail_from_our_own_address_is_loop():
    result = check(raw_mail(frm="Helpdesk <Support@Help.Example>"))
    assert result.kind is Kind.LOOP
    assert result.reason == "From: support@help.example is our own address"


def test_mail_from_plus_address_of_ours_is_loop():
    assert check(raw_mail(frm="<support+t42.abc@help.example>")).kind is Kind.LOOP


def test_plus_address_on_a_foreign_domain_is_not_ours():
    assert check(raw_mail(frm="<support+x@elsewhere.example>")).kind is Kind.NORMAL


# --- bounces --------------------------------------------------------------------------------


def test_mailer_daemon_sender_is_bounce():
    result = check(raw_mail(frm="Mail Delivery System <MAILER-DAEMON@mx.example>"))
    assert result.kind is Kind.BOUNCE
    assert result.reason == "From: mailer-daemon@mx.example"


def test_postmaster_sender_is_bounce():
    assert check(raw_mail(frm="postmaster@customer.example")).kind is Kind.BOUNCE


def test_null_sender_with_mail_delivery_subsystem_name_is_bounce():
    raw = raw_mail(frm="Mail Delivery Subsystem <bounces@googlemail.example>")
    result = check(raw, mail_from="")
    assert result.kind is Kind.BOUNCE
    assert "null envelope sender" in result.reason


@pytest.mark.parametrize(
    "subject",
    [
        "Undeliverable: Re: [#42] Printer",
        "Undelivered Mail Returned to Sender",
        "Delivery Status Notification (Failure)",
        "Mail delivery failed: returning message to sender",
        "Returned mail: see transcript for details",
        "failure notice",
    ],
)
def test_null_sender_with_bouncey_subject_is_bounce(subject):
    result = check(raw_mail(subject=subject), mail_from="")
    assert result.kind is Kind.BOUNCE
    assert subject in result.reason


def test_return_path_null_with_bouncey_subject_is_bounce():
    raw = raw_mail("Return-Path: <>", subject="failure notice")
    result = check(raw, mail_from=None)
    assert result.kind is Kind.BOUNCE
    assert "Return-Path: <>" in result.reason


def test_dsn_multipart_report_is_bounce():
    result = check(POSTFIX_DSN, mail_from="")
    assert result.kind is Kind.BOUNCE
    assert "delivery-status" in result.reason


def test_exchange_ndr_is_bounce_even_with_a_non_daemon_sender():
    assert check(EXCHANGE_NDR, mail_from=None).kind is Kind.BOUNCE


# --- auto-replies ---------------------------------------------------------------------------


def test_auto_submitted_auto_replied_is_auto_reply_and_reason_names_it():
    result = check(raw_mail("Auto-Submitted: auto-replied"))
    assert result.kind is Kind.AUTO_REPLY
    assert result.reason == "Auto-Submitted: auto-replied"
    assert result.answerable is False


def test_auto_submitted_with_parameters_is_auto_reply():
    raw = raw_mail("Auto-Submitted: auto-generated; owner-email=ops@shop.example")
    assert check(raw).kind is Kind.AUTO_REPLY


@pytest.mark.parametrize(
    "header",
    [
        "X-Autoreply: yes",
        "X-Autorespond: Out of office",
        "X-Autoresponder: vacation",
        "X-Auto-Response-Suppress: All",
        "X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply",
        "X-AutoReply-From: alice@customer.example",
        "X-Mail-Autoreply: yes",
        "X-FC-MachineGenerated: true",
        "X-Loop: alice@customer.example",
        "Precedence: auto_reply",
    ],
)
def test_autoresponder_header_is_auto_reply(header):
    result = check(raw_mail(header))
    assert result.kind is Kind.AUTO_REPLY
    assert result.reason.startswith(header.split(":")[0] + ":")


@pytest.mark.parametrize(
    "header",
    [
        "X-Auto-Response-Suppress: None",
        "X-Auto-Response-Suppress: ",
        "X-FC-MachineGenerated: false",
    ],
)
def test_autoresponder_header_switched_off_stays_normal(header):
    assert check(raw_mail(header)).kind is Kind.NORMAL


def test_null_envelope_sender_without_bounce_signs_is_auto_reply():
    result = check(raw_mail(), mail_from="")
    assert result.kind is Kind.AUTO_REPLY
    assert result.reason == "null envelope sender (MAIL FROM:<>)"


def test_return_path_null_without_bounce_signs_is_auto_reply():
    result = check(raw_mail("Return-Path: <>"), mail_from=None)
    assert result.kind is Kind.AUTO_REPLY
    assert result.reason == "Return-Path: <>"


def test_read_receipt_is_auto_reply_not_bounce():
    result = check(READ_RECEIPT, mail_from="")
    assert result.kind is Kind.AUTO_REPLY
    assert "read receipt" in result.reason


@pytest.mark.parametrize(
    "subject",
    [
        "Auto: My printer is on fire",
        "Automatic reply: My printer is on fire",
        "Out of Office until Monday",
        "AUTOREPLY: away",
        "Abwesenheitsnotiz: Printer",
        "=?utf-8?q?R=C3=A9ponse_automatique=3A_Printer?=",
    ],
)
def test_out_of_office_subject_is_auto_reply(subject):
    result = check(raw_mail(subject=subject))
    assert result.kind is Kind.AUTO_REPLY
    assert result.reason.startswith("Subject: ")


# --- lists ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "Precedence: bulk",
        "Precedence: junk",
        "Precedence: list",
        "List-Id: Users <users.lists.example>",
        "List-Unsubscribe: <mailto:leave@lists.example>",
        "List-Post: <mailto:users@lists.example>",
        "X-Mailing-List: users@lists.example",
    ],
)
def test_list_header_is_list(header):
    result = check(raw_mail(header))
    assert result.kind is Kind.LIST
    assert result.reason == header


# --- ordering -------------------------------------------------------------------------------


def test_dsn_that_is_also_auto_submitted_is_bounce():
    assert b"Auto-Submitted: auto-replied" in POSTFIX_DSN
    assert check(POSTFIX_DSN, mail_from="").kind is Kind.BOUNCE


def test_our_loop_header_wins_over_everything():
    raw = POSTFIX_DSN.replace(
        b"MIME-Version", b"X-Maild-Loop: loop-7f3a9c\r\nList-Id: <l>\r\nMIME-Version"
    )
    assert check(raw, mail_from="").kind is Kind.LOOP


def test_auto_reply_wins_over_list():
    assert check(raw_mail("List-Id: <l.example>", "X-Autoreply: yes")).kind is Kind.AUTO_REPLY


def test_mailer_daemon_with_auto_submitted_is_bounce():
    raw = raw_mail("Auto-Submitted: auto-replied", frm="MAILER-DAEMON@mx.example")
    assert check(raw).kind is Kind.BOUNCE


# --- bounce_references ----------------------------------------------------------------------

POSTFIX_DSN = b"""\
Return-Path: <>\r
Received: by mx.help.example (Postfix) id 4TqK1; Tue,  5 Mar 2024 10:00:02 +0100 (CET)\r
Date: Tue,  5 Mar 2024 10:00:02 +0100 (CET)\r
From: MAILER-DAEMON@mx.help.example (Mail Delivery System)\r
Subject: Undelivered Mail Returned to Sender\r
To: support@help.example\r
Auto-Submitted: auto-replied\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=delivery-status;\r
\tboundary="4TqK1.1709629202/mx.help.example"\r
Message-Id: <20240305090002.4TqK1@mx.help.example>\r
\r
This is a MIME-encapsulated message.\r
\r
--4TqK1.1709629202/mx.help.example\r
Content-Description: Notification\r
Content-Type: text/plain; charset=us-ascii\r
\r
This is the mail system at host mx.help.example.\r
\r
I'm sorry to have to inform you that your message could not\r
be delivered to one or more recipients.\r
\r
<nobody@customer.example>: host mx.customer.example said: 550 5.1.1 unknown user\r
\r
--4TqK1.1709629202/mx.help.example\r
Content-Description: Delivery report\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mx.help.example\r
X-Postfix-Queue-ID: 4TqK1\r
Arrival-Date: Tue,  5 Mar 2024 10:00:01 +0100 (CET)\r
\r
Final-Recipient: rfc822; nobody@customer.example\r
Action: failed\r
Status: 5.1.1\r
Diagnostic-Code: smtp; 550 5.1.1 unknown user\r
\r
--4TqK1.1709629202/mx.help.example\r
Content-Description: Undelivered Message\r
Content-Type: message/rfc822\r
\r
From: Helpdesk <support@help.example>\r
To: nobody@customer.example\r
Subject: Re: [#42] Printer\r
Message-ID: <maild.42.a1b2c3.0123456789abcdef@help.example>\r
In-Reply-To: <c1.1700000000@customer.example>\r
References: <c0.1690000000@customer.example>\r
 <c1.1700000000@customer.example>\r
\r
We are on it.\r
\r
--4TqK1.1709629202/mx.help.example--\r
"""


def test_postfix_dsn_references_the_returned_message_first():
    refs = bounce_references(parse(POSTFIX_DSN), POSTFIX_DSN)
    assert refs == (
        "maild.42.a1b2c3.0123456789abcdef@help.example",
        "c1.1700000000@customer.example",
        "c0.1690000000@customer.example",
    )


def test_postfix_dsn_with_headers_only_part_is_referenced():
    raw = POSTFIX_DSN.replace(
        b"Content-Description: Undelivered Message\r\nContent-Type: message/rfc822",
        b"Content-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers",
    ).replace(b"\r\nWe are on it.\r\n", b"")
    assert b"text/rfc822-headers" in raw
    refs = bounce_references(parse(raw), raw)
    assert refs[0] == "maild.42.a1b2c3.0123456789abcdef@help.example"
    assert set(refs) == {
        "maild.42.a1b2c3.0123456789abcdef@help.example",
        "c1.1700000000@customer.example",
        "c0.1690000000@customer.example",
    }


EXCHANGE_NDR = b"""\
From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.example>\r
To: <support@help.example>\r
Date: Tue, 5 Mar 2024 09:00:05 +0000\r
Subject: Undeliverable: Re: [#42] Printer\r
Content-Type: multipart/report; report-type=delivery-status;\r
\tboundary="_000_ndr_"\r
Content-Language: en-US\r
Message-ID: <8f1e1e8a-ndr@DB8PR01MB1234.eurprd01.prod.exchangelabs.example>\r
In-Reply-To: <maild.42.a1b2c3.0123456789abcdef@help.example>\r
References: <c1.1700000000@customer.example>\r
 <maild.42.a1b2c3.0123456789abcdef@help.example>\r
Thread-Topic: [#42] Printer\r
X-MS-Exchange-Message-Is-Ndr:\r
MIME-Version: 1.0\r
\r
--_000_ndr_\r
Content-Type: multipart/alternative; boundary="_alt_"\r
\r
--_alt_\r
Content-Type: text/plain; charset="us-ascii"\r
Content-Transfer-Encoding: quoted-printable\r
\r
Your message to bob@contoso.example couldn't be delivered.\r
--_alt_\r
Content-Type: text/html; charset="us-ascii"\r
\r
<p>Your message couldn't be delivered.</p>\r
--_alt_--\r
\r
--_000_ndr_\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns;DB8PR01MB1234.eurprd01.prod.exchangelabs.example\r
\r
Final-Recipient: rfc822;bob@contoso.example\r
Action: failed\r
Status: 5.1.10\r
\r
--_000_ndr_\r
Content-Type: message/rfc822\r
\r
From: Helpdesk <support@help.example>\r
To: <bob@contoso.example>\r
Subject: Re: [#42] Printer\r
Message-ID: <maild.42.a1b2c3.0123456789abcdef@help.example>\r
In-Reply-To: <c1.1700000000@customer.example>\r
MIME-Version: 1.0\r
Content-Type: text/plain\r
\r
\r
--_000_ndr_--\r
"""


def test_exchange_ndr_references_the_returned_message_then_its_own_headers():
    refs = bounce_references(parse(EXCHANGE_NDR), EXCHANGE_NDR)
    assert refs == (
        "maild.42.a1b2c3.0123456789abcdef@help.example",
        "c1.1700000000@customer.example",
    )


def test_plain_text_bounce_falls_back_to_its_quoted_copy():
    raw = raw_mail(
        "Return-Path: <>",
        frm="MAILER-DAEMON@mx.customer.example",
        subject="failure notice",
        body=(
            "Hi. This is the qmail-send program at mx.customer.example.\r\n"
            "<nobody@customer.example>:\r\nSorry, no mailbox here by that name.\r\n\r\n"
            "--- Below this line is a copy of the message.\r\n\r\n"
            "From: support@help.example\r\n"
            "Message-ID: <maild.42.a1b2c3.0123456789abcdef@help.example>\r\n"
        ),
    )
    assert bounce_references(parse(raw), raw) == ("maild.42.a1b2c3.0123456789abcdef@help.example",)


def test_bounce_with_nothing_to_refer_to_has_no_references():
    raw = raw_mail(frm="MAILER-DAEMON@mx.example")
    assert bounce_references(parse(raw), raw) == ()


def test_garbage_bytes_give_no_references():
    garbage = bytes(range(256)) * 4 + b"\r\n--\r\nContent-Type: message/rfc822\r\n\r\n\xff\xfe"
    assert bounce_references(parse(raw_mail()), garbage) == ()


def test_returned_part_without_ids_falls_back_to_the_bounces_own_headers():
    raw = EXCHANGE_NDR.replace(
        b"Message-ID: <maild.42.a1b2c3.0123456789abcdef@help.example>\r\n"
        b"In-Reply-To: <c1.1700000000@customer.example>\r\nMIME-Version",
        b"MIME-Version",
    )
    assert raw.count(b"In-Reply-To") == 1
    refs = bounce_references(parse(raw), raw)
    assert refs == (
        "maild.42.a1b2c3.0123456789abcdef@help.example",
        "c1.1700000000@customer.example",
    )


def test_undecodable_returned_part_does_not_hide_the_bounces_own_headers():
    raw = EXCHANGE_NDR.replace(
        b"Content-Type: message/rfc822\r\n",
        b"Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: base64\r\n",
    )
    refs = bounce_references(parse(raw), raw)
    assert refs[0] == "maild.42.a1b2c3.0123456789abcdef@help.example"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_bounce_references_never_raises(raw):
    refs = bounce_references(parse(raw_mail()), POSTFIX_DSN[:200] + raw)
    assert isinstance(refs, tuple)


READ_RECEIPT = b"""\
From: Bob <bob@customer.example>\r
To: support@help.example\r
Subject: Read: [#42] Printer\r
Message-ID: <mdn.1@customer.example>\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=disposition-notification;\r
\tboundary="mdn"\r
\r
--mdn\r
Content-Type: text/plain\r
\r
Your message was read.\r
--mdn\r
Content-Type: message/disposition-notification\r
\r
Final-Recipient: rfc822;bob@customer.example\r
Original-Message-ID: <maild.42.a1b2c3.0123456789abcdef@help.example>\r
Disposition: manual-action/MDN-sent-manually; displayed\r
--mdn--\r
"""
