"""Inbound classification: accuracy per verdict and messages per second on one core.

    python bench/classify.py [--corpus DIR] [--rounds N]

Reads the shared corpus (../shared/corpus/inbound, labels.tsv) and the project's own labelled
cases (tests/data/inbound, expected.tsv). Prints a table per verdict (right / total, and how
many were wrongly called `unsubscribe`), then the throughput of `classify` over the shared
corpus: N rounds in this one process (one core), after one warm-up round.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections import Counter, defaultdict
from email import policy
from email.parser import BytesParser
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from newsletter.inbound.classify import Kind, classify  # noqa: E402

SHARED = Path(os.environ.get("NEWSLETTER_SHARED_DIR", REPO.parent / "shared")) / "corpus" / "inbound"
OWN = REPO / "tests" / "data" / "inbound"


def table(root: Path, name: str) -> list[tuple[Path, str]]:
    """(file, expected verdict) rows of a labels table; [] if the table is missing."""
    if not (root / name).exists():
        return []
    with open(root / name, newline="", encoding="utf-8") as fh:
        return [(root / r["path"], r["verdict"]) for r in csv.DictReader(fh, delimiter="\t")]


def accuracy(title: str, rows: list[tuple[Path, str]]) -> None:
    """Print right/total per expected verdict and the wrong calls."""
    right, total, false_unsub = Counter(), Counter(), Counter()
    wrong = defaultdict(list)
    for path, expected in rows:
        got = classify(path.read_bytes()).kind.value
        total[expected] += 1
        if got == expected:
            right[expected] += 1
        else:
            wrong[expected].append(f"{path.name} -> {got}")
            if got == Kind.unsubscribe.value:
                false_unsub[expected] += 1
    print(f"\n{title}: {sum(right.values())}/{sum(total.values())} right "
          f"({100 * sum(right.values()) / max(sum(total.values()), 1):.1f}%), "
          f"wrongly 'unsubscribe': {sum(false_unsub.values())}")
    print(f"  {'verdict':<16} {'right':>5} {'total':>5} {'accuracy':>9}")
    for kind in Kind:
        if total[kind.value]:
            print(f"  {kind.value:<16} {right[kind.value]:>5} {total[kind.value]:>5} "
                  f"{100 * right[kind.value] / total[kind.value]:>8.1f}%")
    for expected, items in sorted(wrong.items()):
        for item in items:
            print(f"    wrong ({expected}): {item}")


def throughput(files: list[bytes], rounds: int) -> None:
    """Messages per second of `classify` in this process (one core), beside bare parsing.

    The ceiling is the standard library's own parse of the same bytes (BytesParser with the
    default policy, every header read), timed in rounds interleaved with classify's, so load
    from elsewhere touches both alike. Printed: classify's rate as a fraction of it.
    """
    parser = BytesParser(policy=policy.default)

    def parse(raw: bytes) -> None:
        message = parser.parsebytes(raw)
        for _name, _value in message.items():
            pass

    for raw in files:  # warm-up: phrase files, regexes, flufl.bounce imports
        classify(raw)
        parse(raw)
    spent = {"classify": 0.0, "parse": 0.0}
    for _ in range(rounds):
        for name, call in (("parse", parse), ("classify", classify)):
            started = time.perf_counter()
            for raw in files:
                call(raw)
            spent[name] += time.perf_counter() - started
    count = rounds * len(files)
    rate, ceiling = count / spent["classify"], count / spent["parse"]
    print(f"\nthroughput: {count} messages in {spent['classify']:.2f} s = {rate:.0f} msgs/s "
          f"on one core (goal >= 500: {'met' if rate >= 500 else 'NOT met'})")
    print(f"bare email parsing (BytesParser, policy.default, all headers read): {ceiling:.0f} "
          f"msgs/s; classify / parsing = {rate / ceiling:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=SHARED)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as promised
    shared = table(args.corpus, "labels.tsv")
    own = table(OWN, "expected.tsv")
    accuracy(f"shared corpus ({args.corpus})", shared)
    accuracy("own cases (tests/data/inbound)", own)
    accuracy("both", shared + own)
    files = [path.read_bytes() for path, _ in shared] or [p.read_bytes() for p, _ in own]
    throughput(files, args.rounds)


if __name__ == "__main__":
    main()
