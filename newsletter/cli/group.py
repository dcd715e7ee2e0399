"""The `flask newsletter` command group; each module of `newsletter.cli` adds commands to it."""

from flask.cli import AppGroup

newsletter_cli = AppGroup("newsletter", help="Run and manage the newsletter service.")
