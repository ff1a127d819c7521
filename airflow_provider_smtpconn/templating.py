"""What the operator and the notifier share about Airflow's templating of their message parameters.

Airflow renders the parameters listed in :data:`EMAIL_TEMPLATE_FIELDS`; :class:`EmailTemplating` adds the body
template files, the report helpers (the ``email_table`` filter and the ``inline_image(...)`` global, see
:mod:`airflow_provider_smtpconn.message.template_helpers`), and turns a missing template file into bad input
instead of a retryable failure; :class:`NotATemplateFile` keeps attachment names such as ``report.html`` from
being loaded as templates.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import InvalidMessageError
from airflow_provider_smtpconn.message.request import EmailRequest

if TYPE_CHECKING:
    from collections.abc import Sequence

    import jinja2
    from airflow.sdk import Context

#: The message parameters, templated by both the operator and the notifier (with ``smtp_conn_id``).
EMAIL_TEMPLATE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(EmailRequest))


class NotATemplateFile(str):
    """A string Airflow renders as Jinja but never loads as a template file.

    Airflow applies ``template_ext`` to every templated field, so an attachment named ``report.html`` would be
    read as a Jinja template (at parse time, even replaced by its content). Airflow tests that with
    ``value.endswith(tuple(template_ext))``; this string answers no to that one question.
    """

    __slots__ = ()

    def endswith(self, suffix: Any, *args: Any) -> bool:
        """``False`` for Airflow's tuple-of-extensions check; ``str.endswith`` otherwise."""
        if isinstance(suffix, tuple) and not args:
            return False
        return str.endswith(self, suffix, *args)


def not_template_files(value: Any) -> Any:
    """Wrap every string inside ``value`` (lists, tuples, dict values) as :class:`NotATemplateFile`."""
    if isinstance(value, str) and not isinstance(value, NotATemplateFile):
        return NotATemplateFile(value)
    if isinstance(value, list):
        return [not_template_files(v) for v in value]
    if value.__class__ is tuple:
        return tuple(not_template_files(v) for v in value)
    if isinstance(value, dict):
        return {k: not_template_files(v) for k, v in value.items()}
    return value


class EmailTemplating:
    """Templating of the message parameters, mixed into ``SendEmailOperator`` and ``SendEmailNotifier``.

    The parameters are the object's own attributes, and :meth:`email_request` reads them (after rendering) into
    one frozen :class:`EmailRequest`, with the parts the templates added (tables' CSV files, inline images).
    """

    template_ext: Sequence[str] = (".html", ".txt", ".j2")
    template_fields_renderers = {"html": "html", "text": "txt", "headers": "json", "attachments": "py"}

    def email_request(self) -> EmailRequest:
        """The message parameters as they are now (rendered, when called from ``execute`` or ``notify``)."""
        request = EmailRequest(**{f.name: getattr(self, f.name) for f in fields(EmailRequest)})
        parts = getattr(self, "_template_parts", None)
        if parts:
            from airflow_provider_smtpconn.message.template_helpers import with_parts

            request = replace(request, attachments=with_parts(request.attachments, parts))
        return request

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render as Airflow does, ``html`` with the environment that writes tables and images as HTML and the
        other fields with the one that writes them as text; a body template file that does not exist is bad
        input, not worth a retry.

        :raises InvalidMessageError: naming the field and the missing file; :class:`TableError` and
            :class:`InlineImageError` from the helpers.
        """
        import jinja2

        from airflow_provider_smtpconn.message.template_helpers import TemplateParts, template_environments

        if jinja_env is None:
            jinja_env = self.get_template_env(dag=context.get("dag"))  # type: ignore[attr-defined]
        parts = TemplateParts()
        text_env, html_env = template_environments(jinja_env, parts)
        html = getattr(self, "html", None)
        try:
            self.html = None  # rendered below, with the HTML environment
            try:
                super().render_template_fields(context, text_env)  # type: ignore[misc]
            finally:
                self.html = html
            if html:
                self.html = self.render_template(html, context, html_env)  # type: ignore[attr-defined]
        except jinja2.TemplateNotFound as exc:
            names = self.template_fields  # type: ignore[attr-defined]
            field = next((f for f in names if getattr(self, f, None) == exc.name), "a field")
            raise InvalidMessageError(
                f"{field} names the template file {exc.name!r}, which is not in the DAG folder or its "
                "template_searchpath."
            ) from None
        self._template_parts = parts.attachments
