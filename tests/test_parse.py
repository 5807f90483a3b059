"""maild.parse: raw bytes -> ParsedMessage, for well-formed, broken and hostile mail."""

from __future__ import annotations

import base64
import re
import time
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maild import mimetext
from maild import parse as parse_module
from maild.mimetext import decode_bytes, decode_words, html_to_text
from maild.parse import Attachment, ParsedMessage, normalise_message_id, parse, split_message_ids

DATA = Path(__file__).parent / "data" / "parse"


def wire(*headers: str, body: str | bytes = "Hello.\r\n", encoding: str = "utf-8") -> bytes:
    """A message as it arrives over SMTP: CRLF lines, headers taken literally."""
    head = "".join(f"{h}\r\n" for h in headers).encode(encoding)
    return head + b"\r\n" + (body.encode(encoding) if isinstance(body, str) else body)


def smtp_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=policy.SMTP)


def simple_message(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "Ada Lovelace <Ada@Example.COM>")
    msg["To"] = headers.pop("To", "support@helpdesk.test")
    msg["Subject"] = headers.pop("Subject", "Printer broken")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    return msg


# --- well-formed messages ----------------------------------------------------------


def test_plain_message_fields():
    msg = simple_message(Cc="Bob <bob@example.org>", Reply_To="help@example.com")
    msg["Date"] = "Tue, 03 Mar 2026 10:00:00 +0100"
    msg["Message-ID"] = "<abc.123@example.com>"
    msg.set_content("The printer on floor 3 is broken.\nPlease help.\n")
    parsed = parse(smtp_bytes(msg))

    assert isinstance(parsed, ParsedMessage)
    assert parsed.message_id == "abc.123@example.com"
    assert parsed.subject == "Printer broken"
    assert (parsed.from_name, parsed.from_addr) == ("Ada Lovelace", "ada@example.com")
    assert parsed.to == (("", "support@helpdesk.test"),)
    assert parsed.cc == (("Bob", "bob@example.org"),)
    assert parsed.reply_to == (("", "help@example.com"),)
    assert parsed.date == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert parsed.text == "The printer on floor 3 is broken.\nPlease help.\n"
    assert parsed.html == ""
    assert parsed.attachments == ()
    assert parsed.content_type == "text/plain"
    assert parsed.report_type == ""
    assert parsed.size == len(smtp_bytes(msg))
    assert parsed.defects == ()


def test_headers_keep_order_and_lookup_is_case_insensitive():
    raw = wire("Received: from a", "Received: from b", "X-Custom: one", "Subject: s")
    parsed = parse(raw)
    assert [name for name, _ in parsed.headers] == ["Received", "Received", "X-Custom", "Subject"]
    assert parsed.header("received") == "from a"
    assert parsed.header_all("RECEIVED") == ("from a", "from b")
    assert parsed.header("x-missing") == ""
    assert parsed.header_all("x-missing") == ()


def test_folded_header_is_unfolded_and_subject_whitespace_collapsed():
    parsed = parse(wire("Subject: a  very\r\n  long\r\n\tsubject ", "X-Folded: one\r\n two"))
    assert parsed.subject == "a very long subject"
    assert parsed.header("x-folded") == "one two"


def test_missing_date_is_none_and_bad_date_is_none():
    assert parse(wire("Subject: x")).date is None
    assert parse(wire("Date: not a date at all")).date is None


def test_multipart_alternative_text_wins_and_html_is_kept():
    msg = simple_message()
    msg.set_content("Plain version.\n")
    msg.add_alternative("<p>HTML <b>version</b>.</p>", subtype="html")
    parsed = parse(smtp_bytes(msg))
    assert parsed.content_type == "multipart/alternative"
    assert parsed.text == "Plain version.\n"
    assert parsed.html == "<p>HTML <b>version</b>.</p>\n"
    assert parsed.attachments == ()


def test_html_only_message_gets_a_text_rendering():
    msg = simple_message()
    msg.set_content(
        "<html><head><title>T</title><style>p {color: red}</style></head><body>"
        "<p>Hello&nbsp;there,</p><div>line one<br>line two</div>"
        "<ul><li>first</li><li>second &amp; last</li></ul>"
        "<script>alert('x')</script><!-- a comment --><p>5 &lt; 6</p></body></html>",
        subtype="html",
    )
    parsed = parse(smtp_bytes(msg))
    assert parsed.text == "Hello there,\n\nline one\nline two\n\nfirst\nsecond & last\n\n5 < 6"
    assert "<script>" in parsed.html


