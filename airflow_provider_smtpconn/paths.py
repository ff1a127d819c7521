"""File names made from Airflow ids (DAG, run, task), for the dry run's ``.eml`` files and the merge's journal.

A DAG id, run id or task id may hold ``/``, ``..`` or characters a file system refuses; :func:`safe_name` keeps
letters, digits, ``-``, ``_`` and inner dots, and :func:`safe_path` joins such names under a root folder, so no
id can steer a file out of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The longest name part kept, in bytes of UTF-8 (file systems allow 255; room is left for suffixes).
MAX_NAME = 100


def safe_name(part: Any) -> str:
    """``part`` as one file name: letters, digits, ``-``, ``_`` and ``.`` (never leading), at most 100 bytes of
    UTF-8 (file systems count bytes: 255 for a name); ``_`` if nothing is left.
    """
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(part)).lstrip(".")
    name = name.encode("utf-8", "replace")[:MAX_NAME].decode("utf-8", "ignore")
    return name or "_"


def safe_path(root: str | Path, *parts: Any, suffix: str = "") -> Path:
    """``root/part/.../last<suffix>`` with every part made safe by :func:`safe_name`; always inside ``root``."""
    names = [safe_name(p) for p in parts]
    if names:
        names[-1] += suffix
    return Path(root, *names)
