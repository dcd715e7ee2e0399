"""The JSON API under /api/v1 (flask-smorest: the OpenAPI document is generated from the code).

Authentication: `Authorization: Bearer <token>`; tokens are created in the admin UI or with
`flask newsletter api-token create`, and only their SHA-256 is stored.
"""

from __future__ import annotations

from flask_smorest import Api, Blueprint


def blueprints() -> list[Blueprint]:
    """Every API blueprint, in the order the OpenAPI document lists them."""
    from newsletter.web.api import (
        campaigns,
        inbound,
        lists,
        privacy_requests,
        subscribers,
        suppressions,
    )

    return [lists.blp, subscribers.blp, suppressions.blp, campaigns.blp, inbound.blp,
            privacy_requests.blp]


def register(api: Api) -> None:
    """Register the API blueprints and the bearer security scheme."""
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer"}
    )
    for blp in blueprints():
        api.register_blueprint(blp, url_prefix=f"/api/v1{blp.url_prefix or ''}")
