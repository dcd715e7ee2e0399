"""The classifier judged on people's requests and replies it was not tuned on (issue 11).

tests/data/corpus/requests holds 230 replies (unsubscribe, access, erasure, and human replies
that use those words without asking), each a paraphrase of a cited public message (README.md
there). A hash of each file name puts it in the tuning or the test half for good
(bench/corpus_eval.py); phrase files were tuned on the tuning half only. The thresholds are
the issue's: accuracy at least 0.90 and recall per verdict at least 0.85 on the test half, and
no message wrongly read as `unsubscribe` in either half.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "corpus_eval.py"
CORPUS = ROOT / "tests" / "data" / "corpus" / "requests"
MIN_PER_VERDICT = 10  # recall of a verdict with fewer test messages says little; still listed


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a dataclass in it looks itself up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus_eval():
    return _module("corpus_eval", BENCH)


@pytest.fixture(scope="module")
def test_half(corpus_eval):
    return corpus_eval.load("test", CORPUS)


@pytest.fixture(scope="module")
def both_halves(corpus_eval, test_half):
    return corpus_eval.load("tune", CORPUS) + test_half


def _wrong(cases) -> str:
    return "\n".join(f"{c.path.parent.name}/{c.path.name}: expected {c.expected}, got {c.got}"
                     for c in cases if c.got != c.expected)


def test_every_message_is_labelled_with_its_source_and_rebuilds_to_the_same_bytes():
    build = _module("requests_build", CORPUS / "build.py")
    planned = build.plan(build.load())
    with open(CORPUS / "labels.tsv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert len(rows) == len(planned) >= 200
    for row, (rel, block, seed) in zip(rows, planned, strict=True):
        assert row["source"].startswith(("http://", "https://")), row
        assert (row["path"], row["verdict"], row["language"]) == (
            rel, block["verdict"], block["language"])
        assert (CORPUS / rel).read_bytes() == build.render(block, seed), rel
    assert set(Counter(r["verdict"] for r in rows)) == {
        "unsubscribe", "access_request", "erasure_request", "human"}
    assert len({r["language"] for r in rows if r["verdict"] == "unsubscribe"}) >= 20


def test_the_halves_are_fixed_and_both_large(test_half, both_halves):
    assert 0.4 <= len(test_half) / len(both_halves) <= 0.6
    assert all(n >= MIN_PER_VERDICT for n in Counter(c.expected for c in test_half).values())


def test_accuracy_on_the_test_half(test_half):
    right = sum(c.got == c.expected for c in test_half)
    assert right / len(test_half) >= 0.90, _wrong(test_half)


def test_recall_per_verdict_on_the_test_half(test_half):
    total = Counter(c.expected for c in test_half)
    right = Counter(c.expected for c in test_half if c.got == c.expected)
    low = {verdict: f"{right[verdict]}/{n}" for verdict, n in total.items()
           if n >= MIN_PER_VERDICT and right[verdict] / n < 0.85}
    assert low == {}, _wrong(test_half)


def test_no_wrongful_unsubscribe_in_either_half(corpus_eval, both_halves):
    assert [c.path.name for c in corpus_eval.wrongful_unsubscribes(both_halves)] == []
