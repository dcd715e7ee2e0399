"""The dashboard in a real browser: its charts are SVG images drawn on the server, no script,
and no request leaves the machine (any request to another host fails the test)."""

import re
from urllib.parse import urlsplit

import pytest
from campaign_support import drain, start_campaign


@pytest.fixture
def database_url(tmp_path):
    # Page tests exercise the browser; tests/sending/test_trends.py runs the queries on both.
    return f"sqlite:///{tmp_path / 'browser.db'}"


def test_dashboard_charts_render_as_svg_with_nothing_from_elsewhere(page, auth, app, smtp):
    start_campaign(app, 3)
    drain(app)
    leaked, svgs, problems = [], {}, []

    def guard(route):
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            leaked.append(url)
            route.abort()

    def keep_svg(response):
        if "/admin/charts/" in response.url:
            svgs[urlsplit(response.url).path] = (response.headers.get("content-type", ""),
                                                 response.text())

    page.context.route("**/*", guard)
    page.on("response", keep_svg)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    auth.create()
    page.goto("/login")
    page.fill("input[name=email]", "admin@example.org")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    page.wait_for_load_state("load")
    for name in ("subscribers", "sends", "rates"):
        image = page.locator(f"img#chart-{name}")
        # Decoded and drawn: a broken or refused image has no natural width.
        assert image.evaluate("img => img.complete && img.naturalWidth") > 0, name
    assert set(svgs) == {f"/admin/charts/{n}.svg" for n in ("subscribers", "sends", "rates")}
    for path, (content_type, body) in svgs.items():
        assert content_type.startswith("image/svg+xml"), path
        assert body.lstrip().startswith("<svg"), path
        assert "<script" not in body, path
        # The SVG namespace is a name, not a request; no other address may be in the file.
        assert re.findall(r"[a-z]+://[^\s\"'<>]+", body) == ["http://www.w3.org/2000/svg"], path
    assert "Weekly News" in svgs["/admin/charts/subscribers.svg"][1]
    assert "0.3%" in svgs["/admin/charts/rates.svg"][1]
    assert page.locator("script").count() == 0
    assert leaked == []
    assert problems == []
