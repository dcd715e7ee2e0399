"""Every schema change is a migration: upgrade, downgrade to base, upgrade again; and the
migrations describe exactly the models."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from newsletter import create_app
from newsletter.extensions import db

import servers
from conftest import TEST_SECRET, unavailable


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def empty_database_url(request, tmp_path, pg_server_url):
    """A database of its own, so other tests' tables (made with create_all) do not interfere."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    if not pg_server_url:
        unavailable("TEST_DATABASE_URL is not set")
    url = servers.create_pg_database(pg_server_url)
    yield url
    servers.drop_pg_database(url)


@pytest.fixture
def bare_app(empty_database_url, tmp_path):
    database_url = empty_database_url
    app = create_app({"TESTING": True}, environ={
        "NEWSLETTER_ENV": "testing", "SECRET_KEY": TEST_SECRET, "DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance")})
    yield app
    with app.app_context():
        db.engine.dispose()


def test_upgrade_downgrade_upgrade_round_trips(bare_app):
    with bare_app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {"subscriber", "delivery", "consent_event", "inbound_message"} <= tables
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert set(inspect(db.engine).get_table_names()) == tables


def test_migrations_match_the_models(bare_app):
    with bare_app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = compare_metadata(context, db.metadata)
        assert diff == [], f"models and migrations differ; run `flask db migrate`: {diff}"


def test_a_lists_old_layout_becomes_its_default_library_entry_and_back(bare_app):
    # b7d2e9f4a6c1 moves mailing_list.layout into the layout library (DESIGN.md, layouts).
    from sqlalchemy import text

    layout = "<div>{{ list.name }}</div>{{ content }}"
    with bare_app.app_context():
        upgrade(revision="a7c2e9f4b1d3")
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO mailing_list (slug, name, description, sender_name, sender_address,"
                " public, archive, double_opt_in, default_language, layout, created_at) VALUES"
                " (:slug, 'N', '', '', '', FALSE, FALSE, TRUE, 'en', :layout, CURRENT_TIMESTAMP)"),
                [{"slug": "styled", "layout": layout}, {"slug": "plain", "layout": None}])
        upgrade(revision="b7d2e9f4a6c1")
        with db.engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT m.slug, l.name, l.source_format, l.source, l.html, l.is_default"
                " FROM layout l JOIN mailing_list m ON m.id = l.list_id")).all()
        assert [tuple(r) for r in rows] == [
            ("styled", "Layout before the library", "html", layout, layout, True)]
        downgrade(revision="a7c2e9f4b1d3")
        with db.engine.connect() as conn:
            back = dict(conn.execute(text("SELECT slug, layout FROM mailing_list")).all())
        assert back == {"styled": layout, "plain": None}