def test_empty_text_part_falls_back_to_html_rendering():
    msg = simple_message()
    msg.set_content("  \n")
    msg.add_alternative("<div>Only here</div>", subtype="html")
    assert parse(smtp_bytes(msg)).text == "Only here"


def test_html_to_text_handles_nested_blocks_and_unclosed_constructs():
    assert html_to_text("<div><div><p>a</p></div></div><div>b</div>") == "a\n\nb"
    assert html_to_text("a < b and <b>bold</b>") == "a < b and bold"
    assert html_to_text("before<!-- never closed <p>x</p>") == "before"
    assert html_to_text("x<script>never closed") == "x"


# The patterns html_to_text used until they proved quadratic on a long run of block
# tags: the rendering must not have changed, only the time it takes.
QUADRATIC_RUNS = (r"[ \x00\x01]*\x01[ \x00\x01]*", r" *\x00[ \x00]*")
HTML_TOKENS = [
    "<p>", "</p>", "<div>", "</div>", "<br>", "<li>", "<h1 class=x>", "<b>", "</b>", "<td>",
    "<tr>", "<hr/>", "<table>", " ", "  ", "\t", "\n", "\xa0", "&nbsp;", "&amp", "&#65", "a",
    "x y", "<", ">", "&", "\x00", "\x01", "<!--", "-->", "<script>", "</script>", "é", "<p",
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.lists(st.sampled_from(HTML_TOKENS), max_size=50).map("".join),
        st.text(alphabet=" \x00\x01\n<>/pdivbr&;#a\xa0", max_size=60),
        st.text(max_size=80),
    )
)
def test_html_to_text_renders_as_with_the_old_run_patterns(markup):
    rendered = html_to_text(markup)
    linear = mimetext._PARA_RUN, mimetext._BLOCK_RUN
    try:
        mimetext._PARA_RUN, mimetext._BLOCK_RUN = map(re.compile, QUADRATIC_RUNS)
        assert rendered == html_to_text(markup)
    finally:
        mimetext._PARA_RUN, mimetext._BLOCK_RUN = linear


def test_html_to_text_is_linear_in_long_runs_of_block_tags():
    # 1 MB each: a quadratic collapse of the runs would take minutes here, not milliseconds.
    assert html_to_text("a" + "<div>" * 200_000 + "b") == "a\nb"
    assert html_to_text("a" + "<p>" * 333_333 + "b") == "a\n\nb"
    assert html_to_text("a" + "<div> </p>" * 100_000 + "b") == "a\n\nb"
    assert html_to_text("a" + "<b> " * 250_000 + "b") == "a" + " " * 250_000 + "b"
    assert html_to_text("a<div>" * 170_000) == "\n".join("a" * 170_000)
    raw = wire(
        "From: divs@example.com",
        "Content-Type: text/html; charset=utf-8",
        body="<p>Hello</p>" + ("<div>" * 200 + "\r\n") * 1_000 + "<div>there",
    )
    parsed = parse(raw)
    assert parsed.from_addr == "divs@example.com"
    assert parsed.text == "Hello\n\nthere"


def test_html_to_text_is_linear_on_hostile_markup():
    hostile = "<!--" * 50_000 + "<script" * 50_000 + "<a " * 50_000 + "&" * 50_000
    start = time.perf_counter()
    html_to_text(hostile)
    assert time.perf_counter() - start < 1.0


# --- attachments -------------------------------------------------------------------


def test_attachment_with_rfc2231_non_ascii_filename():
    msg = simple_message()
    msg.set_content("See attached.\n")
    msg.add_attachment(
        b"%PDF-1.4 data", maintype="application", subtype="pdf", filename="Résumé 2026.pdf"
    )
    raw = smtp_bytes(msg)
    assert b"filename*=utf-8''R%C3%A9sum%C3%A9" in raw
    parsed = parse(raw)
    assert parsed.text == "See attached.\n"
    (attachment,) = parsed.attachments
    assert attachment == Attachment(
        "Résumé 2026.pdf", "application/pdf", b"%PDF-1.4 data", "", False
    )


def test_attachment_filename_in_rfc2047_or_raw_8bit_is_decoded():
    encoded = wire(
        'Content-Type: application/octet-stream; name="=?utf-8?b?w7xiZXIudHh0?="',
        "Content-Disposition: attachment",
        body="x",
    )
    assert parse(encoded).attachments[0].filename == "über.txt"
    latin1 = wire(
        "Content-Type: application/octet-stream",
        'Content-Disposition: attachment; filename="r\xe9sum\xe9.txt"',
        body="x",
        encoding="latin-1",
    )
    assert parse(latin1).attachments[0].filename == "résumé.txt"


