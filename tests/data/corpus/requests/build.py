"""Writes the .eml files and labels.tsv of this corpus from messages-*.txt (kept in the repo).

    python tests/data/corpus/requests/build.py

Each block of a messages file is one paraphrase, in our own words, of one public message or
page (README.md says why nothing is copied):

    ### <verdict> <language> <quote> <source URL>
    From: <display name>
    Subject: <subject>

    <the words the person wrote>

`quote` says what follows the person's words, as a direct reply to our newsletter would carry
it: `q` the newsletter quoted with "> " under an attribution line in the person's language,
`o` an Outlook-style original (unquoted headers and text), `-` nothing. Addresses, tokens,
dates and Message-IDs are made up here, deterministically, so a rebuild gives the same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from email.header import Header
from email.utils import formataddr
from pathlib import Path

HERE = Path(__file__).resolve().parent
PREFIX = {"unsubscribe": "unsub", "access_request": "access", "erasure_request": "erasure",
          "human": "human"}
DOMAINS = ("example.com", "example.net", "example.org")
NEWSLETTER = "Weekly News <news@news.example.org>"
# Archive posts and blog posts written by the person; every other source is a page (a guide,
# FAQ, template or policy) that describes the message people send (README.md, "Sources").
POSTS = ("openarchives.org/pipermail", "baby.indstate.edu", "snf.stanford.edu/pipermail",
         "michelleeames.com", "shripriya.com", "hatontop.com", "humoretc.com",
         "thedailystride.wordpress.com", "denaharris.com", "fanfics.dev", "biglist.com",
         "cs.vassar.edu", "disinterest.org", "eskimo.com", "h3athrow.blogspot.com",
         "youarecurrent.com", "postalatry.blogspot.com", "kamilake.com")
ATTRIBUTION = {
    "de": "Am 03.06.2024 um 09:00 schrieb {n}:",
    "fr": "Le lun. 3 juin 2024 à 09:00, {n} a écrit :",
    "es": "El lun, 3 jun 2024 a las 9:00, {n} escribió:",
    "ca": "El dl., 3 de juny 2024 a les 9:00, {n} va escriure:",
    "gl": "O lun, 3 xuñ 2024 ás 9:00, {n} escribiu:",
    "it": "Il giorno lun 3 giu 2024 alle ore 09:00 {n} ha scritto:",
    "pt": "Em seg., 3 de jun. de 2024 às 09:00, {n} escreveu:",
    "nl": "Op ma 3 jun 2024 om 09:00 schreef {n}:",
    "pl": "pon., 3 cze 2024 o 09:00 {n} napisał(a):",
    "sv": "Den mån 3 juni 2024 kl 09:00 skrev {n}:",
    "da": "Den man. 3. jun. 2024 kl. 09.00 skrev {n}:",
    "no": "man. 3. jun. 2024 kl. 09:00 skrev {n}:",
    "fi": "ma 3.6.2024 klo 9.00 {n} kirjoitti:",
    "cs": "po 3. 6. 2024 v 9:00 odesílatel {n} napsal:",
    "sk": "po 3. 6. 2024 o 9:00 {n} napísal(a):",
    "ru": "пн, 3 июн. 2024 г. в 09:00, {n}:",
    "uk": "пн, 3 черв. 2024 р. о 09:00 {n} пише:",
    "tr": "3 Haz 2024 Pzt, saat 09:00 tarihinde {n} şunu yazdı:",
    "el": "Στις Δευ 3 Ιουν 2024 στις 9:00 π.μ., ο/η {n} έγραψε:",
    "hu": "Kovács írta (2024. jún. 3., H, 9:00), {n}:",
    "ja": "2024年6月3日(月) 9:00 {n}:",
    "zh": "{n} 于2024年6月3日周一 09:00写道：",
    "ko": "2024년 6월 3일 (월) 오전 9:00, {n}님이 작성:",
}
QUOTED = """Hello,

This week: ten tips for your garden, our new shop and an interview.
Read more on our site: https://news.example.org/12

