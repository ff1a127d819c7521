"""Per-row templates: each message field compiled once with Jinja, rendered once per row.

A field's value may be text or a structure of lists, tuples and dicts with text inside (``attachments``,
``headers``, a list of recipients). Every text that contains Jinja markup is compiled once into a
``jinja2.Template``; the rest stays as it is, so rendering a row walks the structure and renders only the
templates, with the task context plus ``row``. A text ending in one of ``template_ext`` names a template file,
loaded through the environment's loader (the DAG folder and ``template_searchpath``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import InvalidMessageError

if TYPE_CHECKING:
    from collections.abc import Callable

    import jinja2

_MARKUP = ("{{", "{%", "{#")


class Compiled:
    """A structure whose texts with Jinja markup were compiled; :meth:`render` gives the value for one row."""

    __slots__ = ("_env", "_tree", "has_templates")

    def __init__(self, env: jinja2.Environment, tree: Any, has_templates: bool) -> None:
        self._env = env
        self._tree = tree
        self.has_templates = has_templates

    def render(self, variables: dict[str, Any]) -> Any:
        """The value with every template rendered with ``variables`` (from :func:`variables_for`, plus ``row``)."""
        if not self.has_templates:
            return self._tree
        return _render(self._tree, variables, self._env)


class _Leaf:
    __slots__ = ("template",)

    def __init__(self, template: jinja2.Template) -> None:
        self.template = template


def variables_for(env: jinja2.Environment, context: Mapping[str, Any]) -> dict[str, Any]:
    """What the templates see: the environment's globals (``range``, ``namespace`` ...) and the task context.

    The caller adds ``row`` for each row to the same dict.
    """
    variables = dict(env.globals)
    variables.update(context)
    return variables


def compile_field(
    name: str,
    value: Any,
    env: jinja2.Environment,
    template_ext: tuple[str, ...] = (),
    *,
    resolve: Callable[[Any], Any] | None = None,
) -> Compiled:
    """Compile the templates inside ``value`` (field ``name``); raises :class:`InvalidMessageError` on a syntax error
    or a template file that cannot be found.

    :param template_ext: A top-level text ending in one of these is the name of a template file.
    :param resolve: Applied once to every other leaf (to resolve an upstream XCom reference, for example).
    """
    found = [False]
    tree = _compile(name, value, env, template_ext, found, resolve)
    return Compiled(env, tree, found[0])


def _compile(
    name: str,
    value: Any,
    env: jinja2.Environment,
    ext: tuple[str, ...],
    found: list[bool],
    resolve: Callable[[Any], Any] | None,
) -> Any:
    import jinja2

    if isinstance(value, str):
        try:
            if ext and value.endswith(ext) and not any(m in value for m in _MARKUP):
                found[0] = True
                return _Leaf(env.get_template(value))
            if any(m in value for m in _MARKUP):
                found[0] = True
                return _Leaf(env.from_string(value))
        except jinja2.TemplateNotFound as exc:
            raise InvalidMessageError(
                f"{name} names the template file {exc.name!r}, which is not in the DAG folder or its "
                "template_searchpath."
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise InvalidMessageError(
                f"{name} is not a valid Jinja template: {exc.message} (line {exc.lineno})."
            ) from None
        return value
    if isinstance(value, list):
        return [_compile(name, v, env, (), found, resolve) for v in value]
    if value.__class__ is tuple:
        return tuple(_compile(name, v, env, (), found, resolve) for v in value)
    if isinstance(value, Mapping):
        return {k: _compile(name, v, env, (), found, resolve) for k, v in value.items()}
    return resolve(value) if resolve is not None else value


def _render(tree: Any, variables: dict[str, Any], env: jinja2.Environment) -> Any:
    if tree.__class__ is _Leaf:
        template = tree.template
        # What Template.render does, minus copying the context's globals for every field of every row.
        return env.concat(template.root_render_func(template.new_context(variables, shared=True)))
    if isinstance(tree, list):
        return [_render(v, variables, env) for v in tree]
    if tree.__class__ is tuple:
        return tuple(_render(v, variables, env) for v in tree)
    if isinstance(tree, dict):
        return {k: _render(v, variables, env) for k, v in tree.items()}
    return tree
