"""Accuracy of the classifier on the labelled corpora, per verdict and per language, per half.

    python bench/corpus_eval.py [--corpus public|requests|all] [--half tune|test|both] [--wrong]

Two corpora: tests/data/corpus/public (real messages from public fixture sets: bounces,
auto-replies, list mail) and tests/data/corpus/requests (people's requests and replies,
paraphrased from cited public messages). Each is split for good by a hash of each file
name: `half()` below. Phrases and rules are tuned on the `tune` half only; the `test` half is
the one whose figures are reported and asserted (tests/inbound/test_public_corpus.py,
tests/inbound/test_requests_corpus.py). Also
prints how often our bounce policy agrees with sisimai's hardbounce on every bounce.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from newsletter.inbound.classify import Kind, classify  # noqa: E402

PUBLIC = REPO / "tests" / "data" / "corpus" / "public"
REQUESTS = REPO / "tests" / "data" / "corpus" / "requests"
CORPORA = {"public": PUBLIC, "requests": REQUESTS}
BOUNCES = ("bounce_hard", "bounce_soft")


@dataclass
class Case:
    """One labelled message of the corpus and what the classifier said."""

    path: Path
    expected: str
    language: str
    got: str = ""


def half(name: str) -> str:
    """`tune` or `test`, fixed by the file name (sha256, last bit): never by its content."""
    return "test" if hashlib.sha256(name.encode()).digest()[-1] & 1 else "tune"


def load(which: str = "both", root: Path = PUBLIC) -> list[Case]:
    """The labelled cases of one half (or both), each classified."""
    with open(root / "labels.tsv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    cases = [Case(root / r["path"], r["verdict"], r["language"]) for r in rows
             if which == "both" or half(Path(r["path"]).name) == which]
    for case in cases:
        case.got = classify(case.path.read_bytes()).kind.value
    return cases


def wrongful_unsubscribes(cases: list[Case]) -> list[Case]:
    return [c for c in cases if c.got == Kind.unsubscribe.value != c.expected]


def sisimai_agreement(cases: list[Case]) -> tuple[int, int]:
    """(agreeing, total) over the bounces: hard here exactly when sisimai says hardbounce."""
    bounces = [c for c in cases if c.expected in BOUNCES]
    agree = sum((c.got == "bounce_hard") == (c.expected == "bounce_hard") for c in bounces)
    return agree, len(bounces)


def report(title: str, cases: list[Case], show_wrong: bool) -> None:
    right = sum(c.got == c.expected for c in cases)
    print(f"\n{title}: {right}/{len(cases)} right ({100 * right / max(len(cases), 1):.1f}%), "
          f"wrongful unsubscribes: {len(wrongful_unsubscribes(cases))}")
    for label, key in (("verdict", "expected"), ("language", "language")):
        total, good = Counter(), Counter()
        for c in cases:
            total[getattr(c, key)] += 1
            good[getattr(c, key)] += c.got == c.expected
        print(f"  {label:<16} {'right':>5} {'total':>5} {'recall':>7}")
        for value in sorted(total):
            print(f"  {value:<16} {good[value]:>5} {total[value]:>5} "
                  f"{100 * good[value] / total[value]:>6.1f}%")
    agree, total = sisimai_agreement(cases)
    if total:
        print(f"  bounce hard/soft agreement with sisimai: {agree}/{total} "
              f"({100 * agree / total:.1f}%)")
    if show_wrong:
        for c in cases:
            if c.got != c.expected:
                print(f"    wrong: {c.path.parent.name}/{c.path.name} -> {c.got}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=(*CORPORA, "all"), default="all")
    parser.add_argument("--half", choices=("tune", "test", "both"), default="both")
    parser.add_argument("--wrong", action="store_true", help="list the misclassified files")
    args = parser.parse_args()
    halves = ("tune", "test") if args.half == "both" else (args.half,)
    names = tuple(CORPORA) if args.corpus == "all" else (args.corpus,)
    for name in names:
        for which in halves:
            report(f"{name} corpus, {which} half", load(which, CORPORA[name]), args.wrong)


if __name__ == "__main__":
    main()
