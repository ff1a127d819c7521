"""merge/templates.py: each field is compiled once and rendered per row; a broken template or a missing template
file is named before any row is sent. No Airflow run."""

from __future__ import annotations

import jinja2
import pytest

from airflow_provider_smtpconn.exceptions import InvalidMessageError
from airflow_provider_smtpconn.merge.templates import compile_field, variables_for


def test_fields_compile_once_and_render_per_row(tmp_path):
    (tmp_path / "body.html").write_text("<p>{{ row.name }} in {{ dag_id }}</p>")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(tmp_path), undefined=jinja2.StrictUndefined)
    attachments = compile_field("attachments", [{"filename": "{{ row.id }}.csv", "content": b"raw"}], env)
    html = compile_field("html", "body.html", env, (".html",))
    plain = compile_field("subject", "no markup", env)
    variables = variables_for(env, {"dag_id": "d"})
    assert not plain.has_templates
    for row in ({"id": 1, "name": "Ann"}, {"id": 2, "name": "Bob"}):
        variables["row"] = row
        assert attachments.render(variables) == [{"filename": f"{row['id']}.csv", "content": b"raw"}]
        assert html.render(variables) == f"<p>{row['name']} in d</p>"
    variables["row"] = {}
    with pytest.raises(jinja2.UndefinedError):
        html.render(variables)
    with pytest.raises(InvalidMessageError, match="subject is not a valid Jinja template"):
        compile_field("subject", "{{ row.x ", env)
    with pytest.raises(InvalidMessageError, match="html names the template file 'missing.html'"):
        compile_field("html", "missing.html", env, (".html",))
    assert compile_field("x", "{{ range(2) | list }}", env).render(variables_for(env, {})) == "[0, 1]"
