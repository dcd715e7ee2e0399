"""HTML -> readable plain text for the text/plain part of a newsletter.

A small converter on the standard library's HTMLParser: block elements become line breaks, links
keep their target in brackets, lists get bullets; scripts and styles are dropped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

BLOCKS = {"p", "div", "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol",
          "blockquote", "pre", "hr", "section", "article", "header", "footer"}
SKIP = {"script", "style", "head", "title"}


class _TextBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.href: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        if tag in SKIP:
            self.skipping += 1
        elif tag in BLOCKS:
            self.parts.append("\n\n")
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag == "td" or tag == "th":
            self.parts.append(" ")
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag):
        if tag in SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a" and self.href:
            href = self.href.pop()
            if href and not href.startswith("#"):
                self.parts.append(f" <{href}>")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text from HTML.

    >>> html_to_text('<h1>Hi</h1><p>Read <a href="https://x.org/a">this</a>.</p>')
    'Hi\\n\\nRead this <https://x.org/a>.'
    """
    builder = _TextBuilder()
    builder.feed(html)
    builder.close()
    text = "".join(builder.parts)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n[ \t]+", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
