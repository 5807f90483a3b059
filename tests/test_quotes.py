"""Quote and signature stripping, style by style, and the guarantees that keep it safe:
never an empty result from a reply with words of its own, never an answer lost from
between quotes, never a line cut for merely saying "wrote"."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maild.notices import MARKER
from maild.parse import parse
from maild.quotes import Trimmed, strip_reply, trim_reply
from maild.quotes_html import read_html
from maild.sanitize import sanitize_html
from tests.test_quotes_corpus import unbalanced

HISTORY = "> Hello Ada,\n>\n> Please unplug the printer.\n>\n> Grace\n"


def own(text: str) -> str:
    return trim_reply(text).text


# -- the API ------------------------------------------------------------------------------


def test_trimmed_is_a_frozen_value():
    result = trim_reply("Thanks\n\nOn Mon, 30 Nov 2026, Grace wrote:\n" + HISTORY, "")
    assert result == Trimmed("Thanks\n", "", True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.text = "x"  # type: ignore[misc]


def test_nothing_to_cut_leaves_both_parts_untouched():
    text, html = "Just a question.\n\nAda\n", "<p>Just a question.</p><p>Ada</p>"
    assert trim_reply(text, html) == Trimmed(text, html, False)


def test_strip_reply_keeps_working_for_the_marker():
    text = f"It is out now.\n\nOn Sat, 28 Nov 2026, Support wrote:\n> {MARKER}\n>\n> Hi\n"
    assert strip_reply(text) == "It is out now.\n"


def test_strip_reply_now_knows_client_styles_too():
    assert strip_reply("Fine.\n\n-----Original Message-----\nFrom: x\n\nold\n") == "Fine.\n"


def test_empty_input_gives_empty_output():
    assert trim_reply("", "") == Trimmed("", "", False)


# -- our marker ---------------------------------------------------------------------------


def test_unquoted_marker_cuts_with_the_attribution_above_it():
    attribution = "On Mon, Nov 30, 2026 at 10:15 AM Support <s@example.com>\nwrote:"
    text = f"Done.\n\n{attribution}\n\n{MARKER}\n\nHello\n"
    assert own(text) == "Done.\n"


def test_marker_in_the_middle_of_a_line_still_cuts():
    text = f"OK.\n\n  On Mon, 30 Nov 2026 at 10:15, Support<s@example.com> wrote:   {MARKER}   Hi\n"
    assert own(text) == "OK.\n"


def test_marker_at_the_top_of_a_bottom_post_does_not_eat_the_answer():
    text = f"On 30/11/2026 10:15, Support wrote:\n> {MARKER}\n>\n> Did it arrive?\n\nYes, today.\n"
    assert own(text) == text


# -- attributions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attribution",
    [
        "On Mon, Nov 30, 2026 at 10:15 AM Grace Hopper <grace@example.com> wrote:",
        "On Mon, Nov 30, 2026 at 10:15 AM Grace Hopper <grace@example.com>\nwrote:",
        "On 30/11/2026 10:15, Example Support wrote:",
        "On Monday, November 30, 2026 at 10:15:42 AM GMT+1, Grace <grace@example.com> wrote:",
        "Am Mo., 30. Nov. 2026 um 10:15 Uhr schrieb Grace Hopper <\ngrace@example.com>:",
        "Am 30.11.26 um 10:15 schrieb Example Support:",
        "Example Support schrieb am 30.11.2026 um 10:15:",
        "Le lun. 30 nov. 2026 à 10:15, Grace Hopper <grace@example.com> a\nécrit :",
        "Le 30 nov. 2026 à 10:15, Grace <grace@example.com> a écrit\u00a0:",
        "El lun, 30 nov 2026 a las 10:15, Grace Hopper (<grace@example.com>)\nescribió:",
        "Grace Hopper <grace@example.com> wrote:",
    ],
)
def test_attribution_and_quote_below_the_reply_go(attribution):
    assert own(f"Thanks!\n\n{attribution}\n\n{HISTORY}") == "Thanks!\n"


@pytest.mark.parametrize(
    "prose",
    [
        'On Friday your colleague wrote: "restart the spooler". I did.',
        "My manager then wrote:\nwe should buy a new printer.",
        "On Monday my colleague wrote:\nthat it was fixed, but it is not.",
        "As your colleague wrote:\nit should work, but it does not.",
    ],
)
def test_a_line_that_only_mentions_wrote_is_kept(prose):
    text = f"Hello,\n\n{prose}\n\nAda\n"
    assert own(text) == text


def test_prose_with_wrote_above_a_trailing_quote_keeps_the_prose():
    text = f"It still fails. As your colleague wrote:\n\n{HISTORY}"
    assert own(text) == "It still fails. As your colleague wrote:\n"


def test_trailing_quote_without_attribution_goes():
    assert own(f"Fine by me.\n\nAda\n\n{HISTORY}") == "Fine by me.\n\nAda\n"


# -- Outlook and friends ------------------------------------------------------------------


@pytest.mark.parametrize(
    "block",
    [
        "From: Support <s@example.com>\nSent: Monday, November 30, 2026 10:15 AM\n"
        "To: Bob\nSubject: Printer",
        "Von: Support <s@example.com>\nGesendet: Montag, 30. November 2026 10:15\n"
        "An: Bob\nBetreff: Drucker",
        "De\u00a0: Support <s@example.com>\nEnvoyé\u00a0: lundi 30 novembre 2026 10:15\n"
        "À\u00a0: Bob\nObjet\u00a0: Imprimante",
        "De: Support <s@example.com>\nEnviado el: lunes, 30 de noviembre de 2026 10:15\n"
        "Para: Bob\nAsunto: Impresora",
        "De: Support <s@example.com>\nEnviado: lunes, 30 de noviembre de 2026 10:15\n"
        "Para: Bob\nCC: Ana\nAsunto: Impresora",
        "From: Support <s@example.com>\nDate: Monday, 30 November 2026 at 10:15\n"
        "To: Bob\nSubject: Printer",
        "Gesendet: Montag, 30. November 2026 um 10:15 Uhr\nVon: Support\n"
        "An: petra@example.com\nBetreff: Drucker",
        "From: Support\nSent: Monday\nTo: a@example.com; b@example.com;\n"
        "c@example.com\nSubject: Printer",
        "________________________________\nFrom: Support\nSent: Monday\nTo: Bob\nSubject: Printer",
    ],
)
def test_outlook_header_blocks_start_history_in_every_language(block):
    assert own(f"Works now.\n\nBob\n\n{block}\n\nHello Bob,\nold text\n") == "Works now.\n\nBob\n"


@pytest.mark.parametrize(
    "separator",
    [
        "-----Original Message-----",
        "-----Ursprüngliche Nachricht-----",
        "-----Message d'origine-----",
        "-----Mensaje original-----",
        "-------- Original message --------",
    ],
)
def test_original_message_lines_start_history(separator):
    assert own(f"Thanks.\n\n{separator}\nsomething old\n") == "Thanks.\n"


def test_a_header_block_needs_sender_date_and_subject():
    text = "Please send the parts to:\nFrom: Monday on\nTo: our warehouse\n\nThanks\n"
    assert own(text) == text


# -- signatures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        "Sent from my iPhone",
        "Sent from my iPad",
        "Sent from my Galaxy",
        "Von meinem iPhone gesendet",
        "Von meinem Samsung Galaxy Smartphone gesendet.",
        "Envoyé de mon iPhone",
        "Enviado desde mi iPhone",
        "Sent from Outlook for Android<https://aka.ms/AAb9ysg>",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Obtener Outlook para Android<https://aka.ms/AAb9ysg>",
        "Sent from Mail<https://go.microsoft.com/fwlink/?LinkId=550986> for Windows",
        "Sent from Yahoo Mail on Android",
        "Sent with Proton Mail secure email.",
    ],
)
def test_mobile_signatures_go_with_the_history_below_them(signature):
    text = f"See you Tuesday.\n\n{signature}\n\nOn Mon, 30 Nov 2026, Grace wrote:\n\n{HISTORY}"
    assert own(text) == "See you Tuesday.\n"


def test_a_mobile_signature_at_the_very_end_goes_too():
    assert own("On my way.\n\nSent from my iPhone\n") == "On my way.\n"


def test_a_mobile_signature_with_words_after_it_stays():
    text = "Sent from my iPhone, so excuse the typos.\nThe printer is fixed.\n"
    assert own(text) == text


def test_dash_dash_space_starts_the_signature():
    assert own("Done.\n\n-- \nAda Lovelace\nInitech\n") == "Done.\n"


def test_dash_dash_without_the_space_is_not_a_separator():
    text = "Done.\n\n--\nAda\n"
    assert own(text) == text


def test_a_long_block_after_dash_dash_space_is_text_not_a_signature():
    body = "\n".join(f"step {n}: do something" for n in range(20))
    text = f"Here is what I did:\n-- \n{body}\n"
    assert own(text) == text


# -- conservative guarantees --------------------------------------------------------------


def test_a_reply_that_is_only_a_quote_is_kept_whole():
    text = f"\n\nOn Mon, 30 Nov 2026, Grace wrote:\n\n{HISTORY}"
    assert trim_reply(text, "") == Trimmed(text, "", False)


def test_only_a_marker_and_history_is_kept_whole():
    text = f"{MARKER}\n\nHello\n"
    assert own(text) == text


def test_a_signature_alone_is_not_cut_to_nothing():
    assert own("-- \nAda\n") == "-- \nAda\n"


def test_interleaved_answers_are_kept_and_only_the_trailing_quote_goes():
    text = (
        "On Mon, 30 Nov 2026, Grace wrote:\n> Which model?\n\nHP 4250.\n\n"
        "> Any error code?\n\n50.1.\n\n> Thanks,\n> Grace\n"
    )
    assert own(text) == (
        "On Mon, 30 Nov 2026, Grace wrote:\n> Which model?\n\nHP 4250.\n\n"
        "> Any error code?\n\n50.1.\n"
    )


def test_a_quote_in_the_middle_of_own_text_is_kept():
    text = "You wrote:\n\n> unplug it\n\nI did, it did not help.\n"
    assert own(text) == text


@pytest.mark.parametrize(
    "forward",
    [
        "---------- Forwarded message ---------\nFrom: Vendor\nDate: Mon\nSubject: Parts\nTo: Ada",
        "Begin forwarded message:\n\nFrom: Vendor\nSubject: Parts",
        "-------- Weitergeleitete Nachricht --------",
        "________________________________\nFrom: Vendor\nSent: Monday\nTo: Ada\nSubject: FW: Parts",
    ],
)
def test_a_forwarded_message_is_content_not_history(forward):
    text = f"See what the vendor says:\n\n{forward}\n\nThe part ships in 2 days.\n"
    assert own(text) == text


# -- HTML ---------------------------------------------------------------------------------

GMAIL = (
    '<div dir="ltr">Thanks!</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
    "On Mon, 30 Nov 2026 at 10:15, Grace &lt;g@example.com&gt; wrote:<br></div>"
    '<blockquote class="gmail_quote" style="margin:0 0 0 .8ex">OLD TEXT</blockquote></div>'
)


def html_of(html: str) -> str:
    return trim_reply("", html).html


def test_gmail_quote_goes_with_its_container():
    assert html_of(GMAIL) == '<div dir="ltr">Thanks!</div>'


def test_gmail_signature_goes():
    html = (
        '<div dir="ltr">Thanks!<br clear="all"><div><br></div><span class="gmail_signature_prefix">'
        '-- </span><br><div dir="ltr" class="gmail_signature">Ada<div>Initech</div></div></div>'
    )
    assert html_of(html) == '<div dir="ltr">Thanks!</div>'


@pytest.mark.parametrize("colour", ["E1E1E1", "B5C4DF"])
def test_outlook_divider_and_everything_after_it_go(colour):
    html = (
        "<html><body><div class=WordSection1><p class=MsoNormal>Works.<o:p></o:p></p>"
        "<p class=MsoNormal><o:p>&nbsp;</o:p></p><div><div style='border:none;"
        f"border-top:solid #{colour} 1.0pt;padding:3.0pt 0cm 0cm 0cm'><p class=MsoNormal>"
        "<b>From:</b> Support<br><b>Sent:</b> Monday<br><b>To:</b> Bob<br><b>Subject:</b> x</p>"
        "</div></div><p class=MsoNormal>OLD TEXT</p></div></body></html>"
    )
    assert html_of(html) == (
        "<html><body><div class=WordSection1><p class=MsoNormal>Works.<o:p></o:p></p>"
        "</div></body></html>"
    )


def test_outlook_web_reply_header_goes_with_the_rule_above_it():
    html = (
        '<html><body><div>Perfect.</div>\n<div id="appendonsend"></div>\n'
        '<hr style="display:inline-block;width:98%" tabindex="-1">\n'
        '<div id="divRplyFwdMsg" dir="ltr">'
        "<b>From:</b> Support<br><b>Sent:</b> Monday</div><div>OLD TEXT</div></body></html>"
    )
    assert html_of(html) == "<html><body><div>Perfect.</div>\n</body></html>"


def test_apple_and_thunderbird_cite_blockquotes_go():
    apple = (
        '<html><body>Thanks.<div><br></div><div>Ada<br><div><br><blockquote type="cite">'
        "<div>On 30 Nov 2026, at 10:15, Grace wrote:</div><div>OLD TEXT</div></blockquote></div>"
        "</div></body></html>"
    )
    assert html_of(apple) == "<html><body>Thanks.<div><br></div><div>Ada</div></body></html>"
    thunderbird = (
        '<html><body><p>Thanks.</p><div class="moz-cite-prefix">On 30/11/2026 10:15, Grace\n'
        'wrote:<br></div><blockquote type="cite">OLD TEXT</blockquote></body></html>'
    )
    assert html_of(thunderbird) == "<html><body><p>Thanks.</p></body></html>"


def test_yahoo_quoted_goes():
    html = (
        '<div class="yahoo-style-wrap"><div>OK.</div></div><div id="yahoo_quoted_1" '
        'class="yahoo_quoted"><div>On Monday, Grace wrote:</div><div>OLD TEXT</div></div>'
    )
    assert html_of(html) == '<div class="yahoo-style-wrap"><div>OK.</div></div>'


def test_html_interleaved_answers_are_kept():
    html = (
        '<div class="gmail_quote"><div class="gmail_attr">On Mon, 30 Nov 2026, Grace wrote:</div>'
        '<blockquote type="cite">Which model?</blockquote><div>HP 4250.</div>'
        '<blockquote type="cite">OLD TEXT</blockquote></div>'
    )
    assert html_of(html) == (
        '<div class="gmail_quote"><div class="gmail_attr">On Mon, 30 Nov 2026, Grace wrote:</div>'
        '<blockquote type="cite">Which model?</blockquote><div>HP 4250.</div></div>'
    )


def test_html_only_quote_is_kept_whole():
    html = GMAIL.replace("Thanks!", "")
    assert html_of(html) == html


def test_style_script_and_comments_are_not_text():
    head = "<html><head><style>p{}</style><title>Re: x</title></head>"
    body = "<body><!-- Thanks --><script>var a = '<div>';</script><p>Thanks.</p>"
    html = head + body + GMAIL[GMAIL.index("<br>") :] + "</body></html>"
    assert html_of(html) == head + body + "</body></html>"


def test_an_unclosed_paragraph_is_closed_like_a_browser_would():
    html = '<body><p>Thanks.<p>More.<div class="gmail_quote"><blockquote type=cite>OLD</blockquote>'
    assert html_of(html) == "<body><p>Thanks.<p>More.</body>"


def test_a_reply_without_a_text_part_is_cut_in_the_text_rendered_from_its_html():
    raw = (
        b"From: ada@customer.test\nTo: support@example.com\nSubject: Re: x\nMIME-Version: 1.0\n"
        b"Content-Type: text/html; charset=utf-8\n\n" + GMAIL.encode()
    )
    msg = parse(raw)
    assert "OLD TEXT" in msg.text
    assert trim_reply(msg.text, msg.html) == Trimmed(
        "Thanks!\n", '<div dir="ltr">Thanks!</div>', True
    )


def test_trimmed_html_sanitises_to_the_reply():
    assert sanitize_html(html_of(GMAIL)) == "<div>Thanks!</div>"


# -- properties ---------------------------------------------------------------------------


def test_cutting_never_unbalances_well_formed_html():
    unclosed = "<html><body><div><p>A</p><div class='gmail_quote'><blockquote type=cite>B"
    for html in (GMAIL, unclosed):
        assert unbalanced(html_of(html)) <= unbalanced(html)


lines = st.sampled_from(
    [
        "",
        "Thanks!",
        "> quoted",
        ">",
        MARKER,
        "On Mon, 30 Nov 2026, Grace wrote:",
        "-- ",
        "Sent from my iPhone",
        "From: a",
        "Sent: b",
        "Subject: c",
        "-----Original Message-----",
        "\ufeff",
        "wrote:",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(lines, max_size=14))
def test_text_cut_is_a_prefix_and_never_empties_a_reply_with_words(rows):
    text = "\n".join(rows)
    result = own(text)
    assert result == text or text.startswith(result.rstrip("\n"))
    if any(row.strip("\ufeff ") for row in rows):
        assert result.strip("\ufeff \n")


tags = st.sampled_from(
    [
        "<div>", "</div>", "<p>", "</p>", "<br>", '<blockquote type="cite">', "</blockquote>",
        '<div class="gmail_quote">', '<div class="gmail_attr">', '<div id="divRplyFwdMsg">',
        "<span>", "</span>", "Thanks", "OLD", "&nbsp;", "<!-- x -->", "<style>p{}</style>",
        "On Mon, 30 Nov 2026, Grace wrote:", "<", ">", "&", "<b", '"',
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(tags, max_size=24))
def test_html_cut_keeps_a_prefix_and_never_raises(parts):
    html = "".join(parts)
    result = html_of(html)
    if result != html:
        kept = result
        while kept and not html.startswith(kept):
            kept = kept[: kept.rindex("</")]
        assert html.startswith(kept)
        assert read_html(kept)  # something visible is left