def test_attachment_filename_loses_directories_and_unnamed_gets_a_generated_one():
    msg = simple_message()
    msg.set_content("body\n")
    msg.add_attachment(b"a", maintype="text", subtype="plain", filename="../../etc/passwd")
    msg.add_attachment(b"\x89PNG", maintype="image", subtype="png", disposition="attachment")
    msg.add_attachment(b"BEGIN:VCALENDAR", maintype="text", subtype="calendar")
    names = [a.filename for a in parse(smtp_bytes(msg)).attachments]
    assert names == ["passwd", "attachment-2.png", "attachment-3.ics"]


def test_inline_image_with_content_id():
    msg = simple_message()
    msg.set_content("Logo below.\n")
    msg.add_alternative('<p>Logo: <img src="cid:logo.123@example.com"></p>', subtype="html")
    html_part = msg.get_payload()[1]
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    html_part.add_related(png, maintype="image", subtype="png", cid="<logo.123@example.com>")
    parsed = parse(smtp_bytes(msg))
    (image,) = parsed.attachments
    assert image.content_id == "logo.123@example.com"
    assert image.inline is True
    assert image.payload == png
    assert image.content_type == "image/png"
    assert image.filename == "attachment-1.png"


def test_content_id_not_referenced_and_not_inline_is_not_inline():
    msg = simple_message()
    msg.set_content("x\n")
    msg.add_attachment(
        b"data", maintype="application", subtype="zip", filename="a.zip", cid="<z@x>"
    )
    (attachment,) = parse(smtp_bytes(msg)).attachments
    assert (attachment.content_id, attachment.inline) == ("z@x", False)


def test_tnef_winmail_dat_is_kept_as_attachment():
    parsed = parse((DATA / "winmail.eml").read_bytes())
    assert parsed.text.startswith("The printer on floor 3 shows error E-42 again. Grüße.")
    (tnef,) = parsed.attachments
    assert tnef.filename == "winmail.dat"
    assert tnef.content_type == "application/ms-tnef"
    assert tnef.payload.startswith(b"\x78\x9f\x3e\x22")
    assert len(tnef.payload) == 4 + 1024


def test_winmail_dat_sent_as_octet_stream_is_typed_as_tnef():
    raw = wire(
        "Content-Type: application/octet-stream; name=winmail.dat",
        "Content-Transfer-Encoding: base64",
        body=base64.b64encode(b"\x78\x9f\x3e\x22tnef").decode() + "\r\n",
    )
    (tnef,) = parse(raw).attachments
    assert (tnef.content_type, tnef.payload) == ("application/ms-tnef", b"\x78\x9f\x3e\x22tnef")


def test_attached_message_sent_base64_encoded_is_decoded():
    inner = b"From: x@example.com\r\nSubject: inner\r\n\r\ninner body\r\n"
    raw = wire(
        'Content-Type: multipart/mixed; boundary="b"',
        body=b"--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(inner)
        + b"--b--\r\n",
    )
    (attached,) = parse(raw).attachments
    assert attached.payload.strip() == inner.strip()
    assert parse(attached.payload).subject == "inner"


def test_attached_message_is_kept_as_eml_and_its_text_stays_out_of_the_body():
    inner = simple_message(Subject="Original question")
    inner.set_content("Inner body text.\n")
    outer = simple_message(Subject="Fwd: Original question")
    outer.set_content("Forwarding this.\n")
    outer.add_attachment(inner)
    parsed = parse(smtp_bytes(outer))
    assert parsed.text == "Forwarding this.\n"
    (attached,) = parsed.attachments
    assert attached.content_type == "message/rfc822"
    assert attached.filename == "attachment-1.eml"
    assert parse(attached.payload).subject == "Original question"
    assert parse(attached.payload).text == "Inner body text.\n"


def test_delivery_status_report():
    parsed = parse((DATA / "dsn_bounce.eml").read_bytes())
    assert parsed.content_type == "multipart/report"
    assert parsed.report_type == "delivery-status"
    assert "550 5.1.1 User unknown" in parsed.text
    assert "must not leak" not in parsed.text
    types = [a.content_type for a in parsed.attachments]
    assert types == ["message/delivery-status", "message/rfc822"]
    status, original = parsed.attachments
    assert b"Final-Recipient: rfc822; nobody@example.net" in status.payload
    assert parse(original.payload).message_id == "notice-1042@helpdesk.test"


