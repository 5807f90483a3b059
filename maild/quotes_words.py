"""The words mail clients put around quoted history, in English, German, French and Spanish
(and the Italian and Dutch ones that cost nothing): attributions, Outlook header labels,
"Original Message" lines, forward headers and mobile signatures."""

from __future__ import annotations

import re

__all__ = [
    "ATTRIBUTION_GENERIC",
    "ATTRIBUTION_LEADING",
    "FORWARD",
    "FORWARD_SUBJECT",
    "MOBILE_SIGNATURE",
    "ROLES",
    "SEPARATOR",
    "WROTE",
    "header_label",
]

WROTE = r"(?:wrote|schrieb|a\s+écrit|escribió|ha\s+scritto|schreef)"

# "On Mon, Nov 30, 2026 at 10:15 AM X <x@y> wrote:", "Am 30.11.26 um 10:15 schrieb X:",
# "Am Mo., 30. Nov. 2026 um 10:15 Uhr schrieb X <x@y>:", "Le lun. 30 nov. 2026 à 10:15, X a
# écrit :", "El lun, 30 nov 2026 a las 10:15, X (<x@y>) escribió:". Real attributions carry
# a date or a time, so a digit is required: "On Monday my colleague wrote:" is prose.
ATTRIBUTION_LEADING = re.compile(
    rf"^(?:On|Am|Le|El|Il|Op)\s(?=[^:]*\d).{{0,300}}?\s{WROTE}(?:\s.{{0,200}})?\s*:$",
    re.I,
)

# "Grace Hopper <grace@example.com> wrote:", "Example Support schrieb am 30.11.2026 um 10:15:"
# — a name (capitalised words or an address), never a sentence: "As your colleague wrote:"
# stays.
_NAME = r"(?:\"[^\"]{1,80}\"|[A-ZÀ-Þ][\w.'\u2019-]*(?:\s[A-ZÀ-Þ][\w.'\u2019-]*){0,4})"
ATTRIBUTION_GENERIC = re.compile(
    rf"^(?:{_NAME}\s*)?(?:<?[\w.+'-]+@[\w.-]+>?\s*)?(?<=\S)\s{WROTE}"
    rf"(?:\s(?:am|on|le|el|il|op)\s.{{1,80}})?\s*:$"
)

# Outlook (desktop, web, mobile), Windows Mail, Samsung Email, GMX/web.de header labels.
ROLES = {
    **dict.fromkeys(("from", "von", "de", "da", "van"), "from"),
    **dict.fromkeys(("sent", "date", "gesendet", "datum", "envoyé", "enviado"), "sent"),
    **dict.fromkeys(("enviado el", "fecha", "inviato", "data", "verzonden"), "sent"),
    **dict.fromkeys(("to", "an", "à", "a", "para", "aan"), "to"),
    **dict.fromkeys(("cc", "kopie", "copie", "cco", "bcc"), "cc"),
    **dict.fromkeys(("subject", "betreff", "objet", "asunto", "oggetto", "onderwerp"), "subject"),
    **dict.fromkeys(("reply-to", "antwort an", "répondre à", "responder a"), "reply-to"),
}
# A label is looked up, not matched against an alternation of every label: far cheaper on
# the many lines that are no header at all.
_LABEL = re.compile(r"^[ \t\xa0]*\*?([^\W\d_][\w \xa0-]{0,13}?)\*?[ \t\xa0]*:\*?[ \t\xa0]*(.*)$")
FORWARD_SUBJECT = re.compile(r"^\s*(?:FW|FWD|WG|TR|RV|I|Doorst)\s*:", re.I)


def header_label(text: str) -> tuple[str, str] | None:
    """(role, value) for a header line such as "Gesendet: Montag, …"; role is one of from,
    sent, to, cc, subject and reply-to."""
    match = _LABEL.match(text)
    if match is None:
        return None
    role = ROLES.get(match.group(1).lower().replace("\xa0", " "))
    return (role, match.group(2)) if role else None


SEPARATOR = re.compile(
    r"^-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Originalnachricht"
    r"|Message d['\u2019]origine|Mensaje original|Messaggio originale|Oorspronkelijk bericht)"
    r"\s*-{2,}$",
    re.I,
)

FORWARD = re.compile(
    r"^(?:-{2,}\s*(?:Forwarded message|Weitergeleitete Nachricht|Message transféré"
    r"|Mensaje reenviado|Messaggio inoltrato|Doorgestuurd bericht)\s*-{2,}"
    r"|Begin forwarded message\s*:|Anfang der weitergeleiteten Nachricht\s*:"
    r"|Début du message réexpédié\s*:|Inicio del mensaje reenviado\s*:)$",
    re.I,
)

# A whole line (links such as "<https://aka.ms/o0ukef>" already taken out).
_DEVICE = r"\S.{0,40}"
MOBILE_SIGNATURE = re.compile(
    r"^(?:"
    rf"Sent from my {_DEVICE}"
    r"|Sent (?:from|with) (?:Mail|Outlook|Yahoo Mail|Gmail|AOL|Proton Mail|ProtonMail)"
    r"(?: (?:for|on) \S+(?: \S+)?| secure email)?"
    r"|Get Outlook for (?:iOS|Android)"
    rf"|Von meine[mr] {_DEVICE} gesendet"
    rf"|Gesendet von meine[mr] {_DEVICE}"
    r"|Gesendet (?:von|mit) (?:Mail|Outlook|Yahoo Mail)(?: für \S+)?"
    r"|Outlook für (?:iOS|Android) (?:beziehen|herunterladen)"
    rf"|Envoyé (?:de|depuis) mon {_DEVICE}"
    r"|Envoyé (?:de|depuis|à partir de|à partir d['\u2019]) ?(?:Mail|Outlook|Yahoo Mail)"
    r"(?: pour \S+)?"
    r"|Obtenir Outlook pour (?:iOS|Android)"
    rf"|Enviado desde mi {_DEVICE}"
    r"|Enviado desde (?:Correo|Mail|Outlook|Yahoo Mail)(?: para \S+)?"
    r"|Obtener Outlook para (?:iOS|Android)"
    r")\.?$",
    re.I,
)
