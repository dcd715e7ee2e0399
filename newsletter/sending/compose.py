"""Campaign content -> personalised messages, with the per-campaign work done once.

`compile_campaign()` does everything that is the same for every recipient: protect the Jinja tags,
turn Markdown into HTML, sanitise the marketer's HTML (nh3), wrap it in the list's layout, inline
the CSS (css-inline), derive the text part, compile both in a sandboxed Jinja environment and
pre-encode the header lines that never change. `CompiledCampaign.render()` then only fills in the
per-recipient parts (names, links, tokens, Message-ID) and glues bytes together with CRLF line
ends (what `email.policy.SMTP` would produce), so a 20 KB newsletter costs microseconds, not a
fresh `EmailMessage` per recipient.
"""

from __future__ import annotations

import binascii
import re
import secrets
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import unescape
from pathlib import Path

import css_inline
import markdown as markdown_lib
import nh3
from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SecurityError
from markupsafe import Markup

from newsletter import links
from newsletter.i18n import mail_language
from newsletter.sending import clicks, footer, headers, sandbox
from newsletter.sending.htmltext import html_to_text
from newsletter.sending.transport import new_message_id

# The built-in layout is the "Simple" starter of the layout library (sending/layouts.py).
DEFAULT_LAYOUT = Path(__file__).resolve().parents[2] / "templates" / "email" / "layouts" / "simple.html"
# The names a campaign template may use; anything else is refused at save time.
VARIABLES = frozenset({"subscriber", "unsubscribe_url", "preferences_url", "archive_url",
                       "privacy_request_url", "campaign", "list", "policy_notice", "footer"})
TRIAL_PRIVACY_URL = "https://example.org/privacy/request"
# Below the text part's content: the reader's words (sending/footer.py), our links.
TEXT_FOOTER = ("\n\n-- \n{{ footer.unsubscribe }}: {{ unsubscribe_url }}\n"
               "{{ footer.preferences }}: {{ preferences_url }}\n"
               "{{ footer.your_data_long }}: {{ privacy_request_url }}\n"
               "{% if footer.address %}{{ footer.address }}\n{% endif %}")
JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
CONTENT_MARK = re.compile(r"\{\{-?\s*content\s*-?\}\}")
# Tags and attributes a marketer may paste; scripts, forms and event handlers are dropped.
ALLOWED_TAGS = nh3.ALLOWED_TAGS | {"table", "thead", "tbody", "tr", "td", "th", "center", "font",
                                   "span", "div", "img", "hr", "br", "u", "s"}
ALLOWED_ATTRIBUTES = {
    "*": {"style", "class", "align", "title", "dir", "lang"},
    "a": {"href", "name", "target"},
    "img": {"src", "alt", "width", "height"},
    "table": {"width", "cellpadding", "cellspacing", "border", "bgcolor"},
    "td": {"width", "colspan", "rowspan", "valign", "bgcolor"},
    "th": {"width", "colspan", "rowspan", "valign", "bgcolor"},
    "font": {"color", "face", "size"},
}
URL_SCHEMES = {"http", "https", "mailto"}
URL_ATTRIBUTES = frozenset({"href", "src"})
URL_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
# A tag as html5ever (nh3, css-inline) writes it: every attribute value in double quotes.
TAG = re.compile(r"""<[a-zA-Z][^"'>]*(?:"[^"]*"[^"'>]*|'[^']*'[^"'>]*)*>""")
ATTRIBUTE_VALUE = re.compile(r"([^\s\"'=<>/]+)\s*=\s*\"([^\"]*)\"")
SIGNED_HEADERS = headers.SIGNED_HEADERS  # the worker and the tests name it here
# The sandbox and its limits live in sandbox.py; callers name them here.
CampaignEnvironment = sandbox.CampaignEnvironment
Limits = sandbox.Limits
TemplateLimitError = sandbox.TemplateLimitError


class TemplateProblem(ValueError):
    """A campaign template cannot be used; the message names the part and line."""


@dataclass(frozen=True)
class Recipient:
    """What personalisation may know about one subscriber (plain values, no ORM objects)."""

    subscriber_id: int
    email: str
    name: str = ""
    attributes: Mapping = field(default_factory=dict)
    token_version: int = 1
    list_id: int = 0  # the campaign list the subscriber is on: its unsubscribe link
    notice_version_id: int | None = None  # the latest policy version they still owe a notice of
    language: str | None = None  # their own choice; None: the list's (`CampaignContent.language`)


