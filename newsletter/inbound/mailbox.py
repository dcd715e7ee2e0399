"""Where inbound mail is read from: IMAP (imapclient, UID based) or a local Maildir (stdlib).

A source lists the messages waiting in its folder and moves one to another folder; it never
deletes a message it has not moved. On IMAP that means MOVE (RFC 6851), or COPY and then UID
EXPUNGE of that one UID (UIDPLUS, RFC 4315); a plain EXPUNGE would also remove every message
another client has flagged \\Deleted, so without either extension the original stays, flagged
\\Deleted and `$NewsletterFiled`, for whoever expunges the mailbox. A message another client
flagged \\Deleted is that client's to remove or restore: it is neither read nor moved.
`poll.py` moves a message only after its database transaction committed, so a crash in between
leaves it waiting, and its Message-ID and digest make the next pass skip the actions taken.

NEWSLETTER_INBOUND: `imaps://user:pass@host[:port]/FOLDER`, `imap://...` (plain only on
loopback; STARTTLS elsewhere) or `maildir:/path`.
"""

from __future__ import annotations

import mailbox
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

LOOPBACK = ("127.0.0.1", "::1", "localhost")
FETCH_CHUNK = 50  # UIDs per FETCH: bounded memory with large messages
# Set with \Deleted on a message copied to its folder where it could not be moved.
FILED = "$NewsletterFiled"


class SourceError(Exception):
    """The mailbox cannot be reached or is misconfigured; the message says which."""


@dataclass
class Fetched:
    """One waiting message: its id in the source, its bytes, and its full size."""

    ref: int | str
    raw: bytes
    size: int

    @property
    def truncated(self) -> bool:
        """Only the headers were fetched (the message is over the size limit)."""
        return self.size > len(self.raw)