You receive this because you subscribed to Weekly News.
To unsubscribe, click here: https://news.example.org/u/abc
Unsubscribe | Preferences | Delete my data"""


def parse(text: str) -> list[dict]:
    """The blocks of one messages file."""
    blocks = []
    for chunk in re.split(r"^### ", text, flags=re.M)[1:]:
        head, _, rest = chunk.partition("\n")
        verdict, language, quote, url = head.split()
        headers, _, body = rest.partition("\n\n")
        fields = dict(line.split(": ", 1) for line in headers.splitlines())
        blocks.append({"verdict": verdict, "language": language, "quote": quote, "url": url,
                       "name": fields["From"], "subject": fields["Subject"],
                       "body": body.strip("\n")})
    return blocks


def address(name: str, body: str, seed: int) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = ".".join(re.findall(r"[a-z]+", ascii_name.lower())) or f"reader{seed}"
    mentioned = re.search(rf"\b{re.escape(slug)}@([\w.-]+)", body)
    return f"{slug}@{mentioned.group(1) if mentioned else DOMAINS[seed % 3]}"


def header(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode(maxlinelen=76)


def render(block: dict, seed: int) -> bytes:
    sender = address(block["name"], block["body"], seed)
    digest = hashlib.sha256(f"{seed}:{block['name']}:{block['subject']}".encode()).hexdigest()
    body = block["body"]
    if block["quote"] == "q":
        attribution = ATTRIBUTION.get(block["language"], "On Mon, 3 Jun 2024 at 09:00, {n} wrote:")
        quoted = "\n".join(("> " + line).rstrip() for line in QUOTED.splitlines())
        body = f"{body}\n\n{attribution.format(n=NEWSLETTER)}\n{quoted}"
    elif block["quote"] == "o":
        body = (f"{body}\n\n________________________________\nFrom: {NEWSLETTER}\n"
                f"Sent: Monday, June 3, 2024 9:00 AM\nTo: {sender}\nSubject: Weekly News #12\n\n"
                f"{QUOTED}")
    lines = [
        f"From: {formataddr((block['name'], sender), charset='utf-8')}",
        f"To: reply+r{seed}.{seed % 9}.{digest[:20]}@news.example.org",
        f"Subject: {header(block['subject'])}",
        f"Date: {1 + seed % 28:d} Jun 2024 {8 + seed % 12:02d}:{seed * 7 % 60:02d}:00 +0000",
        f"Message-ID: <{digest[20:36]}@mail.{sender.split('@')[1]}>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\n".join(lines) + "\n\n" + body + "\n").encode("utf-8")


def plan(blocks: list[dict]) -> list[tuple[str, dict, int]]:
    """(relative path, block, seed) per block: the path numbers a verdict's messages per
    language in file order, the seed (addresses, token, date) comes from the path, so adding
    a message changes no other file."""
    counts: dict[tuple[str, str], int] = {}
    planned = []
    for block in blocks:
        key = (block["verdict"], block["language"])
        counts[key] = counts.get(key, 0) + 1
        rel = f"{block['verdict']}/{PREFIX[block['verdict']]}-{block['language']}-{counts[key]}.eml"
        planned.append((rel, block, int(hashlib.sha256(rel.encode()).hexdigest()[:6], 16)))
    return planned


def load() -> list[dict]:
    """Every block of every messages file, in file order."""
    blocks = []
    for path in sorted(HERE.glob("messages-*.txt")):
        blocks += parse(path.read_text(encoding="utf-8"))
    return blocks


def main() -> None:
    rows = []
    for rel, block, seed in plan(load()):
        (HERE / block["verdict"]).mkdir(exist_ok=True)
        (HERE / rel).write_bytes(render(block, seed))
        kind = "post" if any(p in block["url"] for p in POSTS) else "page"
        rows.append({"path": rel, "verdict": block["verdict"], "language": block["language"],
                     "source": block["url"], "licence": "paraphrase in our own words",
                     "note": f"modelled on a public {kind}"})
    with open(HERE / "labels.tsv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t",
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} messages written")


if __name__ == "__main__":
    main()
