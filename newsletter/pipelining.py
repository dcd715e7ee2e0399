"""SMTP for newsletters: the foundation's SMTPTransport plus command pipelining (RFC 2920).

With PIPELINING, MAIL FROM, RCPT TO and DATA go out in one write and their three replies are read
together, and the dot-stuffed message follows in one more write: two round trips per message
instead of four. Delivery workers go one step further (`start_envelope` ... `finish`): the final reply of a
message is read only after the next message's envelope went out, so the server's "250 queued"
for one message and its replies to the next envelope come back in one round trip (RFC 2920
section 3.1 lets message content lead a pipelined group), and the worker checks and renders the
next message while the server is still taking in the last one. Dot-stuffing is a bytes.replace
(our messages are CRLF throughout), not smtplib's per-line regex. Servers that do not offer
PIPELINING, and non-ASCII envelopes (SMTPUTF8), take the plain smtplib path of SMTPTransport.
"""

from __future__ import annotations

import smtplib
from collections.abc import Mapping

from newsletter.transport import SMTPTransport, Transport, TransportError, transport_from_config

ACCEPTED = (250, 251)


def dot_stuff(raw: bytes) -> bytes:
    """RFC 5321 4.5.2 transparency, plus the final CRLF.CRLF.

    >>> dot_stuff(b".hidden\\r\\nline\\r\\n.dot\\r\\n")
    b'..hidden\\r\\nline\\r\\n..dot\\r\\n.\\r\\n'
    """
    data = raw.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


class PipeliningSMTPTransport(SMTPTransport):
    """SMTPTransport that pipelines the envelope when the server allows it."""

    force_pipelining = False  # tests: pipeline even if the server does not advertise it
    awaiting_reply = False  # a message body went out and its final reply is still unread

    def can_overlap(self, envelope_from: str, recipient: str) -> bool:
        """True when this message may go out with start()/finish() (a pipelining server, ASCII
        envelope). Connects if needed; raises TransportError when that fails."""
        if self._conn is None:
            self._conn = self._connect()
        try:
            self._conn.ehlo_or_helo_if_needed()
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise TransportError(0, f"connection lost: {exc}") from None
        plain = envelope_from.isascii() and recipient.isascii()
        return plain and (self.force_pipelining or self._conn.has_extn("pipelining"))

    def start_envelope(self, envelope_from: str, recipient: str) -> None:
        """Write MAIL FROM, RCPT TO and DATA; read nothing yet."""
        self._write(f"MAIL FROM:<{envelope_from}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n"
                    .encode("ascii"))

    def finish(self) -> str:
        """Read the final reply of the message whose body went out last; raise TransportError."""
        self.awaiting_reply = False
        code, message = self._read()
        if code not in ACCEPTED:
            if code == 421:
                self.close()
            # Otherwise the transaction is over either way and the next envelope is already
            # on its way: no RSET (it would be read as the reply to that envelope).
            raise TransportError(code, _text(message))
        return f"{code} {_text(message)}"

    def read_envelope(self) -> None:
        """Read the replies to the envelope written by start_envelope(); raise on a refusal."""
        replies = [self._read() for _ in range(3)]
        self._check_envelope(replies)

    def send_body(self, raw: bytes) -> None:
        """Write the dot-stuffed message; its reply is read by finish()."""
        self._write(dot_stuff(raw))
        self.awaiting_reply = True

    def _write(self, data: bytes) -> None:
        try:
            self._conn.send(data)
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            self.close()
            raise TransportError(0, f"connection lost: {exc}") from None

    def _read(self) -> tuple[int, bytes]:
        try:
            return self._conn.getreply()
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError, AttributeError) as exc:
            self.close()
            raise TransportError(0, f"connection lost: {exc}") from None

    def _check_envelope(self, replies: list) -> None:
        (mail_code, _), (rcpt_code, _), (data_code, data_msg) = replies
        envelope_ok = mail_code in ACCEPTED and rcpt_code in ACCEPTED
        if data_code == 354 and not envelope_ok:
            # The server opened a message for nobody: close it empty, then report the refusal.
            self._write(b".\r\n")
            self._read()
        if not envelope_ok or data_code != 354:
            code, message = next(
                (reply for reply in replies[:2] if reply[0] not in ACCEPTED),
                (data_code, data_msg))
            self._after_refusal(code)
            raise TransportError(code, _text(message))

    def close(self) -> None:
        """Forget any unread reply with the connection."""
        self.awaiting_reply = False
        super().close()

    def send(self, envelope_from: str, recipient: str, raw: bytes) -> str:
        """Send one message; return the server's reply or raise TransportError."""
        if self.awaiting_reply:
            raise RuntimeError("a started message must be finished before the next send()")
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        try:
            conn.ehlo_or_helo_if_needed()
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise TransportError(0, f"connection lost: {exc}") from None
        plain = envelope_from.isascii() and recipient.isascii()
        if not plain or not (self.force_pipelining or conn.has_extn("pipelining")):
            return super().send(envelope_from, recipient, raw)
        try:
            conn.send(f"MAIL FROM:<{envelope_from}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n"
                      .encode("ascii"))
            self._check_envelope([conn.getreply() for _ in range(3)])
            conn.send(dot_stuff(raw))
            code, message = conn.getreply()
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            self.close()
            raise TransportError(0, f"connection lost: {exc}") from None
        if code not in ACCEPTED:
            self._after_refusal(code)
            raise TransportError(code, _text(message))
        return f"{code} {_text(message)}"

    def _after_refusal(self, code: int) -> None:
        # 421 ends the session; anything else leaves it usable after RSET.
        if code == 421:
            self.close()
        else:
            self._reset()


def campaign_transport(config: Mapping) -> Transport:
    """The transport delivery workers use: pipelined SMTP, or the Maildir sink."""
    transport = transport_from_config(config)
    if not isinstance(transport, SMTPTransport):
        return transport
    return PipeliningSMTPTransport(
        host=transport.host, port=transport.port, use_tls=transport.use_tls,
        use_ssl=transport.use_ssl, username=transport.username, password=transport.password,
        timeout=transport.timeout, local_hostname=transport.local_hostname,
    )


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
