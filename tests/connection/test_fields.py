"""connection/fields.py: the README's connection table is generated from the field declarations (``FIELDS``), so the
two cannot drift, the OAuth2 fields included."""

from __future__ import annotations

from pathlib import Path

from support.oauth_fields import OAUTH2_KEYS

from airflow_provider_smtpconn.connection.fields import FIELDS, readme_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_connection_table_matches_the_field_declarations():
    text = README.read_text(encoding="utf-8")
    assert readme_table() in text, "regenerate the table with connection.fields.readme_table()"


def test_every_declared_field_has_one_readme_row():
    rows = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    for field in FIELDS:
        assert sum(row.startswith(f"| {field.label} | `{field.key}` |") for row in rows) == 1, field.key


def test_the_readme_table_shows_the_oauth2_fields_as_declared():
    from pathlib import Path

    from airflow_provider_smtpconn.connection.fields import readme_table

    readme = (Path(__file__).parent.parent.parent / "README.md").read_text(encoding="utf-8")
    rows = [row for row in readme_table().splitlines() if any(f"`{k}`" in row for k in OAUTH2_KEYS)]
    assert len(rows) == len(OAUTH2_KEYS) and all(row in readme for row in rows)