@dataclass(frozen=True)
class NoticeBlock:
    """A block put at the top of one recipient's newsletter (policy-change notices use it)."""

    html: str
    text: str


# The hook for per-recipient notices (e.g. a policy change): given the recipient, return a block
# or None. The privacy issue supplies one; composing a newsletter never builds it by itself.
NoticeHook = Callable[[Recipient], NoticeBlock | None]


@dataclass(frozen=True)
class OutgoingMessage:
    """One rendered, signed message ready for `transport.send`."""

    envelope_from: str
    recipient: str
    raw: bytes
    message_id: str


@dataclass(frozen=True)
class CampaignContent:
    """The inputs to compile: plain values, read from the Campaign and MailingList rows."""

    campaign_id: int
    subject: str
    body: str
    body_format: str  # markdown | html
    list_id: int
    list_slug: str
    list_name: str
    sender_name: str
    sender_address: str
    layout: str | None = None
    archive: bool = False  # the list has a public archive (else `archive_url` is empty)
    count_clicks: bool = False  # aggregate click counts (sending/clicks.py), said in the footer
    language: str = "en"  # the list's default: the footer's for readers with no language of their own
    postal_address: str = ""  # the list's; empty: NEWSLETTER_POSTAL_ADDRESS (CAN-SPAM)


def sanitise(html: str) -> str:
    """The marketer's HTML with scripts, forms and event handlers removed (nh3)."""
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     link_rel="noopener noreferrer", url_schemes=URL_SCHEMES)


def _sanitise_marked_safe(value):
    """Jinja's finalize for HTML: a value marked safe (`|safe`, `|xmlattr`, a macro's output)
    skips autoescaping, so it is cleaned here like the template's own HTML was at compile time."""
    if hasattr(value, "__html__"):
        return Markup(sanitise(str(value.__html__())))
    return value


def attribute_value(value) -> Markup:
    """A rendered value inside a double-quoted attribute: nothing in it may end the quotes.

    >>> str(attribute_value(Markup('" onclick="x')))
    '&#34; onclick=&#34;x'
    """
    return Markup(str(value).replace('"', "&#34;").replace("'", "&#39;")
                  .replace("<", "&lt;").replace(">", "&gt;"))


def url_value(value) -> Markup:
    """A rendered value inside href/src: only the URL schemes nh3 lets through, else "#".

    >>> str(url_value("java\tscript:alert(1)")), str(url_value("https://example.org/?a=1"))
    ('#', 'https://example.org/?a=1')
    """
    # Browsers skip control characters and spaces inside a scheme ("java\tscript:").
    compact = re.sub(r"[\x00-\x20]", "", unescape(str(value)))
    scheme = URL_SCHEME.match(compact)
    if scheme is not None and scheme.group(1).lower() not in URL_SCHEMES:
        return Markup("#")
    return attribute_value(value)


def _environment(autoescape: bool) -> CampaignEnvironment:
    # CRLF straight out of the template: the message needs no line-end conversion per recipient.
    env = CampaignEnvironment(autoescape=autoescape, keep_trailing_newline=True,
                              newline_sequence="\r\n",
                              finalize=_sanitise_marked_safe if autoescape else None)
    env.globals.clear()  # no range(), lipsum(), cycler(), namespace(): only the VARIABLES
    env.filters.update(nl_attribute=attribute_value, nl_url=url_value)
    return env


HTML_ENV = _environment(True)
TEXT_ENV = _environment(False)


# --- validation (save time) ----------------------------------------------------------------------


def refuse_header_breaks(label: str, value: str) -> None:
    """CR or LF in a subject or name would start a new header: refuse it (and NUL, always)."""
    if "\r" in value or "\n" in value:
        raise TemplateProblem(f"{label}: line breaks are not allowed")
    if "\x00" in value:
        raise TemplateProblem(f"{label}: NUL characters are not allowed")


