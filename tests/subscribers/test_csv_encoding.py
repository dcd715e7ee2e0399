"""The encoding of an imported CSV file: detected on a bounded sample, or refused naming the
line; a byte that does not decode is never stored as U+FFFD (CLI, admin upload, DB rows)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import MailingList, Subscriber
from newsletter.subscribers import csv_encoding, imports

from conftest import csrf_token

NAMES = ["Jürgen Müller", "Zoë Bäcker", "François Hôte", "Grüße Straße"]
LATIN1 = ("email,name\n" + "".join(f"p{i}@example.org,{name}\n" for i, name in enumerate(NAMES))
          ).encode("latin-1")
RUSSIAN = "email,name\nivan@example.org,Иван Петров\n".encode("cp1251")


@pytest.fixture
def news(app):
    with app.app_context():
        row = MailingList(slug="news", name="News")
        db.session.add(row)
        db.session.commit()
        return row.id


def stored_names(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Subscriber.name).order_by(Subscriber.email)))


def run_import(runner, path, *extra):
    return runner.invoke(args=["newsletter", "import", str(path), "--list", "news",
                               "--consent-basis", "existing", *extra])


def test_a_latin1_file_is_read_as_latin1_from_the_cli(app, runner, news, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(LATIN1)
    result = run_import(runner, path)
    assert result.exit_code == 0, result.output
    assert stored_names(app) == NAMES


def test_a_latin1_upload_is_read_as_latin1_in_the_admin(app, admin_client, news):
    response = admin_client.post("/admin/import", data={
        "csrf_token": csrf_token(admin_client, "/admin/import"), "list_id": str(news),
        "consent_basis": "existing", "file": (io.BytesIO(LATIN1), "people.csv"),
    }, content_type="multipart/form-data")
    assert response.status_code == 200
    assert f"{len(NAMES)} subscribed" in response.get_data(as_text=True)
    assert stored_names(app) == NAMES


def test_an_unclear_encoding_is_refused_naming_the_line_and_can_be_chosen(app, runner, admin_client,
                                                                           news, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(RUSSIAN)
    result = run_import(runner, path)
    assert result.exit_code != 0
    assert "line 2 is not UTF-8" in result.output and "Иван Петров" in result.output
    upload = admin_client.post("/admin/import", data={
        "csrf_token": csrf_token(admin_client, "/admin/import"), "list_id": str(news),
        "consent_basis": "existing", "file": (io.BytesIO(RUSSIAN), "people.csv"),
    }, content_type="multipart/form-data")
    assert upload.status_code == 400 and "line 2 is not UTF-8" in upload.get_data(as_text=True)
    assert stored_names(app) == []

    result = run_import(runner, path, "--encoding", "cp1251")
    assert result.exit_code == 0, result.output
    assert stored_names(app) == ["Иван Петров"]


def test_bytes_past_the_sample_that_do_not_decode_refuse_that_line_only(app, runner, news, tmp_path):
    # UTF-8 for the whole sample, then one Latin-1 row far beyond it.
    rows = [f"p{i:05d}@example.org,Zoë\n".encode() for i in range(4000)]
    bad_line = len(rows) + 2  # after the header and the rows before it
    assert sum(map(len, rows)) > csv_encoding.SAMPLE_BYTES
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"email,name\n" + b"".join(rows) + "late@example.org,Müller\n".encode("latin-1")
                     + b"last@example.org,Last\n")
    result = run_import(runner, path)
    assert f"mixed.csv:{bad_line}: bytes that are not valid utf-8" in result.output
    names = stored_names(app)
    assert len(names) == 4001 and not any("\ufffd" in name for name in names)


def test_only_a_bounded_sample_is_read_before_the_import_streams(app):
    class Counting(io.BytesIO):
        most = 0

        def read(self, size=-1):
            data = super().read(size)
            Counting.most = max(Counting.most, self.tell())
            return data

    stream = imports.open_csv(Counting(b"email\n" + b"x@example.org\n" * 200_000))
    assert stream.encoding == "utf-8" and Counting.most <= csv_encoding.SAMPLE_BYTES
    assert stream.readline() == "email\n"
