"""Configuration: every value comes from the environment.

`load_config(environ)` returns the Flask config mapping or raises `ConfigError` naming the variable
that is missing or malformed, so start-up fails with one clear line instead of a traceback.
The README lists every variable; keep the two in step.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent


# Where a new use of personal data needs the person's opt-in by default (issue 15): the EU and
# the EEA (GDPR), the United Kingdom (UK GDPR), Switzerland (FADP), Canada (PIPEDA/CASL) and
# Brazil (LGPD). A subscriber whose country is unknown is always asked to opt in.
DEFAULT_PURPOSE_OPT_IN_COUNTRIES = (
    "AT,BE,BG,HR,CY,CZ,DK,EE,FI,FR,DE,GR,HU,IE,IT,LV,LT,LU,MT,NL,PL,PT,RO,SK,SI,ES,SE,"  # EU
    "IS,LI,NO,"  # the rest of the EEA
    "GB,CH,CA,BR"
)


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message names the variable."""


def _int(environ: dict, name: str, default: int) -> int:
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _float(environ: dict, name: str, default: float) -> float:
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _bool(environ: dict, name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _database_url(environ: dict, instance_path: Path) -> str:
    raw = environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'newsletter.db'}"
    if raw.startswith("postgres://"):  # Heroku-style URLs name the dialect differently.
        raw = "postgresql://" + raw[len("postgres://"):]
    scheme = raw.split(":", 1)[0]
    if scheme not in ("sqlite", "postgresql", "postgresql+psycopg"):
        raise ConfigError(
            f"DATABASE_URL must start with sqlite:/// or postgresql://, got {raw.split(':', 1)[0]!r}"
        )
    if scheme == "postgresql":
        raw = "postgresql+psycopg" + raw[len("postgresql"):]
    if scheme.startswith("postgresql") and not urlsplit(raw).hostname and "host=" not in raw:
        raise ConfigError("DATABASE_URL names no PostgreSQL host")
    return raw


def _secret_key(environ: dict, development: bool, instance_path: Path) -> str:
    key = environ.get("SECRET_KEY")
    if key:
        if len(key) < 16 and not development:
            raise ConfigError("SECRET_KEY is too short: use at least 16 random characters")
        return key
    if not development:
        raise ConfigError("SECRET_KEY is not set (required unless NEWSLETTER_ENV=development;"
                          " in a checkout, run flask commands inside `make shell`)")
    # Development: keep one generated key in instance/ so links in mail survive a restart.
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _origins(environ: dict, name: str) -> tuple[str, ...]:
    """Comma-separated web origins (scheme://host[:port], nothing after it)."""
    origins = []
    for raw in environ.get(name, "").split(","):
        origin = raw.strip().rstrip("/")
        if not origin:
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path \
                or parts.query or parts.fragment:
            raise ConfigError(f"{name} must list origins like https://www.example.com, "
                              f"got {raw.strip()!r}")
        origins.append(origin)
    return tuple(origins)


