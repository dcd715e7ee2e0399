"""Admin: the dashboard charts, drawn on the server as SVG (pygal), shown with <img>.

No script runs and nothing loads from elsewhere: pygal's tooltip script is switched off
(`js=[]`), and the inline config script it writes anyway (it names file:// style sheets) and
its comments (its home page address) are dropped. An SVG in an
<img> never runs scripts; its own policy below allows only its inline style.
"""

from __future__ import annotations

import re

import pygal
from flask import abort, make_response
from pygal.style import Style

from newsletter.extensions import db
from newsletter.models import utcnow
from newsletter.sending import analytics, trends
from newsletter.web.admin.blueprint import bp

# GET /admin/charts/<name>.svg    subscribers | sends | rates

SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"
STYLE = Style(background="white", plot_background="white", foreground="#222",
              foreground_strong="#111", foreground_subtle="#888",
              colors=("#1f6feb", "#d97706", "#b91c1c", "#15803d", "#6d28d9", "#0e7490"),
              font_family="system-ui, sans-serif")
_DROPPED = re.compile(r"<!--.*?-->|<script\b.*?</script>", re.S)


def _chart(kind, title: str, **options):
    settings = dict(title=title, js=[], disable_xml_declaration=True, style=STYLE, width=720,
                    height=320, explicit_size=False, show_dots=False, x_label_rotation=30,
                    show_minor_x_labels=False, truncate_legend=40, legend_at_bottom=True)
    return kind(**{**settings, **options})


def render(chart) -> str:
    """The chart's SVG without pygal's comments and config script."""
    return _DROPPED.sub("", chart.render(is_unicode=True))


def subscribers_chart() -> str:
    """Confirmed subscribers per list over the last days."""
    series = trends.subscribers_per_list(db.session, utcnow())
    chart = _chart(pygal.Line, "Subscribers per list")
    chart.x_labels = series.days
    chart.x_labels_major = series.days[::7]
    for name, values in series.lines.items():
        chart.add(name, values)
    return render(chart)


def sends_chart() -> str:
    """Campaign copies sent per day."""
    series = trends.sends_per_day(db.session, utcnow())
    chart = _chart(pygal.Bar, "Copies sent per day")
    chart.x_labels = series.days
    chart.x_labels_major = series.days[::7]
    chart.add("sent", series.lines["sent"])
    return render(chart)


def rates_chart() -> str:
    """Unsubscribe, bounce and complaint rates of the last campaigns, with the 0.3% line."""
    recent = analytics.recent_campaigns(db.session)
    chart = _chart(pygal.Line, "Rates per campaign (% of copies accepted)", show_dots=True,
                   value_formatter=lambda v: f"{v:.2f}%")
    chart.x_labels = [(c.name or c.subject)[:24] for c, _ in recent]
    percent = [(figures, lambda n: round(100 * n, 3)) for _, figures in recent]
    chart.add("unsubscribes", [p(f.rate(f.unsubscribes)) for f, p in percent])
    chart.add("bounces", [p(f.rate(f.bounced)) for f, p in percent])
    chart.add("complaints", [p(f.rate(f.complaints)) for f, p in percent])
    # Gmail and Yahoo refuse bulk mail from senders whose spam rate reaches 0.3%.
    chart.add("complaint limit (Gmail, Yahoo) 0.3%",
              [100 * analytics.COMPLAINT_RATE_LIMIT] * max(len(recent), 1),
              stroke_style={"dasharray": "6, 4", "width": 2})
    return render(chart)


CHARTS = {"subscribers": subscribers_chart, "sends": sends_chart, "rates": rates_chart}


@bp.get("/charts/<name>.svg")
def chart(name: str):
    """One dashboard chart as an SVG image."""
    draw = CHARTS.get(name) or abort(404)
    response = make_response(draw())
    response.headers["Content-Type"] = "image/svg+xml; charset=utf-8"
    response.headers["Content-Security-Policy"] = SVG_CSP
    response.headers["Cache-Control"] = "no-store"
    return response