class IMAPSource:
    """An IMAP folder. UIDs identify messages; MOVE, COPY + UID EXPUNGE, or COPY + a flag."""

    def __init__(self, url: str, max_bytes: int, timeout: float = 60.0):
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname:
            raise SourceError("NEWSLETTER_INBOUND must look like imaps://user:pass@host/INBOX")
        self.host, self.tls = parts.hostname, parts.scheme == "imaps"
        self.port = parts.port or (993 if self.tls else 143)
        self.user, self.password = unquote(parts.username or ""), unquote(parts.password or "")
        self.folder = unquote(parts.path.lstrip("/")) or "INBOX"
        self.max_bytes, self.timeout = max_bytes, timeout
        self.client = None
        self._folders: dict[str, str] = {}  # configured name -> name on the server
        self._keywords = True  # the folder keeps keywords such as FILED (PERMANENTFLAGS \*)

    def __enter__(self) -> IMAPSource:
        from imapclient import IMAPClient

        try:
            context = ssl.create_default_context()
            self.client = IMAPClient(self.host, port=self.port, ssl=self.tls,
                                     ssl_context=context if self.tls else None,
                                     timeout=self.timeout)
            if not self.tls and self.host not in LOOPBACK:
                # Never send a password in the clear over a network.
                self.client.starttls(context)
            self.client.login(self.user, self.password)
            selected = self.client.select_folder(self.folder)
            self._keywords = b"\\*" in selected.get(b"PERMANENTFLAGS", (b"\\*",))
        except Exception as exc:  # noqa: BLE001 - socket, TLS and IMAP errors all mean "cannot read"
            self.close()
            raise SourceError(f"IMAP {self.host}:{self.port}: {exc}") from None
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Log out (quietly: the connection may already be gone)."""
        if self.client is not None:
            try:
                self.client.logout()
            except Exception:  # noqa: BLE001
                pass
            self.client = None

    def fetch(self) -> Iterator[Fetched]:
        """Every message in the folder, oldest first; huge ones as their headers only."""
        uids = sorted(self.client.search("UNDELETED"))
        for start in range(0, len(uids), FETCH_CHUNK):
            chunk = uids[start:start + FETCH_CHUNK]
            sizes = self.client.fetch(chunk, ["RFC822.SIZE"])
            small = [u for u in chunk if sizes.get(u, {}).get(b"RFC822.SIZE", 0) <= self.max_bytes]
            big = [u for u in chunk if u not in small and u in sizes]
            data = self.client.fetch(small, ["BODY.PEEK[]"]) if small else {}
            heads = self.client.fetch(big, ["BODY.PEEK[HEADER]"]) if big else {}
            for uid in chunk:
                size = sizes.get(uid, {}).get(b"RFC822.SIZE", 0)
                if uid in data:
                    yield Fetched(uid, bytes(data[uid].get(b"BODY[]") or b""), size)
                elif uid in heads:
                    yield Fetched(uid, bytes(heads[uid].get(b"BODY[HEADER]") or b""), size)

    def move(self, ref: int | str, folder: str) -> None:
        """Move one message to `folder`, creating the folder if it is missing.

        Only this message is ever expunged: never a plain EXPUNGE, which would also remove the
        messages another client marked \\Deleted."""
        folder = self._folders.get(folder) or self._ensure_folder(folder)
        if self.client.has_capability("MOVE"):
            self.client.move([ref], folder)
            return
        self.client.copy([ref], folder)
        if self.client.has_capability("UIDPLUS"):
            self.client.delete_messages([ref])
            self.client.uid_expunge([ref])
        else:
            # \Deleted keeps it out of later passes; the keyword tells people who filed it.
            self.client.add_flags([ref], [b"\\Deleted", FILED] if self._keywords
                                  else [b"\\Deleted"])

    def _ensure_folder(self, name: str) -> str:
        """The folder's real name, created if missing. Servers whose personal namespace has a
        prefix (Courier, some Dovecots: "INBOX.") refuse top-level folders: use the prefix."""
        from imapclient.exceptions import IMAPClientError

        candidates = [name]
        try:
            personal = self.client.namespace().personal or []
            prefix = personal[0][0] if personal else ""
            if isinstance(prefix, bytes):
                prefix = prefix.decode()
            if prefix and not name.startswith(prefix):
                candidates.append(prefix + name)
        except IMAPClientError:
            pass
        for candidate in candidates:
            if self.client.folder_exists(candidate):
                self._folders[name] = candidate
                return candidate
        error = None
        for candidate in candidates:
            try:
                self.client.create_folder(candidate)
            except IMAPClientError as exc:
                error = exc
                continue
            self._folders[name] = candidate
            return candidate
        raise SourceError(f"cannot create the IMAP folder {name!r}: {error}")


class MaildirSource:
    """A local Maildir (the development default): moved messages go to Maildir++ sub-folders."""

    def __init__(self, path: str, max_bytes: int):
        self.path, self.max_bytes = Path(path), max_bytes
        self.box: mailbox.Maildir | None = None

    def __enter__(self) -> MaildirSource:
        try:
            # People drop files into new/ by hand: make the rest of the Maildir if it is missing.
            for sub in ("new", "cur", "tmp"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
            self.box = mailbox.Maildir(self.path, factory=None, create=True)
        except OSError as exc:
            raise SourceError(f"Maildir {self.path}: {exc}") from None
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release; here for the same shape as IMAPSource."""
        self.box = None

    def fetch(self) -> Iterator[Fetched]:
        """Every message in new/ and cur/ of the top folder; huge ones as their headers only."""
        for key in sorted(self.box.keys()):
            try:
                with self.box.get_file(key) as fh:
                    raw = fh.read(self.max_bytes + 1)
                    size = len(raw) if len(raw) <= self.max_bytes else self.max_bytes + 1
            except (KeyError, FileNotFoundError):
                continue  # moved by a concurrent poller
            if size > self.max_bytes:
                end = raw.find(b"\n\n")
                raw = raw[:end if end >= 0 else 65536]
            yield Fetched(key, raw, size)

    def move(self, ref: int | str, folder: str) -> None:
        """Move one message into the sub-folder (created if missing)."""
        name = folder.strip(".").replace("/", ".")
        try:
            target = self.box.get_folder(name)
        except mailbox.NoSuchMailboxError:
            target = self.box.add_folder(name)
        # A rename within one file system: atomic, the message is never in both folders.
        source = self.path / self.box._lookup(ref)  # noqa: SLF001 - stdlib has no public path API
        destination = Path(target._path) / "cur" / source.name  # noqa: SLF001
        source.rename(destination)
        self.box._refresh()  # noqa: SLF001


def open_source(config: dict) -> IMAPSource | MaildirSource:
    """The configured source (use it as a context manager)."""
    url = config.get("NEWSLETTER_INBOUND") or ""
    max_bytes = config.get("NEWSLETTER_INBOUND_MAX_BYTES", 25 * 1024 * 1024)
    if url.startswith(("imap://", "imaps://")):
        return IMAPSource(url, max_bytes)
    if url.startswith("maildir:"):
        return MaildirSource(url[len("maildir:"):], max_bytes)
    raise SourceError("NEWSLETTER_INBOUND is not set (imaps://..., imap://... or maildir:/path)")
