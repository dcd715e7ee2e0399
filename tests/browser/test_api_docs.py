"""/api/v1/docs in a real browser: Swagger UI renders the API from local files only; any request
to another host fails the test (and is refused, so a leak cannot go unnoticed as a slow page)."""

from urllib.parse import urlsplit

import pytest


@pytest.fixture
def database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'browser.db'}"


def test_api_docs_render_with_no_request_leaving_the_machine(page):
    leaked, requested, problems = [], [], []

    def guard(route):
        url = route.request.url
        host = urlsplit(url).hostname
        requested.append(url)
        if url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            route.continue_()
        else:
            leaked.append(url)
            route.abort()

    page.context.route("**/*", guard)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto("/api/v1/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("newsletter")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock-summary-path", has_text="/api/v1/subscribers").count() > 0
    assert leaked == []
    assert any(url.endswith("/api/v1/openapi.json") for url in requested)
    assert problems == []


def test_only_the_bundles_own_files_are_served(client):
    assert client.get("/api/v1/docs/assets/swagger-ui.css").status_code == 200
    assert client.get("/api/v1/docs/assets/index.html").status_code == 404
    assert client.get("/api/v1/docs/assets/..%2F..%2F__init__.py").status_code == 404