# --- header decoding ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("=?UTF-8?B?w4lsw6hWZSBkZSBsJ8OpY29sZQ==?=", "ÉlèVe de l'école"),
        ("=?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=", "Grüße aus Köln"),
        ("Re: =?utf-8?q?caf=C3=A9?= =?utf-8?q?_cr=C3=A8me?=", "Re: café crème"),
        # A multi-byte character split across two encoded words.
        ("=?utf-8?b?5pel?= =?utf-8?b?5pys?=", "日本"),
        ("=?utf-8*en?q?hello?=", "hello"),
    ],
)
def test_rfc2047_subject(subject, expected):
    assert parse(wire(f"Subject: {subject}")).subject == expected


def test_rfc2047_display_names_in_utf8_and_iso_8859_1():
    parsed = parse(
        wire(
            "From: =?utf-8?q?Jos=C3=A9_Mar=C3=ADa?= <Jose@Example.com>",
            "To: =?iso-8859-1?q?J=FCrgen_M=FCller?= <j@example.de>, "
            '"=?utf-8?q?Doe=2C_Jane?=" <jane@example.org>',
        )
    )
    assert (parsed.from_name, parsed.from_addr) == ("José María", "jose@example.com")
    assert parsed.to == (("Jürgen Müller", "j@example.de"), ("Doe, Jane", "jane@example.org"))


def test_broken_encoded_words_are_kept_and_noted():
    parsed = parse(wire("Subject: =?utf-8?b?!!!?= ok =?no-such-charset?q?caf=E9?="))
    assert parsed.subject == "=?utf-8?b?!!!?= ok café"
    assert any("broken encoded word" in d for d in parsed.defects)
    assert any("unknown charset" in d for d in parsed.defects)
    assert decode_words("=?utf-8?q?caf=E9?=") == "café"  # invalid UTF-8 inside the word


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_raw_8bit_subject_and_from(encoding):
    raw = wire("Subject: Grüße, café", 'From: "Jürgen" <Juergen@Example.de>', encoding=encoding)
    parsed = parse(raw)
    assert parsed.subject == "Grüße, café"
    assert (parsed.from_name, parsed.from_addr) == ("Jürgen", "juergen@example.de")
    assert parsed.header("from") == '"Jürgen" <Juergen@Example.de>'


def test_raw_windows_1252_punctuation_in_header():
    curly = "don\u2019t \u201cquote\u201d"
    parsed = parse(wire(f"Subject: {curly}", encoding="cp1252"))
    assert parsed.subject == curly


def test_in_reply_to_and_references_are_normalised():
    parsed = parse(
        wire(
            "Message-ID:  < abc@example.com > ",
            "In-Reply-To: <parent@example.com> (Jane's message of Monday)",
            "References: <root@example.com>\r\n <mid@example.com>,<parent@example.com>\r\n"
            "  bare@example.com not-an-id",
        )
    )
    assert parsed.message_id == "abc@example.com"
    assert parsed.in_reply_to == ("parent@example.com",)
    assert parsed.references == (
        "root@example.com",
        "mid@example.com",
        "parent@example.com",
        "bare@example.com",
    )


def test_nul_hidden_in_encoded_words_is_dropped():
    assert decode_words("=?utf-8?q?a=00b?=") == "ab"
    assert decode_words("=?utf-8?b?YQBi?=") == "ab"  # "a\0b" in base64
    assert decode_words("a\x00b") == "ab"
    parsed = parse(
        wire(
            "Subject: =?utf-8?q?nul=00here?=",
            "From: =?utf-8?q?N=00ul?= <w2@example.com>",
            'To: "=?utf-8?b?VAB1?=" <t@example.com>',
            "Cc: =?iso-8859-1?q?C=00c?= <c@example.com>",
            "Reply-To: =?utf-8?q?R=00?= <r@example.com>",
            "Message-ID: <=?utf-8?q?a=00b?=@x>",
            "In-Reply-To: <=?utf-8?q?r=00?=@x>",
            "References: <=?utf-8?q?s=00?=@x> <=?utf-8?b?AA==?=t@x>",
            "X-Other: =?utf-8?q?o=00?=",
            "Content-Type: multipart/mixed; boundary=b",
            body="--b\r\nContent-Type: text/plain\r\n\r\nHi\r\n--b\r\n"
            "Content-Type: application/pdf\r\n"
            'Content-Disposition: attachment; filename="=?utf-8?q?f=00.pdf?="\r\n\r\n'
            "x\r\n--b--\r\n",
        )
    )
    assert_storable(parsed)
    assert parsed.subject == "nulhere"
    assert (parsed.from_name, parsed.from_addr) == ("Nul", "w2@example.com")
    assert parsed.to == (("Tu", "t@example.com"),)
    assert parsed.cc == (("Cc", "c@example.com"),)
    assert parsed.reply_to == (("R", "r@example.com"),)
    assert parsed.message_id == "ab@x"
    assert parsed.in_reply_to == ("r@x",)
    assert parsed.references == ("s@x", "t@x")
    assert parsed.header("x-other") == "o"
    assert [a.filename for a in parsed.attachments] == ["f.pdf"]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["Subject", "From", "To", "Cc", "Message-ID", "In-Reply-To", "References"]),
    st.sampled_from(["utf-8", "iso-8859-1", "utf-16"]),
    st.text(alphabet="a\x00é@<> ,", max_size=20),
    st.booleans(),
)
def test_encoded_words_never_leave_a_nul(name, charset, content, base64_word):
    data = content.encode(charset, "replace")
    word = base64.b64encode(data).decode() if base64_word else data.hex("=").upper()
    if not base64_word and word:
        word = "=" + word
    value = f"=?{charset}?{'b' if base64_word else 'q'}?{word}?="
    assert_storable(parse(wire(f"{name}: Name {value} <{value}@x.test>")))