def load_config(environ: dict | None = None, instance_path: Path | None = None) -> dict:
    """Read the environment into a Flask config mapping; raise ConfigError on a bad value."""
    env = dict(os.environ if environ is None else environ)
    instance = Path(env.get("NEWSLETTER_INSTANCE_PATH") or instance_path or BASE_DIR / "instance")
    mode = env.get("NEWSLETTER_ENV", "production")
    if mode not in ("production", "development", "testing"):
        raise ConfigError(f"NEWSLETTER_ENV must be production, development or testing, got {mode!r}")
    development = mode != "production"

    base_url = env.get("NEWSLETTER_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"NEWSLETTER_BASE_URL must be an http(s) URL, got {base_url!r}")
    mail_domain = env.get("NEWSLETTER_MAIL_DOMAIN") or parts.hostname
    if mail_domain in ("127.0.0.1", "localhost"):
        mail_domain = "newsletter.localhost"

    mail_port = _int(env, "MAIL_PORT", 25)
    inbound = env.get("NEWSLETTER_INBOUND") or (
        f"maildir:{instance / 'inbound'}" if development else ""
    )
    if inbound and not inbound.startswith(("imap://", "imaps://", "maildir:")):
        raise ConfigError("NEWSLETTER_INBOUND must start with imaps://, imap:// or maildir:")

    dkim_key_file = env.get("NEWSLETTER_DKIM_KEY_FILE", "")
    if dkim_key_file and not Path(dkim_key_file).is_file():
        raise ConfigError(f"NEWSLETTER_DKIM_KEY_FILE names no readable file: {dkim_key_file}")

    secret_key = _secret_key(env, development, instance)
    return {
        "NEWSLETTER_ENV": mode,
        "SECRET_KEY": secret_key,
        "NEWSLETTER_SUPPRESSION_KEY": env.get("NEWSLETTER_SUPPRESSION_KEY") or secret_key,
        "INSTANCE_PATH": str(instance),
        "SQLALCHEMY_DATABASE_URI": _database_url(env, instance),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "NEWSLETTER_BASE_URL": base_url,
        "NEWSLETTER_MAIL_DOMAIN": mail_domain,
        "NEWSLETTER_REPLY_DOMAIN": env.get("NEWSLETTER_REPLY_DOMAIN") or mail_domain,
        "NEWSLETTER_BOUNCE_DOMAIN": env.get("NEWSLETTER_BOUNCE_DOMAIN") or mail_domain,
        # Flask-Mail carries the SMTP settings; no MAIL_SERVER means the local Maildir sink.
        "MAIL_SERVER": env.get("MAIL_SERVER", ""),
        "MAIL_PORT": mail_port,
        "MAIL_USE_TLS": _bool(env, "MAIL_USE_TLS", False),
        "MAIL_USE_SSL": _bool(env, "MAIL_USE_SSL", False),
        "MAIL_USERNAME": env.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
        "MAIL_TIMEOUT": _float(env, "MAIL_TIMEOUT", 30.0),
        "MAIL_DEFAULT_SENDER": env.get("MAIL_DEFAULT_SENDER") or f"newsletter@{mail_domain}",
        "NEWSLETTER_MAIL_SINK": env.get("NEWSLETTER_MAIL_SINK") or str(instance / "outbox"),
        "NEWSLETTER_INBOUND": inbound,
        "NEWSLETTER_INBOUND_POLL_SECONDS": _int(env, "NEWSLETTER_INBOUND_POLL_SECONDS", 60),
        "NEWSLETTER_INBOUND_DONE_FOLDER": env.get("NEWSLETTER_INBOUND_DONE_FOLDER", "Processed"),
        "NEWSLETTER_INBOUND_HUMAN_FOLDER": env.get("NEWSLETTER_INBOUND_HUMAN_FOLDER", "NeedsHuman"),
        "NEWSLETTER_INBOUND_MAX_BYTES": _int(env, "NEWSLETTER_INBOUND_MAX_BYTES", 25 * 1024 * 1024),
        "NEWSLETTER_INBOUND_KEEP_DAYS": _int(env, "NEWSLETTER_INBOUND_KEEP_DAYS", 90),
        # The authserv-id our receiving server writes in Authentication-Results (RFC 8601).
        "NEWSLETTER_INBOUND_AUTHSERV_ID": env.get("NEWSLETTER_INBOUND_AUTHSERV_ID", "").strip(),
        "NEWSLETTER_SOFT_BOUNCE_LIMIT": _int(env, "NEWSLETTER_SOFT_BOUNCE_LIMIT", 5),
        "NEWSLETTER_SOFT_BOUNCE_WINDOW_DAYS": _int(env, "NEWSLETTER_SOFT_BOUNCE_WINDOW_DAYS", 30),
        "NEWSLETTER_DKIM_KEY_FILE": dkim_key_file,
        "NEWSLETTER_DKIM_SELECTOR": env.get("NEWSLETTER_DKIM_SELECTOR", "newsletter"),
        "NEWSLETTER_DKIM_DOMAIN": env.get("NEWSLETTER_DKIM_DOMAIN") or mail_domain,
        "NEWSLETTER_SEND_RATE_PER_SECOND": _float(env, "NEWSLETTER_SEND_RATE_PER_SECOND", 0),
        "NEWSLETTER_SEND_RATE_PER_HOUR": _int(env, "NEWSLETTER_SEND_RATE_PER_HOUR", 0),
        "NEWSLETTER_BATCH_SIZE": _int(env, "NEWSLETTER_BATCH_SIZE", 200),
        # SMTP connections per worker process (sending/process.py); 0: 4 on PostgreSQL, 1 on SQLite.
        "NEWSLETTER_WORKER_CONNECTIONS": _int(env, "NEWSLETTER_WORKER_CONNECTIONS", 0),
        "NEWSLETTER_LEASE_SECONDS": _int(env, "NEWSLETTER_LEASE_SECONDS", 120),
        "NEWSLETTER_RETRY_BASE_SECONDS": _float(env, "NEWSLETTER_RETRY_BASE_SECONDS", 60),
        "NEWSLETTER_OUTAGE_PAUSE_MINUTES": _float(env, "NEWSLETTER_OUTAGE_PAUSE_MINUTES", 60),
        "NEWSLETTER_OUTAGE_BACKOFF_SECONDS": _float(env, "NEWSLETTER_OUTAGE_BACKOFF_SECONDS", 30),
        "NEWSLETTER_CONFIRM_MAX_AGE_DAYS": _int(env, "NEWSLETTER_CONFIRM_MAX_AGE_DAYS", 7),
        # Admin users (users/accounts.py): how long an invitation and a password-reset link work.
        "NEWSLETTER_INVITE_MAX_AGE_DAYS": _int(env, "NEWSLETTER_INVITE_MAX_AGE_DAYS", 7),
        "NEWSLETTER_PASSWORD_RESET_MAX_AGE_MINUTES": _int(
            env, "NEWSLETTER_PASSWORD_RESET_MAX_AGE_MINUTES", 60),
        "NEWSLETTER_CONFIRM_RESEND_MINUTES": _int(env, "NEWSLETTER_CONFIRM_RESEND_MINUTES", 60),
        "NEWSLETTER_PENDING_PURGE_DAYS": _int(env, "NEWSLETTER_PENDING_PURGE_DAYS", 14),
        # Retention periods (privacy/retention.py; README says why each default); 0: keep forever.
        "NEWSLETTER_RETAIN_SENT_MAIL_DAYS": _int(env, "NEWSLETTER_RETAIN_SENT_MAIL_DAYS", 30),
        "NEWSLETTER_RETAIN_DELIVERY_DETAIL_DAYS": _int(
            env, "NEWSLETTER_RETAIN_DELIVERY_DETAIL_DAYS", 180),
        "NEWSLETTER_RETAIN_DEPARTED_DAYS": _int(env, "NEWSLETTER_RETAIN_DEPARTED_DAYS", 365),
        "NEWSLETTER_RETAIN_CONSENT_NETWORK_DAYS": _int(
            env, "NEWSLETTER_RETAIN_CONSENT_NETWORK_DAYS", 730),
        "NEWSLETTER_RETAIN_CLOSED_REQUEST_DAYS": _int(
            env, "NEWSLETTER_RETAIN_CLOSED_REQUEST_DAYS", 3 * 365),
        "NEWSLETTER_POLICY_NOTICE_DAYS": _int(env, "NEWSLETTER_POLICY_NOTICE_DAYS", 30),
        # The sender's physical postal address for the footer of every newsletter whose list
        # names none (CAN-SPAM asks for one in commercial mail); one line.
        "NEWSLETTER_POSTAL_ADDRESS": " ".join(env.get("NEWSLETTER_POSTAL_ADDRESS", "").split()),
        # How long an announce from the admin page or the API mails before it answers; the
        # scheduler's purpose-newcomers job mails the rest (privacy/purposes.py announce).
        "NEWSLETTER_ANNOUNCE_REQUEST_SECONDS": _float(
            env, "NEWSLETTER_ANNOUNCE_REQUEST_SECONDS", 5.0),
        "NEWSLETTER_PURPOSE_OPT_IN_COUNTRIES": (env.get("NEWSLETTER_PURPOSE_OPT_IN_COUNTRIES")
                                                or DEFAULT_PURPOSE_OPT_IN_COUNTRIES),
        "NEWSLETTER_PRIVACY_MAILS_PER_ADDRESS": _int(env, "NEWSLETTER_PRIVACY_MAILS_PER_ADDRESS", 3),
        "NEWSLETTER_PRIVACY_MAIL_WINDOW_HOURS": _int(env, "NEWSLETTER_PRIVACY_MAIL_WINDOW_HOURS", 24),
        "NEWSLETTER_EXPORT_DAYS": _int(env, "NEWSLETTER_EXPORT_DAYS", 7),
        # Sites whose pages may call POST /api/public/subscribe from a script (CORS).
        "NEWSLETTER_FORM_ORIGINS": _origins(env, "NEWSLETTER_FORM_ORIGINS"),
        # Sign-ups from other sites must carry a solved proof-of-work challenge (ALTCHA v1);
        # the difficulty is the largest number a browser may have to try.
        "NEWSLETTER_FORM_POW": _bool(env, "NEWSLETTER_FORM_POW", False),
        "NEWSLETTER_FORM_POW_DIFFICULTY": _int(env, "NEWSLETTER_FORM_POW_DIFFICULTY", 50_000),
        "NEWSLETTER_SUBSCRIBE_RATE_LIMIT": env.get("NEWSLETTER_SUBSCRIBE_RATE_LIMIT", "10/minute"),
        "NEWSLETTER_LOGIN_RATE_LIMIT": env.get("NEWSLETTER_LOGIN_RATE_LIMIT", "5/minute"),
        "NEWSLETTER_LOGIN_ACCOUNT_RATE_LIMIT": env.get("NEWSLETTER_LOGIN_ACCOUNT_RATE_LIMIT",
                                                       "10 per 15 minutes"),
        # Sending services' event webhooks (integrations/providers/*): each is on when set.
        "NEWSLETTER_SES_TOPIC_ARNS": env.get("NEWSLETTER_SES_TOPIC_ARNS", ""),
        "NEWSLETTER_SES_SNS_URL": env.get("NEWSLETTER_SES_SNS_URL", ""),  # "": amazonaws.com SNS
        "NEWSLETTER_POSTMARK_SECRET": env.get("NEWSLETTER_POSTMARK_SECRET", ""),
        "NEWSLETTER_POSTMARK_USER": env.get("NEWSLETTER_POSTMARK_USER", ""),
        "NEWSLETTER_POSTMARK_PASSWORD": env.get("NEWSLETTER_POSTMARK_PASSWORD", ""),
        "NEWSLETTER_SENDGRID_PUBLIC_KEY": env.get("NEWSLETTER_SENDGRID_PUBLIC_KEY", ""),
        "NEWSLETTER_MAILGUN_SIGNING_KEY": env.get("NEWSLETTER_MAILGUN_SIGNING_KEY", ""),
        "NEWSLETTER_PROVIDER_MAX_AGE_SECONDS": _int(env, "NEWSLETTER_PROVIDER_MAX_AGE_SECONDS", 900),
        # Outgoing webhooks (integrations/webhooks.py).
        "NEWSLETTER_WEBHOOK_ALLOW_PRIVATE": _bool(env, "NEWSLETTER_WEBHOOK_ALLOW_PRIVATE", False),
        "NEWSLETTER_WEBHOOK_RETRY_SECONDS": _float(env, "NEWSLETTER_WEBHOOK_RETRY_SECONDS", 30),
        "NEWSLETTER_RUN_SCHEDULER": _bool(env, "NEWSLETTER_RUN_SCHEDULER", True),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "MAX_CONTENT_LENGTH": _int(env, "NEWSLETTER_MAX_REQUEST_BYTES", 2 * 1024 * 1024),
        "MAX_FORM_MEMORY_SIZE": _int(env, "NEWSLETTER_MAX_REQUEST_BYTES", 2 * 1024 * 1024),
        "NEWSLETTER_IMPORT_MAX_BYTES": _int(env, "NEWSLETTER_IMPORT_MAX_BYTES", 512 * 1024 * 1024),
        # Limits on rendering one campaign template (sending/sandbox.py): CPU seconds, bytes
        # built and output, loop iterations. At save, at send and for the archive copy.
        "NEWSLETTER_TEMPLATE_MAX_SECONDS": _float(env, "NEWSLETTER_TEMPLATE_MAX_SECONDS", 2.0),
        "NEWSLETTER_TEMPLATE_MAX_BYTES": _int(env, "NEWSLETTER_TEMPLATE_MAX_BYTES", 2 * 1024 * 1024),
        "NEWSLETTER_TEMPLATE_MAX_LOOP": _int(env, "NEWSLETTER_TEMPLATE_MAX_LOOP", 100_000),
        # How many reverse proxies set X-Forwarded-For/-Proto in front of us (0: none). Without
        # it, behind a proxy every visitor shares the proxy's address for the rate limits.
        "NEWSLETTER_PROXY_COUNT": _int(env, "NEWSLETTER_PROXY_COUNT", 0),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": not development,
        "REMEMBER_COOKIE_SECURE": not development,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "API_TITLE": "newsletter",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
    }
