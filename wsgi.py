"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

import sys

from config import ConfigError
from newsletter import create_app

try:
    app = create_app()
except ConfigError as exc:
    # One clear line naming the variable, never a traceback.
    sys.exit(f"newsletter: configuration error: {exc}")