def test_overlong_addresses_are_dropped_and_noted():
    long_addr = "a" * 300 + "@" + "d" * 20 + ".test"  # 326 characters
    at_limit = "b" * 300 + "@" + "d" * 14 + ".test"  # 320 characters
    parsed = parse(
        wire(
            f"From: Long <{long_addr}>",
            f"To: <{long_addr}>, ok@example.com",
            f"Cc: {at_limit}, <{long_addr}>",
            f"Reply-To: {long_addr}",
        )
    )
    assert (parsed.from_name, parsed.from_addr) == ("", "")
    assert parsed.to == (("", "ok@example.com"),)
    assert parsed.cc == (("", at_limit),)
    assert parsed.reply_to == ()
    for field in ("from", "to", "cc", "reply-to"):
        assert f"{field}: address longer than 320 characters dropped" in parsed.defects
    assert_storable(parsed)


def test_overlong_display_names_are_cut_to_200_characters():
    parsed = parse(
        wire(
            f"From: {'N' * 300} <name@example.com>",
            f"To: =?utf-8?b?{base64.b64encode('é'.encode() * 250).decode()}?= <to@example.com>",
            f'Cc: "{"word " * 100}" <cc@example.com>',
        )
    )
    assert (parsed.from_name, parsed.from_addr) == ("N" * 200, "name@example.com")
    assert parsed.to == (("é" * 200, "to@example.com"),)
    assert parsed.cc == ((("word " * 40).strip(), "cc@example.com"),)
    assert parsed.header("from") == f"{'N' * 300} <name@example.com>"  # headers stay whole


def test_overlong_message_ids_are_cut_to_998_characters():
    long_id, at_limit = "m" * 1200 + "@x", "n" * 996 + "@x"
    parsed = parse(
        wire(
            f"Message-ID: <{long_id}>",
            f"In-Reply-To: <{long_id}>",
            f"References: <{at_limit}> <{long_id}>",
        )
    )
    assert parsed.message_id == "m" * 998
    assert parsed.in_reply_to == ("m" * 998,)
    assert parsed.references == (at_limit, "m" * 998)
    # Cut alike wherever an id is read, so that the cut ids still match each other.
    assert normalise_message_id(long_id) == split_message_ids(long_id)[0] == "m" * 998


def test_normalise_and_split_message_ids():
    assert normalise_message_id("<a@b>") == "a@b"
    assert normalise_message_id("  a@b \r\n") == "a@b"
    assert normalise_message_id("<a@b> <c@d>") == "a@b"
    assert normalise_message_id("") == ""
    assert split_message_ids("<a@b> <c@d>") == ("a@b", "c@d")
    assert split_message_ids("a@b, c@d\n e@f") == ("a@b", "c@d", "e@f")
    assert split_message_ids("<a@b") == ("a@b",)
    assert split_message_ids("<> <  >") == ()
    assert split_message_ids("") == ()


def test_addresses_without_at_are_kept_and_empty_ones_dropped():
    parsed = parse(wire("To: Undisclosed recipients:;", "Cc: postmaster, A <A@B.C>"))
    assert parsed.to == ()
    assert parsed.cc == (("", "postmaster"), ("A", "a@b.c"))
    assert parse(wire("From: <>")).from_addr == ""


# --- charsets ----------------------------------------------------------------------


def test_unknown_charset_label_body_still_readable():
    raw = wire('Content-Type: text/plain; charset="x-unknown"', body="Grüße aus Köln\r\n")
    parsed = parse(raw)
    assert parsed.text == "Grüße aus Köln\n"
    assert any("unknown charset 'x-unknown'" in d for d in parsed.defects)


