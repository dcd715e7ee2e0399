"""The new text of a reply: the body as plain text, without the quoted message and signature.

A chain of small pure functions with input caps (STYLE.md example 10): `body_text` picks the
text part (or turns HTML into text), `new_text` cuts quoted lines, forwarded blocks and the
"On ... wrote:" header (mail-parser-reply knows those in many languages), then the signature.
Only what is left may count as a request: a quoted newsletter footer saying "unsubscribe"
must never unsubscribe anyone.
"""

from __future__ import annotations

import html
import re
from email.message import Message

from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES

from newsletter.inbound.mime import decoded_text, parts

MAX_LINES = 1000  # a request is at the top of a reply; the rest is history
# Lines that start the quoted original even where mail-parser-reply has no pattern for the
# client or language (Outlook separators, Portuguese "Em ... escreveu:", forwarded blocks).
QUOTE_START = re.compile(
    r"^\s*(?:>|\||-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|"
    r"mensaje original|messaggio originale|oorspronkelijk bericht|mensagem original|"
    r"wiadomość oryginalna|originalmeddelande|forwarded message|weitergeleitete nachricht)"
    # Apple Mail's forward header in its languages.
    r"|begin forwarded message:|anfang der weitergeleiteten nachricht:|"
    r"début du message réexpédié\s?:|inicio del mensaje reenviado:|begin doorgestuurd bericht:"
    r"|_{10,}|\*?from:\*?\s.*@|\*?von:\*?\s|\*?de\s?:\*?\s.*@|\*?van:\*?\s|\*?från:\*?\s|"
    r"\*?od:\*?\s|\*?da:\*?\s.*@|\*?差出人\s?:|em .{4,80} escreveu:|"
    r"\*?(?:sent|gesendet|envoyé|enviado|inviato|verzonden|wysłano|skickat|送信日時)\s?:\*?\s|"
    r"on .{4,120} wrote:|am .{4,120} schrieb|le .{4,120} a écrit|el .{4,120} escribió|"
    r"il .{4,120} ha scritto|op .{4,120} schreef|den .{4,120} skrev|w dniu .{4,120} napisał|"
    # Outlook's header block in the other languages we read: its first line names the sender
    # (short words that also start sentences need an address after them).
    r"\*?(?:kimden|feladó|lähettäjä|saatja|nuo|šalje|odesílatel|от кого|відправник|发件人|"
    r"寄件者|보낸 사람|מאת|प्रेषक)\s?[:：]|"
    r"\*?(?:от|від|από|fra|no|dari|từ|من|de la|frá)\s?:\*?\s.*@|"
    r"\*?(?:отправлено|надіслано|gönderildi|elküldve|στάλθηκε|lähetetty|odesláno|odoslané|"
    r"poslano|发送时间|傳送時間|보낸 날짜)\s?[:：])",
    re.IGNORECASE,
)
# A client's separator above an original or forwarded message, in any language:
# "-----Исходное сообщение-----", "---------- 转发的邮件 ---------".
SEPARATOR = re.compile(r"^\s*-{5,}\s*[^-\s][^-]{0,60}?\s*-{5,}\s*$")
# A client's attribution line in any language: it names the quoted message's sender by address
# and ends with a colon ("2024年1月1日(月) 10:00 News <news@x.org>:", "... <n@x> şunu yazdı:").
ATTRIBUTION = re.compile(r"^.{0,160}<[^<>\s@]+@[^<>\s]+>.{0,60}[:：]\s*$")
SIGNATURE_START = re.compile(r"^(?:-- ?|--|sent from my \w+|von meinem \w+ gesendet|"
                             r"envoyé de mon \w+|enviado desde mi \w+|inviato da(l)? \w+)\s*$",
                             re.IGNORECASE)
_REPLY_PARSER = EmailReplyParser(languages=[code for code in MAIL_LANGUAGES if code != "david"])


