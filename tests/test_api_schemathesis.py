"""Schemathesis generates requests from /api/v1/openapi.json (served by the app, in-process over
WSGI) and sends them with a valid bearer token: no input may produce a server error.

Runs on SQLite and PostgreSQL (PostgreSQL refuses NUL characters in strings: a classic 500)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from newsletter.extensions import db
from newsletter.models import MailingList

EXAMPLES_PER_OPERATION = 25


def aimed(case, aim: bool):
    """Half the cases name things that exist, so generation also reaches past the 404s."""
    if not aim:
        return case
    if case.path_parameters:
        if "slug" in case.path_parameters:
            case.path_parameters["slug"] = "news"
        for name in ("subscriber_id", "layout_id", "webhook_id"):
            if name in case.path_parameters:
                case.path_parameters[name] = 1
    if isinstance(case.body, dict):
        if "lists" in case.body:
            case.body["lists"] = ["news"]
        if "action" in case.body:  # a bulk action: one way of choosing, the list it names
            case.body.pop("matching", None)
            case.body.update(ids=[1], list="news")
        if "email" in case.body:
            case.body["email"] = "ada@example.org"
    return case


def test_api_never_answers_with_a_server_error(app, api_token):
    # Generated input hits the subscribe endpoint many times a second; the limit is not under test.
    app.config["NEWSLETTER_SUBSCRIBE_RATE_LIMIT"] = "100000/minute"
    with app.app_context():
        db.session.add(MailingList(slug="news", name="News", public=True))
        db.session.commit()
    client = app.test_client()
    assert client.post("/api/v1/subscribers", headers=api_token, json={
        "email": "ada@example.org", "lists": ["news"]}).status_code == 201
    # Something for the layout and webhook operations to reach past their 404s.
    assert client.post("/api/v1/lists/news/layouts", headers=api_token, json={
        "name": "Plain", "source": "<div>{{ content }}</div>"}).status_code == 201
    app.config["NEWSLETTER_WEBHOOK_ALLOW_PRIVATE"] = True  # registered, never called here
    assert client.post("/api/v1/webhooks", headers=api_token, json={
        "url": "http://127.0.0.1:9/hook", "events": ["subscribed"]}).status_code == 201
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deleting goes last, so what the others are aimed at (layout 1, webhook 1) is still there.
    operations.sort(key=lambda operation: operation.method.upper() == "DELETE")
    assert len(operations) >= 52

    for operation in operations:
        @given(case=st.builds(aimed, operation.as_strategy(), st.booleans()))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), derandomize=True)
        def no_server_error(case):
            case.call_and_validate(headers=api_token, checks=[not_a_server_error])

        no_server_error()