def test_utf8_body_labelled_latin1_is_read_as_utf8():
    raw = wire("Content-Type: text/plain; charset=iso-8859-1", body="Grüße, naïve €\r\n")
    parsed = parse(raw)
    assert parsed.text == "Grüße, naïve €\n"
    assert any("labelled 'iso-8859-1' but is UTF-8" in d for d in parsed.defects)


def test_latin1_body_labelled_utf8_is_read_as_latin1():
    raw = wire("Content-Type: text/plain; charset=utf8", body="Grüße\r\n", encoding="latin-1")
    parsed = parse(raw)
    assert parsed.text == "Grüße\n"
    assert any("not valid 'utf8'" in d for d in parsed.defects)


def test_odd_charsets_decode_or_fall_back():
    assert decode_bytes("Grüße".encode("utf-16"), "utf-16") == "Grüße"
    assert decode_bytes("中文".encode("gbk"), "gb2312") == "中文"
    assert decode_bytes(b"caf\xe9", "base64") == "café"  # not a text codec
    assert decode_bytes(b"caf\xe9", "undefined") == "café"
    assert decode_bytes(b"\xff\xfe\x00\xd8", "utf-16") == "ÿþ\x00Ø"  # lone surrogate


# --- broken and hostile input ------------------------------------------------------


def test_no_headers_at_all():
    parsed = parse(b"just some text\nwithout any header\n")
    assert parsed.headers == ()
    assert parsed.text == "just some text\nwithout any header\n"
    assert parsed.content_type == "text/plain"
    assert "no headers" in parsed.defects


def test_empty_bytes():
    parsed = parse(b"")
    assert parsed == ParsedMessage(
        "", "", "", "", (), (), (), None, (), (), (), "", "", (), "text/plain", "", 0,
        ("message is empty",),
    )  # fmt: skip


def test_binary_garbage():
    garbage = bytes(range(256)) * 40 + b"\x00\xff" * 1000
    parsed = parse(garbage)
    assert parsed.size == len(garbage)
    assert "\x00" not in parsed.text
    assert parsed.text.encode("utf-8")


def test_broken_boundary_declared_but_never_used():
    raw = wire(
        "Subject: broken",
        'Content-Type: multipart/mixed; boundary="never-used"',
        body="The body is still here.\r\n--some-other-boundary\r\n",
    )
    parsed = parse(raw)
    assert "The body is still here." in parsed.text
    assert any("StartBoundaryNotFoundDefect" in d for d in parsed.defects)


def test_boundary_never_closed():
    raw = wire(
        'Content-Type: multipart/mixed; boundary="b1"',
        body="--b1\r\nContent-Type: text/plain\r\n\r\nFirst part.\r\n"
        "--b1\r\nContent-Type: text/plain\r\n\r\nCut off",
    )
    parsed = parse(raw)
    assert "First part." in parsed.text
    assert "Cut off" in parsed.text
    assert any("CloseBoundaryNotFoundDefect" in d for d in parsed.defects)


