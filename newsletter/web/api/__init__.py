"""The JSON API under /api/v1 (flask-smorest: the OpenAPI document is generated from the code).

Authentication: `Authorization: Bearer <token>`; tokens are created in the admin UI or with
`flask newsletter api-token create`, and only their SHA-256 is stored.

Every API blueprint is made by `api_blueprint`, which checks the token in `before_request`:
before flask-smorest parses the body, so a request without a valid token gets 401 and never
learns what a valid body looks like (422). A token has a role (models.Role): admin tokens may
do everything; the others may call the views of the roles their blueprint (or one view, with
`allow`) names, and a read-only token only reads.
"""

from __future__ import annotations

from flask_smorest import Api, Blueprint


def blueprints() -> list[Blueprint]:
    """Every API blueprint, in the order the OpenAPI document lists them."""
    from newsletter.web.api import (
        campaigns,
        inbound,
        layouts,
        lists,
        policy_versions,
        privacy_requests,
        purposes,
        subscribers,
        subscribers_bulk,
        suppressions,
        webhooks,
    )

    return [lists.blp, layouts.blp, subscribers.blp, subscribers_bulk.blp, suppressions.blp,
            campaigns.blp, inbound.blp, privacy_requests.blp, policy_versions.blp, purposes.blp,
            webhooks.blp]


def register(api: Api) -> None:
    """Register the API blueprints and the bearer security scheme."""
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer"}
    )
    for blp in blueprints():
        api.register_blueprint(blp, url_prefix=f"/api/v1{blp.url_prefix or ''}")
