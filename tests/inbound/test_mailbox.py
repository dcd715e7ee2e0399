"""The Maildir source (the development default), huge messages, and `inbound classify`."""

from __future__ import annotations

import mailbox
from pathlib import Path

from sqlalchemy import select

from newsletter.extensions import db
from newsletter.inbound.poll import poll
from newsletter.models import InboundMessage, InboundStatus

from . import mails

OWN = Path(__file__).resolve().parent.parent / "data" / "inbound"


def test_maildir_poll_moves_messages_to_sub_folders_once(app, tmp_path):
    people = mails.make_people(app)
    box = mailbox.Maildir(tmp_path / "inbound", create=True)
    box.add(mails.reply(app.config, people.alice, people.campaign, "Please unsubscribe me.",
                        message_id="<m1@example.net>"))
    box.add(mails.reply(app.config, people.alice, people.campaign, "Nice issue! Any plans?",
                        message_id="<m2@example.net>"))
    app.config["NEWSLETTER_INBOUND"] = f"maildir:{tmp_path / 'inbound'}"
    with app.app_context():
        result = poll(db.session, app.config)
        assert (result.seen, result.handled, result.needs_human) == (2, 2, 1)
        again = poll(db.session, app.config)
        assert again.seen == 0
    box = mailbox.Maildir(tmp_path / "inbound", create=False)
    assert len(box) == 0
    assert len(box.get_folder("Processed")) == 1 and len(box.get_folder("NeedsHuman")) == 1


def test_huge_message_ends_as_human_with_its_headers_kept(app, tmp_path):
    app.config["NEWSLETTER_INBOUND_MAX_BYTES"] = 20_000
    box = mailbox.Maildir(tmp_path / "inbound", create=True)
    head = "From: a@example.com\nTo: news@news.example.org\nSubject: big\nMessage-ID: <big@x>\n\n"
    box.add((head + "please unsubscribe me\n" + "x" * 50_000).encode())
    app.config["NEWSLETTER_INBOUND"] = f"maildir:{tmp_path / 'inbound'}"
    with app.app_context():
        poll(db.session, app.config)
        row = db.session.scalar(select(InboundMessage))
        assert row.verdict == "human" and row.status is InboundStatus.needs_human
        assert any("limit" in reason for reason in row.reasons)
        assert len(row.raw) < 1000
    assert len(mailbox.Maildir(tmp_path / "inbound").get_folder("NeedsHuman")) == 1


def test_undecodable_messages_are_kept_for_a_person(app, tmp_path):
    box = mailbox.Maildir(tmp_path / "inbound", create=True)
    box.add((OWN / "human-broken-mime.eml").read_bytes())
    box.add((OWN / "human-8bit-header.eml").read_bytes())
    box.add((OWN / "human-unknown-charset.eml").read_bytes())
    app.config["NEWSLETTER_INBOUND"] = f"maildir:{tmp_path / 'inbound'}"
    with app.app_context():
        result = poll(db.session, app.config)
    assert (result.seen, result.needs_human) == (3, 3)


def test_old_message_bytes_are_purged_but_waiting_and_labelled_ones_kept(app):
    from datetime import timedelta

    from newsletter.inbound.inbox import purge_raw
    from newsletter.inbound.poll import process

    people = mails.make_people(app)
    old = mails.NOW - timedelta(days=100)
    with app.app_context():
        for n, text in enumerate(["Please unsubscribe me.", "A question?", "Thanks!"]):
            process(db.session, app.config, mails.reply(
                app.config, people.alice, people.campaign, text, message_id=f"<old{n}@x>"), old)
        labelled = db.session.scalar(select(InboundMessage).where(
            InboundMessage.message_key == "<old2@x>"))
        labelled.human_verdict, labelled.status = "human", InboundStatus.handled
        db.session.commit()
        assert purge_raw(db.session, mails.NOW, keep_days=90) == 1
        db.session.commit()
        kept = {r.message_key: r.raw is not None for r in db.session.scalars(select(InboundMessage))}
    assert kept == {"<old0@x>": False, "<old1@x>": True, "<old2@x>": True}


def test_export_labelled_writes_eml_files_and_a_table(app, runner, tmp_path):
    from newsletter.inbound.poll import process

    people = mails.make_people(app)
    with app.app_context():
        process(db.session, app.config, mails.reply(
            app.config, people.alice, people.campaign, "Enough, bye.", message_id="<lab@x>"),
            mails.NOW)
        row = db.session.scalar(select(InboundMessage))
        row.human_verdict = "unsubscribe"
        db.session.commit()
    result = runner.invoke(args=["newsletter", "inbound", "export-labelled", str(tmp_path / "out")])
    assert result.exit_code == 0 and result.output.strip().splitlines()[-1] == "1"
    table = (tmp_path / "out" / "expected.tsv").read_text().splitlines()
    assert table[1].startswith("inbound-") and "\tunsubscribe\t" in table[1]
    assert b"Enough, bye." in next((tmp_path / "out").glob("*.eml")).read_bytes()


def test_the_scheduler_polls_the_mailbox(app, tmp_path):
    from newsletter import scheduler

    people = mails.make_people(app)
    box = mailbox.Maildir(tmp_path / "inbound", create=True)
    box.add(mails.reply(app.config, people.alice, people.campaign, "Please unsubscribe me.",
                        message_id="<sched@example.net>"))
    app.config.update(NEWSLETTER_INBOUND=f"maildir:{tmp_path / 'inbound'}",
                      NEWSLETTER_INBOUND_POLL_SECONDS=17)
    [job] = [j for j in scheduler.jobs(app) if j.id == "inbound-poll"]
    assert job.seconds == 17
    scheduler._run(app, job)
    with app.app_context():
        assert db.session.scalar(select(InboundMessage.verdict)) == "unsubscribe"
    assert len(mailbox.Maildir(tmp_path / "inbound").get_folder("Processed")) == 1


def test_a_hand_made_maildir_with_only_new_is_read(app, tmp_path):
    (tmp_path / "inbound" / "new").mkdir(parents=True)
    (tmp_path / "inbound" / "new" / "1.eml").write_bytes((OWN / "human-question.eml").read_bytes())
    app.config["NEWSLETTER_INBOUND"] = f"maildir:{tmp_path / 'inbound'}"
    with app.app_context():
        result = poll(db.session, app.config)
    assert (result.seen, result.needs_human) == (1, 1)
    assert len(mailbox.Maildir(tmp_path / "inbound").get_folder("NeedsHuman")) == 1
