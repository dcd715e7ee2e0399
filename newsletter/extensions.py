"""Flask extensions: created once here, bound to an app in `create_app()`.

Importing this module connects to nothing; `init_app` does the binding.
"""

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine

# Named constraints keep Alembic migrations portable between SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))
migrate = Migrate()
mail = Mail()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
login_manager = LoginManager()
api = Api()


def statement_engine(app: Flask) -> Engine:
    """The engine for hot paths that are one statement (the RFC 8058 one-click POST).

    On PostgreSQL a second pool of autocommit connections without pre-ping: the statement is
    its own transaction (no BEGIN and COMMIT round trips; durable when it returns, as
    synchronous_commit stays on), and a dropped connection is retried by the caller instead of
    pinged before every use. psycopg prepares a statement a connection has run a few times.
    Elsewhere the app's engine. Made on first use, kept on the app.
    """
    if db.engine.dialect.name != "postgresql":
        return db.engine
    engine = app.extensions.get("newsletter.statement_engine")
    if engine is None:
        engine = create_engine(db.engine.url, isolation_level="AUTOCOMMIT", pool_size=2)
        app.extensions["newsletter.statement_engine"] = engine
    return engine
