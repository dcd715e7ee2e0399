"""How bytes leave the building: SMTP (connection reused) or the local Maildir sink.

A transport sends one already-rendered message: `send(envelope_from, recipient, raw)`.
Nothing here knows about campaigns or subscribers (STYLE.md example 11).
"""

from __future__ import annotations

import mailbox
import smtplib
import ssl
import time
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol


class TransportError(Exception):
    """A send failed. `code` is the SMTP reply code (0 for connection faults); `stage` is the
    step that failed: connect (connection, greeting, STARTTLS, AUTH), mail, rcpt or data."""

    def __init__(self, code: int, message: str, stage: str = "rcpt"):
        super().__init__(f"{code} {message}" if code else message)
        self.code = code
        self.message = message
        self.stage = stage

    @property
    def permanent(self) -> bool:
        """5xx: do not retry."""
        return 500 <= self.code < 600

    @property
    def about_recipient(self) -> bool:
        """Could this say anything about the recipient? Not when the connection, the greeting,
        TLS, AUTH or our MAIL FROM failed, nor a 421 (the server closes the session): those are
        the server's or ours, whoever the message was for."""
        return self.code not in (0, 421) and self.stage in ("rcpt", "data")


class Transport(Protocol):
    """What a sender needs from a transport."""

    def send(self, envelope_from: str, recipient: str, raw: bytes) -> str: ...

    def close(self) -> None: ...


class SMTPTransport:
    """SMTP with one connection kept open across messages; reconnects after a fault."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        use_tls: bool = False,
        use_ssl: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        local_hostname: str | None = None,
    ):
        self.host, self.port = host, port
        self.use_tls, self.use_ssl = use_tls, use_ssl
        self.username, self.password = username, password
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        # Loading the system CA bundle takes tens of milliseconds: only when TLS is used.
        context = ssl.create_default_context() if self.use_ssl or self.use_tls else None
        try:
            if self.use_ssl:
                conn = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context,
                    local_hostname=self.local_hostname,
                )
            else:
                conn = smtplib.SMTP(
                    self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname
                )
                if self.use_tls:
                    conn.starttls(context=context)
            if self.username:
                conn.login(self.username, self.password or "")
        except smtplib.SMTPResponseException as exc:
            raise TransportError(exc.smtp_code, reply_text(exc.smtp_error), "connect") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportError(0, f"cannot connect to {self.host}:{self.port}: {exc}",
                                 "connect") from None
        return conn

    def send(self, envelope_from: str, recipient: str, raw: bytes) -> str:
        """Send one message; return the server's reply text or raise TransportError."""
        if self._conn is None:
            self._conn = self._connect()
        try:
            refused = self._conn.sendmail(envelope_from, [recipient], raw)
        except smtplib.SMTPRecipientsRefused as exc:
            code, msg = next(iter(exc.recipients.values()))
            self._reset()
            raise TransportError(code, reply_text(msg)) from None
        except smtplib.SMTPResponseException as exc:
            # 421 and friends close the session; anything else leaves it usable after RSET.
            if exc.smtp_code == 421:
                self.close()
            else:
                self._reset()
            stage = "mail" if isinstance(exc, smtplib.SMTPSenderRefused) else "data"
            raise TransportError(exc.smtp_code, reply_text(exc.smtp_error), stage) from None
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            self.close()
            raise TransportError(0, f"connection lost: {exc}", "connect") from None
        if refused:
            code, msg = next(iter(refused.values()))
            raise TransportError(code, reply_text(msg))
        return "250 accepted"

    def _reset(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        """Quit politely if the connection is alive; forget it either way."""
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._conn = None


class MaildirTransport:
    """The development sink: every message lands in a Maildir under instance/, nothing leaves."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._box = mailbox.Maildir(self.path, create=True)

    def send(self, envelope_from: str, recipient: str, raw: bytes) -> str:
        """Store the message with the envelope as headers a reader can see."""
        envelope = (
            f"Return-Path: <{envelope_from}>\r\nDelivered-To: {recipient}\r\n"
            f"X-Sink-Received: {time.time():.6f}\r\n"
        ).encode()
        key = self._box.add(envelope + raw)
        return f"250 stored as {key}"

    def close(self) -> None:
        """Nothing to close."""


def transport_from_config(config: dict) -> Transport:
    """The SMTP transport when MAIL_SERVER is set, else the local Maildir sink."""
    if config.get("MAIL_SERVER"):
        return SMTPTransport(
            host=config["MAIL_SERVER"],
            port=config.get("MAIL_PORT", 25),
            use_tls=config.get("MAIL_USE_TLS", False),
            use_ssl=config.get("MAIL_USE_SSL", False),
            username=config.get("MAIL_USERNAME"),
            password=config.get("MAIL_PASSWORD"),
            timeout=config.get("MAIL_TIMEOUT", 30.0),
        )
    return MaildirTransport(config["NEWSLETTER_MAIL_SINK"])


def new_message_id(domain: str) -> str:
    """A Message-ID on our sending domain."""
    return make_msgid(domain=domain)


def reply_text(value: bytes | str) -> str:
    """An SMTP reply's text as str (servers may send 8-bit bytes)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