def check_template(label: str, source: str, html: bool = True,
                   samples: Sequence[Recipient] = (), limits: Limits | None = None) -> None:
    """Compile and trial-render one template for the sample reader, a reader with no name and
    no attributes, and `samples` (real subscribers); raise TemplateProblem naming the line,
    the limit reached and the reader it failed for."""
    env = HTML_ENV if html else TEXT_ENV
    try:
        parsed = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"{label}, line {exc.lineno}: {exc.message}") from None
    for node in parsed.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", "")
        if isinstance(name, str) and name.startswith("_"):
            # Python internals: never needed in a newsletter, the first step of every escape.
            raise TemplateProblem(f"{label}, line {node.lineno}: not allowed: {name!r}")
    unknown = sorted(meta.find_undeclared_variables(parsed) - VARIABLES - {"content"})
    if unknown:
        line = _line_of(source, unknown[0])
        raise TemplateProblem(
            f"{label}, line {line}: unknown variable '{unknown[0]}' "
            f"(use one of: {', '.join(sorted(VARIABLES))})"
        )
    try:
        template = env.from_string(source)
    except TemplateSyntaxError as exc:  # e.g. an unknown filter
        raise TemplateProblem(f"{label}, line {exc.lineno}: {exc.message}") from None
    for reader, recipient in _trial_readers(samples):
        try:
            sandbox.render(template, _trial_context(recipient, html), limits or Limits())
        except SecurityError as exc:
            raise TemplateProblem(
                f"{label}, line {_template_line(exc)}: not allowed: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - any render error is the marketer's to fix
            raise TemplateProblem(
                f"{label}, line {_template_line(exc)}: {exc}{reader}") from None


def validate(subject: str, body: str, body_format: str, layout: str | None = None,
             samples: Sequence[Recipient] = (), limits: Limits | None = None) -> None:
    """Everything a campaign needs to render for every recipient; raise TemplateProblem.

    Each template is rendered for the sample readers and `samples` under `limits`, so a
    template that fails on real data, or runs away, is refused here and not at send time.
    """
    if not subject.strip():
        raise TemplateProblem("subject: must not be empty")
    refuse_header_breaks("subject", subject)
    if body_format not in ("markdown", "html"):
        raise TemplateProblem("format: must be markdown or html")
    if "\x00" in body:
        raise TemplateProblem("body: NUL characters are not allowed")
    check_template("subject", subject, False, samples, limits)
    check_template("body", body, True, samples, limits)
    if layout is not None:
        check_layout("layout", layout, samples, limits)


def check_layout(label: str, layout: str, samples: Sequence[Recipient] = (),
                 limits: Limits | None = None) -> None:
    """THE layout rule, at every save of a layout and of a campaign: a slot for the body, and
    a template that renders for every trial reader under the limits; raise TemplateProblem."""
    if not CONTENT_MARK.search(layout):
        raise TemplateProblem(f"{label}: must contain {{{{ content }}}} where the body goes")
    check_template(label, layout, True, samples, limits)


def _line_of(source: str, name: str) -> int:
    for number, line in enumerate(source.splitlines(), 1):
        if re.search(rf"\b{re.escape(name)}\b", line):
            return number
    return 1


def _template_line(exc: BaseException) -> int:
    # Jinja rewrites tracebacks so that template frames carry the template's own line numbers.
    tb, line = exc.__traceback__, 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


SAMPLE_READER = Recipient(0, "reader@example.org", "Sample Reader", {"city": "Berlin"})
# What a bare import row looks like: a template must also work without a name or attributes.
EMPTY_READER = Recipient(0, "reader@example.org", "", {})


def _trial_readers(samples: Sequence[Recipient]):
    """(how to name the reader in an error, the reader) for each trial render at save time."""
    yield "", SAMPLE_READER
    yield " (for a subscriber with no name and no attributes)", EMPTY_READER
    for recipient in samples:
        yield f" (for subscriber {recipient.email})", recipient


def _trial_context(recipient: Recipient, html: bool) -> dict:
    return _context(recipient, "https://example.org/u/x", "https://example.org/preferences/x",
                    "https://example.org/archive/x", {"id": 0, "subject": "Sample"},
                    {"name": "List", "slug": "list"}, None, html, TRIAL_PRIVACY_URL,
                    footer.for_reader(recipient.language, "List", recipient.email,
                                      "Example Ltd, 1 High Street, London"))


def _context(recipient: Recipient, unsubscribe: str, preferences: str, archive: str,
             campaign: dict, mailing_list: dict, notice: NoticeBlock | None, html: bool,
             privacy: str, words: Mapping[str, str]) -> dict:
    notice_part = "" if notice is None else (Markup(notice.html) if html else notice.text)
    return {
        "subscriber": {"name": recipient.name, "email": recipient.email,
                       "attributes": dict(recipient.attributes or {})},
        "unsubscribe_url": unsubscribe,
        "preferences_url": preferences,
        "archive_url": archive,
        "privacy_request_url": privacy,
        "campaign": campaign,
        "list": mailing_list,
        "policy_notice": notice_part,
        "footer": words,
    }


# --- compile (once per campaign) -------------------------------------------------------------------


def _protect(source: str, nonce: str, saved: list[str]) -> str:
    """Swap Jinja tags for inert words so Markdown, nh3 and css-inline leave them alone."""

    def swap(match: re.Match) -> str:
        saved.append(match.group(0))
        return f"nlph{nonce}x{len(saved) - 1}x"

    return JINJA_TAG.sub(swap, source)


def _restore(text: str, nonce: str, saved: list[str], slots: Mapping[int, str] = {}) -> str:
    """Put the Jinja tags back; an output tag inside an attribute value gets that value's filter."""

    def put_back(match: re.Match) -> str:
        index = int(match.group(1))
        source, attribute = saved[index], slots.get(index)
        if attribute is None or not source.startswith("{{"):
            return source
        name = "nl_url" if attribute in URL_ATTRIBUTES else "nl_attribute"
        return f"{{% filter {name} %}}{source}{{% endfilter %}}"

    return re.sub(rf"nlph{nonce}x(\d+)x", put_back, text)


def _attribute_slots(html: str, nonce: str) -> dict[int, str]:
    """Protected tags that ended up inside an attribute value: their number -> attribute name.

    There a value marked safe could close the quotes and add an attribute (an event handler),
    and a URL could be `javascript:`; nh3 never saw the value, so the filters check it.
    """
    slots = {}
    for tag in TAG.finditer(html):
        for name, value in ATTRIBUTE_VALUE.findall(tag.group(0)):
            for index in re.findall(rf"nlph{nonce}x(\d+)x", value):
                slots[int(index)] = name.lower()
    return slots


def body_html(body: str, body_format: str, nonce: str, saved: list[str]) -> str:
    """The marketer's body as sanitised HTML, Jinja tags still protected."""
    protected = _protect(body, nonce, saved)
    html = markdown_lib.markdown(protected, extensions=["extra", "sane_lists"]) \
        if body_format == "markdown" else protected
    return sanitise(html)


def compile_campaign(content: CampaignContent, config: Mapping) -> CompiledCampaign:
    """Do the per-campaign work once; the result renders one recipient at a time."""
    nonce = secrets.token_hex(4)
    saved: list[str] = []
    body = body_html(content.body, content.body_format, nonce, saved)
    layout = content.layout or DEFAULT_LAYOUT.read_text()
    layout = _protect(CONTENT_MARK.sub("nlcontentmark", layout), nonce, saved)
    notice_mark = _protect("{{ policy_notice }}", nonce, saved)
    document = layout.replace("nlcontentmark", notice_mark + body, 1)
    # @media rules cannot be inlined: they stay in a <style> (a responsive layout needs them).
    inlined = css_inline.CSSInliner(keep_style_tags=False, keep_at_rules=True,
                                    load_remote_stylesheets=False).inline(document)
    html_source = _restore(inlined, nonce, saved, _attribute_slots(inlined, nonce))
    if "unsubscribe_url" not in html_source:  # every newsletter must show a way out
        html_source = html_source.replace(
            "</body>", '<p><a href="{{ unsubscribe_url }}">{{ footer.unsubscribe }}</a></p></body>',
            1)
    if "privacy_request_url" not in html_source:  # nor a way to see or delete one's data
        html_source = html_source.replace(
            "</body>", '<p><a href="{{ privacy_request_url }}">{{ footer.your_data_long }}</a>'
            "</p></body>", 1)
    if _postal_address(content, config) and "footer.address" not in html_source:  # nor who sent it
        html_source = html_source.replace("</body>", "<p>{{ footer.address }}</p></body>", 1)
    # The text part comes from the same sanitised content, so both parts say the same thing.
    text_source = "{{ policy_notice }}" + _restore(_wrap_text(html_to_text(body)), nonce, saved)
    text_source = text_source.rstrip() + TEXT_FOOTER
    if content.count_clicks:
        html_source = clicks.wrap_links(html_source, content.campaign_id, config)
        text_source += clicks.TEXT_DISCLOSURE
    html_source = _wrap_html(html_source)
    return CompiledCampaign(content, config, HTML_ENV.from_string(html_source),
                            TEXT_ENV.from_string(text_source.replace("\r\n", "\n")))


def _postal_address(content: CampaignContent, config: Mapping) -> str:
    return content.postal_address or config.get("NEWSLETTER_POSTAL_ADDRESS", "")


def _wrap_html(source: str, width: int = 400) -> str:
    """Break long lines at spaces (insignificant in HTML) so the part can go out as 7bit."""
    out = []
    for line in source.split("\n"):
        while len(line) > width:
            cut = line.rfind(" ", 0, width)
            if cut <= 0:
                break
            out.append(line[:cut])
            line = line[cut + 1:]
        out.append(line)
    return "\n".join(out)


def _wrap_text(text: str) -> str:
    """Wrap paragraphs at 76 columns, as plain-text mail readers expect."""
    return "\n".join(
        textwrap.fill(line, 76, break_long_words=False, break_on_hyphens=False) if line else ""
        for line in text.split("\n"))


MAX_LINE = 990  # RFC 5322 allows 998 octets per line


def _encode_part(text: str, html: bool) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, body) for one part, CRLF line ends.

    7bit when the text is ASCII with short lines (HTML is made ASCII with character references);
    base64 otherwise. Both are C-speed; quoted-printable costs ten times more per message.
    """
    data = text.encode("ascii", "xmlcharrefreplace") if html else text.encode()
    # This runs twice per message over ~50 KB, so every pass is C code: line ends become LF
    # (a value may bring a CR of its own), one split measures the longest line, and CRLF is put
    # back at the end. A per-line check in Python cost more than the rest of the render.
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if data.isascii() and max(map(len, data.split(b"\n"))) < MAX_LINE - 1:  # CR still to come
        return b"7bit", data.replace(b"\n", b"\r\n")
    encoded = binascii.b2a_base64(data.replace(b"\n", b"\r\n"), newline=False)
    lines = [encoded[i:i + 76] for i in range(0, len(encoded), 76)]
    return b"base64", b"\r\n".join(lines)


class CompiledCampaign:
    """A campaign ready to render: templates compiled, constant headers encoded."""

    def __init__(self, content: CampaignContent, config: Mapping, html, text):
        self.content, self.config = content, config
        self.html, self.text = html, text
        self.limits = Limits.from_config(config)
        self.subject = None if JINJA_TAG.search(content.subject) is None \
            else TEXT_ENV.from_string(content.subject)
        self.domain = config["NEWSLETTER_MAIL_DOMAIN"]
        self.campaign = {"id": content.campaign_id, "subject": content.subject}
        self.mailing_list = {"name": content.list_name, "slug": content.list_slug}
        self.archive = links.archive_url(config, content.list_slug) if content.archive else ""
        self.privacy = links.privacy_request_url(config)
        self.address = _postal_address(content, config)
        # "=_" cannot occur in base64, and 24 random hex digits will not occur in the 7bit text.
        self.boundary = f"=_nl_{secrets.token_hex(12)}"
        self.static_headers = (
            headers.from_header(config, content.sender_name, content.sender_address,
                                content.list_name)
            + (b"" if self.subject is not None else headers.header("Subject", content.subject))
            + headers.list_id_header(config, content.list_slug, content.list_name)
            + headers.LIST_UNSUBSCRIBE_POST
            + b"Precedence: bulk\r\nMIME-Version: 1.0\r\n"
            + f'Content-Type: multipart/alternative; boundary="{self.boundary}"\r\n'.encode()
        )
        part = "--{b}\r\nContent-Type: text/{t}; charset=utf-8\r\nContent-Transfer-Encoding: "
        self.text_head = part.format(b=self.boundary, t="plain").encode()
        self.html_head = part.format(b=self.boundary, t="html").encode()
        self.tail = f"--{self.boundary}--\r\n".encode()

    def render(self, recipient: Recipient, now: datetime,
               notice_hook: NoticeHook | None = None,
               message_id: str | None = None, deliver_to: str | None = None) -> OutgoingMessage:
        """One personalised message (headers of DESIGN.md section 9); DKIM is added by the caller.
        The worker passes the delivery's stable Message-ID; test sends get a fresh one, and
        `deliver_to` when they show one subscriber's mail to a staff address."""
        config, sid = self.config, recipient.subscriber_id
        list_id = recipient.list_id or self.content.list_id
        unsubscribe = links.unsubscribe_url(config, sid, list_id)
        preferences = links.preferences_url(config, sid, recipient.token_version)
        notice = notice_hook(recipient) if notice_hook is not None else None
        words = footer.for_reader(self.language_for(recipient), self.content.list_name,
                                  recipient.email, self.address)
        args = (recipient, unsubscribe, preferences, self.archive, self.campaign,
                self.mailing_list, notice)
        # Each part under the limits: a runaway template fails this one message (the worker
        # records the TemplateLimitError as that delivery's reason), not the worker.
        html = sandbox.render(self.html, _context(*args, True, self.privacy, words), self.limits)
        text = sandbox.render(self.text, _context(*args, False, self.privacy, words), self.limits)
        message_id = message_id or new_message_id(self.domain)
        reply_to = links.reply_address(config, sid, self.content.campaign_id)
        head = (
            self.static_headers
            + (headers.address_header("To", recipient.name, recipient.email)
               if deliver_to is None else headers.address_header("To", "", deliver_to))
            + (headers.header("Subject", sandbox.render(
                self.subject, _context(*args, False, self.privacy, words), self.limits))
               if self.subject is not None else b"")
            + headers.date_header(now)
            + headers.message_id_header(message_id)
            + headers.address_header("Reply-To", "", reply_to)
            + headers.list_unsubscribe_header(config, sid, list_id, unsubscribe)
        )
        text_cte, text_body = _encode_part(text, html=False)
        html_cte, html_body = _encode_part(html, html=True)
        raw = b"".join((head, b"\r\n", self.text_head, text_cte, b"\r\n\r\n", text_body,
                        b"\r\n", self.html_head, html_cte, b"\r\n\r\n", html_body, b"\r\n",
                        self.tail))
        envelope = links.bounce_address(config, sid, self.content.campaign_id)
        return OutgoingMessage(envelope, deliver_to or recipient.email, raw, message_id)

    def language_for(self, recipient: Recipient) -> str:
        """The language of our words in `recipient`'s copy: theirs, else the list's."""
        return mail_language(recipient.language, self.content.language)

    def archive_copy(self) -> str:
        """The HTML part for the public archive: no name, no address, no personal links."""
        nobody = Recipient(0, "", "", {})
        words = footer.for_reader(self.content.language, self.content.list_name, "",
                                  self.address)
        return sandbox.render(self.html, _context(nobody, "#", "#", self.archive, self.campaign,
                                                  self.mailing_list, None, True, self.privacy,
                                                  words),
                              self.limits)

    def preview(self, reader: Recipient | None = None) -> str:
        """The HTML part for `reader` (a sample reader by default), for the admin preview
        iframe: personal links are inert anchors, so a click there acts for no one."""
        return sandbox.render(self.html, self._preview_context(reader, True), self.limits)

    def preview_subject(self, reader: Recipient | None = None) -> str:
        """The subject line `reader` would see."""
        if self.subject is None:
            return self.content.subject
        return sandbox.render(self.subject, self._preview_context(reader, False), self.limits)

    def _preview_context(self, reader: Recipient | None, html: bool) -> dict:
        sample = reader or Recipient(0, "reader@example.org", "Sample Reader", {})
        words = footer.for_reader(self.language_for(sample), self.content.list_name, sample.email,
                                  self.address)
        return _context(sample, "#unsubscribe", "#preferences", self.archive, self.campaign,
                        self.mailing_list, None, html, self.privacy, words)
