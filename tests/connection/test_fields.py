"""The README's connection table is the declaration in ``settings.py``, not a copy that can drift."""

from __future__ import annotations

from pathlib import Path

from airflow_provider_smtpconn.connection.fields import FIELDS, readme_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_connection_table_matches_the_field_declarations():
    text = README.read_text(encoding="utf-8")
    assert readme_table() in text, "regenerate the table with settings.readme_table()"


def test_every_declared_field_has_one_readme_row():
    rows = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    for field in FIELDS:
        assert sum(row.startswith(f"| {field.label} | `{field.key}` |") for row in rows) == 1, field.key