def nested_multipart(depth: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\nDeep leaf text.\r\n"
    for level in range(depth):
        boundary = f"b{level}".encode()
        body = (
            b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n--' + boundary
            + b"\r\n" + body + b"\r\n--" + boundary + b"--\r\n"
        )  # fmt: skip
    return b"From: deep@example.com\r\nSubject: deep\r\n" + body


def test_200_level_nested_multipart():
    parsed = parse(nested_multipart(200))
    assert parsed.text.strip() == "Deep leaf text."
    assert parsed.from_addr == "deep@example.com"


def test_nesting_too_deep_for_any_parser_keeps_headers_and_raw_body():
    parsed = parse(nested_multipart(1200))
    assert parsed.subject == "deep"
    assert parsed.from_addr == "deep@example.com"
    assert "Deep leaf text." in parsed.text
    assert any(d.startswith("mail-parser failed") for d in parsed.defects)
    assert any(d.startswith("stdlib parser failed") for d in parsed.defects)


def test_mailparser_failure_falls_back_to_stdlib(monkeypatch):
    def broken(raw):
        raise ValueError("boom")

    monkeypatch.setattr(parse_module.mailparser, "parse_from_bytes", broken)
    msg = simple_message()
    msg["Date"] = "Tue, 03 Mar 2026 10:00:00 -0000"
    msg.set_content("Still parsed.\n")
    parsed = parse(smtp_bytes(msg))
    assert parsed.text == "Still parsed.\n"
    assert parsed.date == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    assert parsed.defects[0].startswith("mail-parser failed (ValueError: boom)")


def test_every_parser_failing_keeps_the_bytes_as_text(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("nope")

    monkeypatch.setattr(parse_module.mailparser, "parse_from_bytes", broken)
    monkeypatch.setattr(parse_module.email, "message_from_bytes", broken)
    monkeypatch.setattr(parse_module.email.parser.BytesParser, "parsebytes", broken)
    parsed = parse(b"Subject: x\r\n\r\nbody \xff\r\n")
    assert parsed.text == "Subject: x\n\nbody \ufffd\n"
    assert parsed.subject == ""
    assert len(parsed.defects) == 3


def test_thousand_recipients():
    to = ", ".join(f'"User {i}" <User{i}@Example.com>' for i in range(1000))
    parsed = parse(wire("From: a@b.c", f"To: {to}"))
    assert len(parsed.to) == 1000
    assert parsed.to[999] == ("User 999", "user999@example.com")


def test_200_kb_header():
    parsed = parse(wire("Subject: " + "word " * 40_000, "X-Big: " + "x" * 200_000))
    assert len(parsed.subject) == 40_000 * 5 - 1
    assert len(parsed.header("x-big")) == 200_000
    assert parsed.text == "Hello.\n"
    # mail-parser's header decoding is quadratic, so huge header blocks skip it.
    assert parsed.defects[0] == "390 KB of headers; read with the stdlib parser"


def test_defects_are_capped():
    parsed = parse(wire(*(f"Subject{i}: =?utf-8?b?!{i}?=" for i in range(200))))
    assert len(parsed.defects) == parse_module.MAX_DEFECTS + 1
    assert parsed.defects[-1].startswith("... and ")


def test_typical_message_parses_in_about_a_millisecond():
    msg = simple_message(Message_ID="<perf@example.com>", Date="Tue, 03 Mar 2026 10:00:00 +0100")
    msg.set_content("Some text line.\n" * 150)
    msg.add_alternative("<p>Some html line.</p>\n" * 100, subtype="html")
    raw = smtp_bytes(msg)
    parse(raw)
    start = time.perf_counter()
    for _ in range(100):
        parse(raw)
    assert (time.perf_counter() - start) / 100 < 0.01  # generous: ~1 ms here


# --- properties --------------------------------------------------------------------


def assert_storable(parsed: ParsedMessage) -> None:
    """Every string can go into a database column: valid Unicode, no NUL."""
    strings = [
        parsed.message_id, parsed.subject, parsed.from_name, parsed.from_addr, parsed.text,
        parsed.html, parsed.content_type, parsed.report_type, *parsed.in_reply_to,
        *parsed.references, *parsed.defects,
        *(s for pair in (*parsed.to, *parsed.cc, *parsed.reply_to, *parsed.headers) for s in pair),
        *(s for a in parsed.attachments for s in (a.filename, a.content_type, a.content_id)),
    ]  # fmt: skip
    for value in strings:
        assert "\x00" not in value
        value.encode("utf-8")
    assert all(a.filename for a in parsed.attachments)
    # Column sizes.
    people = [(parsed.from_name, parsed.from_addr), *parsed.to, *parsed.cc, *parsed.reply_to]
    assert all(len(name) <= 200 and len(addr) <= 320 for name, addr in people)
    ids = [parsed.message_id, *parsed.in_reply_to, *parsed.references]
    assert all(len(i) <= 998 for i in ids)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise(raw):
    parsed = parse(raw)
    assert isinstance(parsed, ParsedMessage)
    assert parsed.size == len(raw)
    assert_storable(parsed)


MIME_TOKENS = [
    b"\r\n", b"\n", b"--", b"--b1", b"--b1--", b": ", b";", b"=?", b"?=", b"=?utf-8?b?", b"\xff",
    b"\xe9", b"\x00", b"Content-Type: multipart/mixed; boundary=b1\r\n",
    b"Content-Type: message/rfc822\r\n", b"Content-Transfer-Encoding: base64\r\n",
    b"charset=x-unknown", b"filename*=utf-8''%C3%A9", b"<", b">",
]  # fmt: skip
SEED_MESSAGE = (DATA / "dsn_bounce.eml").read_bytes()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(SEED_MESSAGE)), st.sampled_from(MIME_TOKENS)), max_size=20
    )
)
def test_mutated_real_message_never_raises(edits):
    raw = bytearray(SEED_MESSAGE)
    for position, token in edits:
        raw[position:position] = token
    parsed = parse(bytes(raw))
    assert isinstance(parsed, ParsedMessage)
    assert_storable(parsed)


