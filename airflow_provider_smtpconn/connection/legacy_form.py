"""The connection form for Airflow 3.0 and 3.1, which read it from the hook instead of the provider info.

Airflow 3.2 and later build the form from ``conn-fields`` and ``ui-field-behaviour`` in the provider info,
without importing the hook. Airflow 3.0 and 3.1 ignore those keys and call the hook's
``get_connection_form_widgets()`` and ``get_ui_field_behaviour()`` instead, with WTForms installed (it comes with
the FAB provider; without it, those versions show no provider's extra fields). This module derives both answers
from the provider info, so the form is declared in one place for every version.
"""

from __future__ import annotations

from typing import Any


def _connection_type(conn_type: str) -> dict[str, Any]:
    from airflow_provider_smtpconn import get_provider_info

    for entry in get_provider_info()["connection-types"]:
        if entry["connection-type"] == conn_type:
            return entry
    raise LookupError(f"The provider info declares no connection type {conn_type!r}.")


def _fab_widgets() -> dict[str, Any]:
    """FAB's widgets by kind where FAB is installed; empty (WTForms' own widgets) otherwise."""
    try:
        from flask_appbuilder.fieldwidgets import (
            BS3PasswordFieldWidget,
            BS3TextAreaFieldWidget,
            BS3TextFieldWidget,
        )
    except ImportError:
        return {}
    return {"password": BS3PasswordFieldWidget(), "multiline": BS3TextAreaFieldWidget(), "text": BS3TextFieldWidget()}


def form_widgets(conn_type: str) -> dict[str, Any]:
    """``{field name: unbound WTForms field}`` for the extra fields in ``conn-fields`` of ``conn_type``.

    Integers become ``IntegerField``, booleans ``BooleanField``, ``format: password`` a ``PasswordField``, and
    everything else (text, numbers, choices) a ``StringField``: the field classes Airflow 3.0 accepts. Choices
    get an ``any_of`` validator, which Airflow's UI shows as a list. Imports WTForms (``ImportError`` without
    it, which Airflow reads as "no form widgets") and uses FAB's widgets where FAB is installed.
    """
    from wtforms import BooleanField, IntegerField, PasswordField, StringField
    from wtforms.validators import Optional, any_of

    widgets = _fab_widgets()
    fields: dict[str, Any] = {}
    for name, spec in _connection_type(conn_type).get("conn-fields", {}).items():
        schema = spec.get("schema", {})
        kinds = schema.get("type", "string")
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        options: dict[str, Any] = {"description": spec.get("description", "")}
        if "default" in schema:
            options["default"] = schema["default"]
        validators: list[Any] = [Optional()]
        if "enum" in schema:
            validators.append(any_of(schema["enum"]))
        fmt = schema.get("format")
        if "boolean" in kinds:
            fields[name] = BooleanField(spec["label"], **options)
            continue
        if "integer" in kinds:
            field_class, kind = IntegerField, "text"
        elif fmt == "password":
            field_class, kind = PasswordField, "password"
        else:
            field_class, kind = StringField, "multiline" if fmt == "multiline" else "text"
            if "default" in options and not isinstance(options["default"], str):
                options["default"] = str(options["default"])  # a number in a text box
        if kind in widgets:
            options["widget"] = widgets[kind]
        fields[name] = field_class(spec["label"], validators=validators, **options)
    return fields


def field_behaviour(conn_type: str) -> dict[str, Any]:
    """The ``ui-field-behaviour`` of ``conn_type`` with the key spelling of ``get_ui_field_behaviour()``."""
    behaviour = _connection_type(conn_type).get("ui-field-behaviour", {})
    return {key.replace("-", "_"): value for key, value in behaviour.items()}
