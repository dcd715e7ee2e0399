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
        if "subscriber_id" in case.path_parameters:
            case.path_parameters["subscriber_id"] = 1
    if isinstance(case.body, dict):
        if "lists" in case.body:
            case.body["lists"] = ["news"]
        if "email" in case.body:
            case.body["email"] = "ada@example.org"
    return case


def test_api_never_answers_with_a_server_error(app, api_token):
    # Generated input hits the subscribe endpoint many times a second; the limit is not under test.
    app.config["NEWSLETTER_SUBSCRIBE_RATE_LIMIT"] = "100000/minute"
    with app.app_context():
        db.session.add(MailingList(slug="news", name="News", public=True))
        db.session.commit()
    assert app.test_client().post("/api/v1/subscribers", headers=api_token, json={
        "email": "ada@example.org", "lists": ["news"]}).status_code == 201
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8

    for operation in operations:
        @given(case=st.builds(aimed, operation.as_strategy(), st.booleans()))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), derandomize=True)
        def no_server_error(case):
            case.call_and_validate(headers=api_token, checks=[not_a_server_error])

        no_server_error()
