"""The transports against a real SMTP server on loopback, and the local Maildir sink."""

import mailbox
from datetime import UTC, datetime

import pytest

from newsletter.sending import mailer
from newsletter.sending.transport import MaildirTransport, SMTPTransport, TransportError

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CONFIG = {"MAIL_DEFAULT_SENDER": "News <news@example.org>", "NEWSLETTER_MAIL_DOMAIN": "example.org",
          "NEWSLETTER_BASE_URL": "http://newsletter.test"}


def _message(to="reader@example.com", subject="Hello"):
    return mailer.build_message(CONFIG, to=to, subject=subject, text="Hi there",
                                html="<p>Hi there</p>", now=NOW)


def test_smtp_transport_reuses_one_connection(smtp):
    transport = SMTPTransport("127.0.0.1", smtp.port)
    for i in range(3):
        transport.send("bounce@example.org", f"r{i}@example.com", _message(f"r{i}@example.com").raw)
    connection = transport._conn
    transport.close()
    assert connection is not None
    received = smtp.wait_for(3)
    assert [m.rcpt_tos for m in received] == [["r0@example.com"], ["r1@example.com"], ["r2@example.com"]]
    assert received[0].mail_from == "bounce@example.org"
    assert received[0].message["Subject"] == "Hello"


def test_smtp_transport_reports_temporary_and_permanent_failures(smtp):
    transport = SMTPTransport("127.0.0.1", smtp.port)
    smtp.planned_replies.append("451 4.3.0 try again later")
    with pytest.raises(TransportError) as temporary:
        transport.send("b@example.org", "x@example.com", _message().raw)
    assert temporary.value.code == 451 and not temporary.value.permanent
    smtp.rcpt_replies["gone@example.com"] = "550 5.1.1 no such user"
    with pytest.raises(TransportError) as permanent:
        transport.send("b@example.org", "gone@example.com", _message().raw)
    assert permanent.value.code == 550 and permanent.value.permanent
    # The connection is still usable after both.
    transport.send("b@example.org", "ok@example.com", _message().raw)
    transport.close()
    assert [m.rcpt_tos for m in smtp.messages] == [["ok@example.com"]]


def test_smtp_transport_connection_refused_is_a_temporary_error():
    from servers import free_port

    transport = SMTPTransport("127.0.0.1", free_port(), timeout=2)
    with pytest.raises(TransportError) as error:
        transport.send("b@example.org", "x@example.com", b"Subject: x\r\n\r\nx\r\n")
    assert error.value.code == 0 and not error.value.permanent


def test_header_injection_in_subject_is_refused():
    with pytest.raises(ValueError):
        _message(subject="Hello\r\nBcc: victim@example.com")


def test_maildir_sink_keeps_the_message(tmp_path):
    sink = MaildirTransport(tmp_path / "outbox")
    sink.send("b@example.org", "reader@example.com", _message().raw)
    stored = list(mailbox.Maildir(tmp_path / "outbox"))
    assert len(stored) == 1 and stored[0]["Subject"] == "Hello"
    assert stored[0]["Delivered-To"] == "reader@example.com"


def test_queued_mail_is_sent_once_and_retried_after_a_fault(app, smtp):
    from newsletter.extensions import db
    from newsletter.models import OutboundMail

    with app.app_context():
        mailer.queue(db.session, kind="test", mail=_message(), now=NOW)
        db.session.commit()
        smtp.planned_replies.append("421 4.3.2 shutting down")
        transport = SMTPTransport("127.0.0.1", smtp.port)
        assert mailer.send_queued(db.session, transport, NOW) == 0
        row = db.session.query(OutboundMail).one()
        assert row.status == "queued" and row.attempts == 1 and row.next_attempt_at > NOW
        assert mailer.send_queued(db.session, transport, row.next_attempt_at) == 1
        assert mailer.send_queued(db.session, transport, row.next_attempt_at) == 0
        transport.close()
    assert len(smtp.messages) == 1
