"""Real servers for the tests, each on 127.0.0.1 with a free port: SMTP (aiosmtpd), IMAP (Dovecot),
a fresh PostgreSQL database, and the app under a real WSGI server (waitress) for the browser.

conftest.py wraps these in fixtures; bench scripts may use them too.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> bool:
    """True once something accepts connections on the port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


# --- SMTP ---------------------------------------------------------------------------------------


@dataclass
class ReceivedMessage:
    """One message as the SMTP server saw it: envelope and parsed content."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    peer: tuple | None = None  # the client's (address, port): one per SMTP connection


@dataclass
class SMTPSink:
    """An aiosmtpd server that keeps what it receives; tests can make it answer with errors."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[ReceivedMessage] = field(default_factory=list)
    # Replies to give instead of 250, consumed one per DATA (e.g. ["451 4.3.0 try later"]).
    planned_replies: list[str] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> reply for RCPT TO
    data_replies: dict[str, str] = field(default_factory=dict)  # address -> reply after DATA
    every_rcpt_reply: str | None = None  # while set, the answer to every RCPT TO (an outage)
    delay_seconds: float = 0.0
    # Client (address, port) of each connection the server has open (SinkController keeps it).
    open_peers: set = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # aiosmtpd handler hooks -----------------------------------------------------------------
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.every_rcpt_reply or self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay_seconds:
            import asyncio

            await asyncio.sleep(self.delay_seconds)
        with self._lock:
            if self.planned_replies:
                return self.planned_replies.pop(0)
            for address in envelope.rcpt_tos:
                if address.lower() in self.data_replies:
                    return self.data_replies[address.lower()]
            raw = envelope.original_content or envelope.content
            parsed = BytesParser(policy=policy.default).parsebytes(raw)
            self.messages.append(
                ReceivedMessage(envelope.mail_from, list(envelope.rcpt_tos), raw, parsed,
                                session.peer)
            )
        return "250 Message accepted for delivery"

    # test API ---------------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget received messages and planned failures."""
        with self._lock:
            self.messages.clear()
            self.planned_replies.clear()
            self.rcpt_replies.clear()
            self.data_replies.clear()
            self.every_rcpt_reply = None
            self.delay_seconds = 0.0

    def to(self, address: str) -> list[ReceivedMessage]:
        """Messages whose envelope recipients include `address`."""
        return [m for m in list(self.messages) if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Wait until at least `count` messages arrived; return them all."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.messages)


class _PeerTrackingSMTP(SMTP):
    """aiosmtpd's server, telling the sink which connections are open."""

    def connection_made(self, transport):
        super().connection_made(transport)
        self.event_handler.open_peers.add(self.session.peer)

    def connection_lost(self, error):
        # aiosmtpd cancels the connection's handler here: a DATA it was handling is dropped.
        peer = self.session.peer
        super().connection_lost(error)
        self.event_handler.open_peers.discard(peer)


class SinkController(Controller):
    """An aiosmtpd Controller whose sink knows which connections are open."""

    def factory(self):
        return _PeerTrackingSMTP(self.handler, **self.SMTP_kwargs)


def start_smtp(port: int | None = None, **smtp_kwargs) -> tuple[SMTPSink, Controller]:
    """Start aiosmtpd on a loopback port (a free one unless given)."""
    sink = SMTPSink()
    port = port or free_port()
    controller = SinkController(
        sink, hostname="127.0.0.1", port=port, decode_data=False,
        data_size_limit=50 * 1024 * 1024, enable_SMTPUTF8=True, **smtp_kwargs,
    )
    controller.start()
    sink.port = port
    return sink, controller


class ScriptedRelay:
    """A tiny SMTP server that refuses us the way a broken relay does: with a fixed greeting
    ("554 no service") and then hangs up, or greets, offers AUTH and answers every AUTH with
    `auth_reply` ("535 ..."). aiosmtpd cannot be made to do either."""

    def __init__(self, greeting: str = "220 relay ESMTP", auth_reply: str | None = None,
                 port: int | None = None):
        import socketserver

        def send(sock, line: str) -> None:
            sock.sendall((line + "\r\n").encode())

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                send(self.request, greeting)
                if not greeting.startswith("220"):
                    return
                for raw in self.rfile:
                    verb = raw.decode("ascii", "replace").strip().split(" ")[0].upper()
                    if verb in ("EHLO", "HELO"):
                        send(self.request, "250-relay\r\n250 AUTH PLAIN LOGIN")
                    elif verb == "AUTH" and auth_reply:
                        send(self.request, auth_reply)
                    elif verb == "QUIT":
                        send(self.request, "221 bye")
                        return
                    else:
                        send(self.request, "530 5.7.0 Authentication required")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", port or free_port()), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- IMAP (Dovecot) -----------------------------------------------------------------------------


@dataclass
class Dovecot:
    """A private Dovecot serving one test user over plain IMAP on loopback."""

    root: Path
    port: int
    user: str = "newsletter"
    password: str = "imap-test-password"
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The NEWSLETTER_INBOUND value that points at this server."""
        return f"imap://{self.user}:{self.password}@127.0.0.1:{self.port}/INBOX"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def start_dovecot(capability: str | None = None) -> Dovecot:
    """Run `dovecot -F -c <generated config>` without systemd; raise RuntimeError if it fails.

    `capability` replaces what IMAP announces after login (Dovecot's `imap_capability`), to play
    a server without MOVE or UIDPLUS."""
    if not Path(DOVECOT).exists():
        raise RuntimeError("dovecot is not installed (apt-get install dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="nl-dovecot-"))
    root.chmod(0o755)
    port = free_port()
    server = Dovecot(root=root, port=port)
    mail_user = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
    (root / "mail").mkdir()
    (root / "run").mkdir()
    (root / "passwd").write_text(f"{server.user}:{{PLAIN}}{server.password}\n")
    if os.geteuid() == 0:
        os.chown(root / "mail", mail_user.pw_uid, mail_user.pw_gid)
    login_users = ""
    if os.geteuid() == 0:
        login_users = "default_internal_user = dovecot\ndefault_login_user = dovenull\n"
    else:
        me = mail_user.pw_name
        login_users = f"default_internal_user = {me}\ndefault_login_user = {me}\n"
    (root / "dovecot.conf").write_text(
        f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = nl-test-{port}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
{f"imap_capability = {capability}" if capability else ""}
{login_users}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
"""
    )
    (root / "state").mkdir()
    server.process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    if not wait_for_port(port, 15):
        log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
        output = ""
        if server.process.poll() is not None:
            output = server.process.stdout.read().decode(errors="replace")
        server.stop()
        raise RuntimeError(f"dovecot did not start: {output} {log}".strip())
    return server


# --- PostgreSQL ---------------------------------------------------------------------------------


def create_pg_database(server_url: str) -> str:
    """Create a fresh database on the server of `server_url`; return its SQLAlchemy URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"newsletter_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def drop_pg_database(database_url: str) -> None:
    """Drop a database made by create_pg_database (ends its connections first)."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    admin = url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')


# --- WSGI server for the browser ----------------------------------------------------------------


class LiveServer:
    """The app under waitress in a background thread."""

    def __init__(self, app):
        from waitress import create_server

        self.server = create_server(app, host="127.0.0.1", port=0, threads=8, ident="test")
        self.port = self.server.effective_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.close()
