"""A dry-run upload kept for a short while, so "import it now" needs no second upload.

The file holds personal data, so it is kept under the instance folder with a random name, read
once by the real import and then deleted; files older than `KEEP` are deleted whenever another
file is staged (and a name that is not ours never opens a file).
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

KEEP = timedelta(hours=1)
_NAME = re.compile(r"[A-Za-z0-9_-]{32,64}")


def _folder(instance_path: str) -> Path:
    folder = Path(instance_path) / "import-staging"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stage(instance_path: str, upload: BinaryIO) -> str:
    """Copy an upload (from its start) to the staging folder; returns its name."""
    folder = _folder(instance_path)
    _sweep(folder)
    name = secrets.token_urlsafe(32)
    upload.seek(0)
    with open(folder / f"{name}.csv", "wb") as out:
        shutil.copyfileobj(upload, out)
    return name


def path(instance_path: str, name: str) -> Path | None:
    """The staged file of this name, if it is still there."""
    if not _NAME.fullmatch(name or ""):
        return None
    found = _folder(instance_path) / f"{name}.csv"
    return found if found.is_file() else None


def discard(instance_path: str, name: str) -> None:
    """Delete a staged file (after the real import read it)."""
    found = path(instance_path, name)
    if found is not None:
        found.unlink(missing_ok=True)


def _sweep(folder: Path) -> None:
    cutoff = time.time() - KEEP.total_seconds()
    for old in folder.glob("*.csv"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
