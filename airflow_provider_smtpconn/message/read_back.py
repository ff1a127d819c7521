"""Reading back a list or dict that Jinja rendered to text.

Without ``render_template_as_native_obj``, ``"{{ ti.xcom_pull('t') }}"`` renders a list or dict to its Python
text (``"['a@example.org', 'b@example.org']"``). Parameters that take lists or mappings (``to``, ``headers``,
``attachments``) read such text back with :func:`ast.literal_eval`, which evaluates literals only, never code.
"""

from __future__ import annotations

import ast
from typing import Any

from airflow_provider_smtpconn.exceptions import InvalidMessageError

_HINT = "set render_template_as_native_obj=True on the DAG, or pass the XCom directly (task.output)"


def looks_rendered(text: str) -> bool:
    """Whether ``text`` is shaped like a rendered list or dict (``[...]`` or ``{...}``)."""
    text = text.strip()
    return (text[:1], text[-1:]) in (("[", "]"), ("{", "}"))


def read_back(text: str, field: str, error: type[InvalidMessageError] = InvalidMessageError) -> Any:
    """The list or dict behind ``text``.

    :raises InvalidMessageError: (or ``error``) naming ``field``, if ``text`` is not a Python literal.
    """
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise error(
            f"{field} {text[:80]!r} looks like a rendered list or dict but cannot be read back; {_HINT}."
        ) from None