def html_to_text(markup: str) -> str:
    """Visible text of an HTML body: blockquotes (the quoted original) become '>' lines.

    >>> html_to_text("<p>Stop</p><blockquote>To unsubscribe click</blockquote>")
    'Stop\\n> To unsubscribe click'
    """
    markup = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", " ", markup)
    markup = re.sub(r"(?is)<div[^>]*(gmail_quote|moz-cite-prefix|divRplyFwdMsg|"
                    r"yahoo_quoted|OutlookMessageHeader)[^>]*>.*", "\n> ", markup)

    def quote(match: re.Match) -> str:
        inner = re.sub(r"(?s)<[^>]+>", "\n", match.group(1))
        return "\n" + "\n".join("> " + line for line in inner.splitlines() if line.strip()) + "\n"

    markup = re.sub(r"(?is)<blockquote\b[^>]*>(.*?)</blockquote\s*>", quote, markup)
    markup = re.sub(r"(?i)<br\s*/?>|</(p|div|li|tr|h\d)\s*>", "\n", markup)
    text = html.unescape(re.sub(r"(?s)<[^>]+>", "", markup))
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def body_text(message: Message) -> str:
    """The first text/plain part that is not an attachment, else the first text/html one."""
    plain = rich = None
    for part, kind in parts(message):
        if kind not in ("text/plain", "text/html"):
            continue
        if str(part.get("Content-Disposition", "")).lower().startswith("attachment"):
            continue
        if kind == "text/plain" and plain is None:
            plain = part
        elif kind == "text/html" and rich is None:
            rich = part
        if plain is not None:
            break
    if plain is not None:
        return decoded_text(plain)
    if rich is not None:
        return html_to_text(decoded_text(rich))
    # A multipart without a usable boundary (a MIME defect) keeps its text as one payload.
    for part, kind in parts(message):
        if kind.startswith(("text/", "multipart/")) and isinstance(part.get_payload(), str):
            return decoded_text(part)
    return ""


def cap_lines(text: str, limit: int = MAX_LINES) -> str:
    """The first `limit` lines, with one newline style."""
    return "\n".join(text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:limit])


def cut_quoted(text: str) -> str:
    """Everything above the first quoted line or quote header.

    >>> cut_quoted("Remove me\\n\\nOn Mon, 1 Jan 2024, News <n@x> wrote:\\n> unsubscribe")
    'Remove me'
    """
    kept = []
    for line in text.split("\n"):
        if QUOTE_START.match(line) or ATTRIBUTION.match(line) or SEPARATOR.match(line):
            break
        kept.append(line)
    return "\n".join(kept).strip()


def cut_signature(text: str) -> str:
    """Everything above a signature separator or a "Sent from my phone" line."""
    kept = []
    for line in text.split("\n"):
        if SIGNATURE_START.match(line.strip()):
            break
        kept.append(line)
    return "\n".join(kept).strip()


def below_quote(text: str) -> str:
    """Bottom-posting: what was written under the '>'-quoted original, after a blank line.

    A line right under the quote with no blank line between is the tail of a wrapped quoted
    line (a footer, perhaps), not new text.

    >>> below_quote("On Mon, News wrote:\\n> To unsubscribe click\\n\\nPlease remove me.")
    'Please remove me.'
    >>> below_quote("> If you no longer want mail, please\\nunsubscribe here.")
    ''
    """
    lines = text.split("\n")
    quoted = [i for i, line in enumerate(lines) if line.lstrip().startswith(">")]
    if not quoted:
        return ""
    below = lines[quoted[-1] + 1:]
    if not below or below[0].strip():
        return ""
    kept = []
    for line in below:
        if QUOTE_START.match(line):
            break
        kept.append(line)
    return "\n".join(kept).strip()


def new_text(body: str) -> str:
    """The new text of a reply body (possibly empty): above the quote, else below it."""
    text = cap_lines(body)
    top = cut_quoted(text)
    try:
        reply = _REPLY_PARSER.parse_reply(top)
    except Exception:  # noqa: BLE001 - a third-party regex failing must not lose the message
        reply = None
    if reply is not None and reply.strip():
        top = reply
    top = cut_signature(top)
    if top.strip():
        return top
    return cut_signature(below_quote(text))
