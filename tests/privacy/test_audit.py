"""Every action on personal data leaves an audit row, written by the domain function that acts
(so the CLI, the API, the admin UI and the worker cannot forget it)."""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import AuditEvent, MailingList, SuppressionReason, utcnow
from newsletter.subscribers import suppression

PACKAGE = Path(__file__).resolve().parents[2] / "newsletter"


def audit_rows(app, action):
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_cli_api_token_creation_is_audited(app, runner):
    result = runner.invoke(args=["newsletter", "api-token", "create", "crm-sync"])
    assert result.exit_code == 0, result.output
    rows = audit_rows(app, "api_token.create")
    assert [(r.actor, r.detail["name"], r.subject_id) for r in rows] == [
        ("cli", "crm-sync", result.output.strip().splitlines()[-1])]


def test_cli_import_is_audited(app, runner, tmp_path):
    with app.app_context():
        db.session.add(MailingList(slug="news", name="News"))
        db.session.commit()
    csv = tmp_path / "people.csv"
    csv.write_text("email,name\nada@example.org,Ada\nbob@example.org,Bob\n")
    result = runner.invoke(args=["newsletter", "import", str(csv), "--list", "news",
                                 "--consent-basis", "existing"])
    assert result.exit_code == 0, result.output
    [row] = audit_rows(app, "subscribers.import")
    assert row.actor == "cli" and row.detail["rows"] == 2 and row.detail["dry_run"] is False


def test_a_new_suppression_is_audited_once(app):
    with app.app_context():
        key = app.config["NEWSLETTER_SUPPRESSION_KEY"]
        for _ in range(2):  # the second call finds the entry: nothing changes, nothing audited
            suppression.suppress(db.session, key, "gone@example.org", SuppressionReason.bounce,
                                 utcnow(), note="550 5.1.1")
        db.session.commit()
    [row] = audit_rows(app, "suppression.add")
    assert row.actor == "system" and row.detail == {"reason": "bounce"}


def test_views_and_commands_leave_audit_rows_to_the_domain():
    """web/ and cli/ translate; an AuditEvent built there is a rule with a second copy."""
    offenders = []
    for path in [*(PACKAGE / "web").rglob("*.py"), *(PACKAGE / "cli").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "AuditEvent"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


def test_audit_rows_are_built_only_by_audit_record():
    """One writer: audit.record() (the chain and the redaction rules assume every row came
    through it)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "privacy" / "audit.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "AuditEvent"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []
