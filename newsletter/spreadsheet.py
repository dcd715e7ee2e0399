"""CSV cells that a spreadsheet opens as text, never as a formula (OWASP "CSV injection").

Every CSV we hand out (the audit log, a list's subscribers) writes its cells through `cell()`:
a name such as `=HYPERLINK("http://evil.example","click")` typed into a public form must not
run when a marketer opens the export.
"""

from __future__ import annotations

# What makes Excel, LibreOffice and Google Sheets read a cell as a formula (tab and CR too:
# some strip them first and then see the character after).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """The value as CSV cell text, a leading apostrophe if it would start a formula.

    >>> cell("=1+2"), cell("-5"), cell("Ada"), cell(None), cell(3)
    ("'=1+2", "'-5", 'Ada', '', '3')
    """
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in FORMULA_START else text
