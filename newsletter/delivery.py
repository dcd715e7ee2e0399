"""The outbox: delivery workers claim batches of Delivery rows, send them, mark them sent.

(Skeleton: campaign delivery is added by the campaigns issue; this loop already sends the
transactional queue so a lone worker keeps confirmations flowing.)
"""

from __future__ import annotations

import threading

from flask import Flask

from newsletter import mailer
from newsletter.extensions import db
from newsletter.models import utcnow
from newsletter.transport import transport_from_config

IDLE_SECONDS = 2.0


def run_worker(app: Flask, stop: threading.Event, once: bool = False) -> int:
    """Send until `stop` is set (or one pass with `once`); returns how many were sent."""
    total = 0
    with app.app_context():
        transport = transport_from_config(app.config)
        try:
            while not stop.is_set():
                sent = mailer.send_queued(db.session, transport, utcnow())
                total += sent
                db.session.remove()
                if once:
                    break
                if not sent:
                    stop.wait(IDLE_SECONDS)
        finally:
            transport.close()
    return total
