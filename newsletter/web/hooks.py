"""Where sending services POST their events (integrations/providers/*). Thin: the request as
plain values -> the provider's check and reading -> integrations.events.accept (commits per
event) -> commit (a Mailgun token is remembered even when no event needed acting on).

A provider that is not configured answers 404; a bad or missing signature, a stale timestamp
or a replayed token 401, with nothing changed; a verified body we cannot read 400; a failed
call back to the service (the SNS SubscribeURL) 502.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, jsonify, request

from newsletter.extensions import csrf, db
from newsletter.integrations import events
from newsletter.integrations.providers import PROVIDERS
from newsletter.integrations.providers.common import Incoming
from newsletter.models import utcnow

bp = Blueprint("hooks", __name__)
log = logging.getLogger(__name__)

# POST /hooks/<provider>            ses | postmark | sendgrid | mailgun
# POST /hooks/<provider>/<secret>   the same, with a secret in the URL (Postmark)


@bp.post("/hooks/<provider>")
@bp.post("/hooks/<provider>/<secret>")
@csrf.exempt  # the caller is a service, authenticated by its signature, not a browser session
def receive(provider: str, secret: str | None = None):
    """Verify and handle one webhook request of a sending service."""
    module = PROVIDERS.get(provider)
    config = current_app.config
    if module is None or not module.enabled(config):
        abort(404)
    auth = request.authorization
    incoming = Incoming(body=request.get_data(cache=False), headers=request.headers,
                        url_secret=secret, username=auth.username if auth else None,
                        password=auth.password if auth else None)
    now = utcnow()
    try:
        found = module.events(db.session, config, incoming, now)
        summary = events.accept(db.session, found, config=config, now=now)
        db.session.commit()
    except events.Refused as exc:
        db.session.rollback()
        log.warning("%s webhook refused: %s", provider, exc)
        return jsonify(error="unauthorized"), 401
    except events.Malformed as exc:
        db.session.rollback()
        return jsonify(error=str(exc)), 400
    except events.Unreachable as exc:
        db.session.rollback()
        log.warning("%s webhook: %s", provider, exc)
        return jsonify(error=str(exc)), 502
    return jsonify(summary.as_dict()), 200
