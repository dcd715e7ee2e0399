"""DKIM signing (RFC 6376) of outgoing newsletters, when a key is configured.

The key is read once from the file named by NEWSLETTER_DKIM_KEY_FILE; selector and domain come
from NEWSLETTER_DKIM_SELECTOR and NEWSLETTER_DKIM_DOMAIN. The signature covers the headers of
DESIGN.md section 9, the List-* headers included, so a receiver can trust the one-click link.

Why not `dkim.sign()`: dkimpy does the RSA arithmetic in pure Python (about 6 ms per message for a
2048-bit key) and canonicalises the body with regexes; at newsletter volume that is the bottleneck.
Here the RSA step runs in OpenSSL (`cryptography`) and the body uses the "simple" canonicalisation
(dkimpy's default too: relaxed headers, simple body), which for our CRLF bodies is a hash of the
bytes as they are. Tests verify every signature with dkimpy.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

FIELD_SPLIT = re.compile(rb"\r\n(?![ \t])")
WSP = re.compile(rb"[ \t]+")


def _relaxed(name: bytes, value: bytes) -> bytes:
    """RFC 6376 3.4.2: lower-case name, unfold, squeeze whitespace, trim."""
    value = WSP.sub(b" ", value.replace(b"\r\n", b"")).strip()
    return name.strip().lower() + b":" + value


class DkimSigner:
    """Signs raw CRLF messages with one RSA key (rsa-sha256, c=relaxed/simple)."""

    def __init__(self, private_key: bytes, selector: str, domain: str, headers: Sequence[str]):
        self.key = serialization.load_pem_private_key(private_key, password=None)
        self.selector, self.domain = selector, domain
        self.headers = [h.lower().encode() for h in headers]

    def sign(self, raw: bytes, now: float | None = None) -> bytes:
        """The message with a DKIM-Signature header in front."""
        head, _, body = raw.partition(b"\r\n\r\n")
        # Simple body canonicalisation: the body with trailing empty lines reduced to one CRLF.
        body = body.rstrip(b"\r\n") + b"\r\n"
        body_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
        fields: dict[bytes, list[tuple[bytes, bytes]]] = {}
        for line in FIELD_SPLIT.split(head):
            name, _, value = line.partition(b":")
            fields.setdefault(name.strip().lower(), []).append((name, value))
        signed, names = [], []
        for name in self.headers:
            if fields.get(name):
                # RFC 6376 5.4.2: the last instance of a field is signed first.
                signed.append(_relaxed(*fields[name][-1]))
                names.append(name.decode())
        stamp = int(time.time() if now is None else now)
        value = (f"v=1; a=rsa-sha256; c=relaxed/simple; d={self.domain}; s={self.selector};"
                 f" t={stamp}; h={':'.join(names)};\r\n bh={body_hash};\r\n b=")
        data = b"\r\n".join(signed) + b"\r\n" + _relaxed(b"DKIM-Signature", value.encode())
        signature = self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        b64 = base64.b64encode(signature).decode()
        folded = "\r\n ".join(b64[i:i + 72] for i in range(0, len(b64), 72))
        return f"DKIM-Signature: {value}{folded}\r\n".encode() + raw


def signer_from_config(config: Mapping, headers: Sequence[str]) -> DkimSigner | None:
    """A signer when NEWSLETTER_DKIM_KEY_FILE is set, else None (mail goes out unsigned).

    The parsed key is kept per file version (path and mtime): transactional mail asks for a
    signer per message, and parsing a PEM RSA key costs more than the signature itself.
    """
    path = config.get("NEWSLETTER_DKIM_KEY_FILE")
    if not path:
        return None
    return _signer(path, Path(path).stat().st_mtime_ns,
                   config.get("NEWSLETTER_DKIM_SELECTOR", "newsletter"),
                   config.get("NEWSLETTER_DKIM_DOMAIN") or config["NEWSLETTER_MAIL_DOMAIN"],
                   tuple(headers))


@functools.lru_cache(maxsize=8)
def _signer(path: str, _mtime_ns: int, selector: str, domain: str,
            headers: tuple[str, ...]) -> DkimSigner:
    return DkimSigner(Path(path).read_bytes(), selector, domain, headers)
