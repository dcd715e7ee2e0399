"""The bounded sandbox: runaway templates are refused within seconds, naming the limit, before
the huge value is built; ordinary templates render as before."""

from __future__ import annotations

import time

import pytest

from newsletter.sending import compose, sandbox

EMPTY = compose.Recipient(0, "reader@example.org", "", {})
BIG = "{% set s = 'y' * 100000 %}"


@pytest.mark.parametrize("body,limit", [
    ("{{ 'x' * 10**9 }}", "NEWSLETTER_TEMPLATE_MAX_BYTES"),
    ("{{ ['x'] * 10**9 }}", "NEWSLETTER_TEMPLATE_MAX_BYTES"),
    ("ok\n" + BIG + "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
     "line 2: more than 100000 loop iterations (NEWSLETTER_TEMPLATE_MAX_LOOP)"),
    ("{{ '%1000000000s'|format(1) }}", "NEWSLETTER_TEMPLATE_MAX_BYTES"),
    ("{{ '%1000000000s' % 1 }}", "NEWSLETTER_TEMPLATE_MAX_BYTES"),
    ("{{ '{:>1000000000}'.format(1) }}", "NEWSLETTER_TEMPLATE_MAX_BYTES"),
    ("{{ 'x'.center(10**9) }}", "NEWSLETTER_TEMPLATE_MAX_BYTES"),
    ("{{ 10**100000 }}", "too large"),
    (BIG + "{{ s|replace('y', s) }}", "NEWSLETTER_TEMPLATE_MAX_BYTES"),
    (BIG + "{{ s|join(s) }}", "NEWSLETTER_TEMPLATE_MAX_BYTES"),
    ("{% set a = 'x' * 2000000 %}{{ a ~ a }}", "NEWSLETTER_TEMPLATE_MAX_BYTES"),
    # Each copy is allowed, together they are not: captured output is counted too.
    ("{% set a = 'x' * 2000000 %}{% set b %}{% for i in [1,2,3,4,5,6,7,8,9] %}{{ a }}"
     "{% endfor %}{% endset %}", "NEWSLETTER_TEMPLATE_MAX_BYTES"),
])
def test_runaway_templates_are_refused_at_save_within_seconds_naming_the_limit(body, limit):
    started = time.monotonic()
    with pytest.raises(compose.TemplateProblem) as refused:
        compose.validate("Subject", body, "markdown")
    assert limit in str(refused.value)
    assert time.monotonic() - started < 5


def test_a_template_that_only_burns_time_is_stopped_at_the_time_limit():
    # No loop and nothing big: 2**30 macro calls. Only the clock can stop it.
    body = ("{% macro f(d) %}{% if d < 30 %}{{ f(d + 1) }}{{ f(d + 1) }}{% endif %}{% endmacro %}"
            "{{ f(0) }}")
    started = time.monotonic()
    with pytest.raises(compose.TemplateProblem, match="NEWSLETTER_TEMPLATE_MAX_SECONDS"):
        compose.validate("Subject", body, "markdown", limits=compose.Limits(seconds=0.3))
    assert time.monotonic() - started < 3


def test_limits_come_from_the_config():
    limits = compose.Limits.from_config({"NEWSLETTER_TEMPLATE_MAX_SECONDS": 0.5,
                                         "NEWSLETTER_TEMPLATE_MAX_BYTES": 1000,
                                         "NEWSLETTER_TEMPLATE_MAX_LOOP": 10})
    assert limits == compose.Limits(0.5, 1000, 10)
    template = compose.TEXT_ENV.from_string("{% for i in [1] * 11 %}.{% endfor %}")
    with pytest.raises(sandbox.TemplateLimitError, match="more than 10 loop iterations"):
        sandbox.render(template, {}, limits)
    with pytest.raises(sandbox.TemplateLimitError, match="larger than 1000 bytes"):
        sandbox.render(compose.TEXT_ENV.from_string("{{ 'x' * 1001 }}"), {}, limits)


def test_ordinary_templates_render_as_before():
    source = ("{% for a in [1, 2, 3] %}{{ loop.index }}{{ a * 2 }}{% endfor %} {{ 'ab' * 3 }} "
              "{{ '%5.2f'|format(3.14159) }} {{ '{:>4}'.format('x') }} {{ [1, 2]|join(', ') }} "
              "{{ 'a' ~ 'b' }} {{ 2**10 }} {{ 'x'|center(5) }}|")
    out = sandbox.render(compose.TEXT_ENV.from_string(source), {}, compose.Limits())
    assert out == "122436 ababab  3.14    x 1, 2 ab 1024   x  |"


@pytest.mark.parametrize("body,fragment", [
    ("Hi\n{{ subscriber.attributes.city.upper() }}", "line 2"),
    ("Hi\n\n{{ 100 / (subscriber.name|length) }}", "line 3: division by zero"),
])
def test_save_renders_for_a_reader_with_no_name_and_no_attributes(body, fragment):
    with pytest.raises(compose.TemplateProblem) as refused:
        compose.validate("Subject", body, "markdown")
    assert fragment in str(refused.value)
    assert "no name and no attributes" in str(refused.value)


def test_save_renders_for_the_real_subscribers_given():
    body = "{% if subscriber.attributes.plan %}{{ subscriber.attributes.plan.title() }}{% endif %}"
    compose.validate("S", body, "markdown")  # no sample reader has a plan
    odd = compose.Recipient(9, "odd@example.net", "Odd", {"plan": 7})
    with pytest.raises(compose.TemplateProblem, match="for subscriber odd@example.net"):
        compose.validate("S", body, "markdown", samples=[odd])


@pytest.mark.parametrize("body", [
    "{{ 'x' * 10**9 }}",
    "{{ '%1000000000s'|format(1) }}",
    BIG + "{{ s|replace('y', s) }}",
    BIG + "{{ s|join(s) }}",
])
def test_memory_stays_flat_while_a_runaway_template_is_refused(body):
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(compose.TemplateProblem):
            compose.validate("Subject", body, "markdown")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 * 1024  # the refused values would be a gigabyte or more
