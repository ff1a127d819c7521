"""The outcomes the reliability suite records for the README's tables (``scripts/reliability_table.py``)."""

from __future__ import annotations

import json
import os
from typing import Any


def record(section: str, **row: Any) -> None:
    """Append one observed outcome to ``$SMTPCONN_RELIABILITY_JSON`` (JSON lines), if set."""
    path = os.environ.get("SMTPCONN_RELIABILITY_JSON")
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps({"section": section, **row}) + "\n")