# Alphabets per charset: everything generated is encodable, and (for the single-byte
# charsets) never happens to be valid UTF-8, which parse would read as a wrong label.
ALPHABETS = {
    "utf-8": "abc xyz.,!?\n019éüßñжя日本語€😀",
    "iso-8859-1": "abc xyz.,!?\n019éüßñ",
    "windows-1252": "abc xyz.,!?\n019ü€",
    "koi8-r": "abc xyz.,!?\n019жя",
    "shift_jis": "abc xyz.,!?\n019日本語",
    "iso-2022-jp": "abc xyz.,!?\n019日本語",
    "gb2312": "abc xyz.,!?\n019中文",
}
LABELS = [None] * 6 + ["x-unknown", "utf8", "latin-1", "bogus charset", ""]


@st.composite
def text_leaf(draw):
    charset = draw(st.sampled_from(sorted(ALPHABETS)))
    content = draw(st.text(alphabet=ALPHABETS[charset], min_size=1, max_size=200))
    subtype = draw(st.sampled_from(["plain", "plain", "html"]))
    cte = draw(st.sampled_from([None, "base64", "quoted-printable", "8bit"]))
    return ("text", subtype, content, charset, cte, draw(st.sampled_from(LABELS)))


file_leaf = st.tuples(
    st.just("file"),
    st.sampled_from(["application/pdf", "image/png", "application/x-weird", "text/csv"]),
    st.binary(max_size=300),
    st.one_of(st.none(), st.text(alphabet="abcé日 .-_", min_size=1, max_size=20)),
    st.sampled_from(["attachment", "inline"]),
)


def mime_tree():
    def containers(children):
        multi = st.tuples(
            st.just("multi"),
            st.sampled_from(["mixed", "alternative", "related", "x-unknown"]),
            st.lists(children, min_size=1, max_size=4),
        )
        return st.one_of(multi, multi, multi, st.tuples(st.just("message"), children))

    return st.recursive(st.one_of(text_leaf(), text_leaf(), file_leaf), containers, max_leaves=10)


def build(spec) -> EmailMessage:
    part = EmailMessage()
    kind = spec[0]
    if kind == "text":
        _, subtype, content, charset, cte, label = spec
        part.set_content(content, subtype=subtype, charset=charset, cte=cte)
        if label is not None:
            part.set_param("charset", label)
    elif kind == "file":
        _, ctype, payload, filename, disposition = spec
        maintype, subtype = ctype.split("/")
        part.set_content(
            payload, maintype=maintype, subtype=subtype, filename=filename, disposition=disposition
        )
    elif kind == "message":
        part.set_content(build(spec[1]))
    else:
        part["Content-Type"] = f"multipart/{spec[1]}"
        for child in spec[2]:
            part.attach(build(child))
    return part


def expected_parts(spec, found=None):
    """What parse must recover: text bodies outside attached messages, files, messages."""
    found = found if found is not None else {"plain": [], "html": [], "files": [], "eml": []}
    kind = spec[0]
    if kind == "text":
        _, subtype, content, _, _, label = spec
        if label is None and content.strip():
            found[subtype].append(" ".join(content.split()))
    elif kind == "file":
        found["files"].append(spec[2])
    elif kind == "message":
        found["eml"].append(spec[1])
    else:
        for child in spec[2]:
            expected_parts(child, found)
    return found


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mime_tree(), st.text(alphabet=ALPHABETS["utf-8"].replace("\n", ""), max_size=120))
def test_random_mime_trees_never_raise_and_keep_valid_text(spec, subject):
    msg = build(spec)
    msg["Subject"] = subject
    msg["From"] = "Sender <Sender@Example.com>"
    parsed = parse(smtp_bytes(msg))

    assert isinstance(parsed, ParsedMessage)
    assert_storable(parsed)
    # Compared without whitespace: the stdlib's folder sometimes drops a space between
    # two encoded words it writes (every decoder, RFC 2047 §6.2 included, drops it too).
    assert "".join(parsed.subject.split()) == "".join(subject.split())
    assert parsed.from_addr == "sender@example.com"
    expected = expected_parts(spec)
    text, html = " ".join(parsed.text.split()), " ".join(parsed.html.split())
    for content in expected["plain"]:
        assert content in text
    for content in expected["html"]:
        assert content in html
    payloads = [a.payload for a in parsed.attachments]
    for payload in expected["files"]:
        assert payload in payloads
    attached = [a for a in parsed.attachments if a.content_type == "message/rfc822"]
    assert len(attached) == len(expected["eml"])
    for inner, attachment in zip(expected["eml"], attached, strict=True):
        inner_text = " ".join(parse(attachment.payload).text.split())
        assert all(content in inner_text for content in expected_parts(inner)["plain"])
    assert all(a.filename for a in parsed.attachments)
