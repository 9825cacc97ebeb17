"""Dotted config keys such as ``borrowers.count`` or ``economy.shocks[0].unemployment_delta``.

Overrides (:meth:`sim.config.ScenarioConfig.with_overrides`), comparison and sweep specs name
parameters by their dotted path in the scenario config; this module is the one place such paths
are read. It finds the declared field behind a path (so a typo or a section name is a clear
error), checks a value against that field's type and range with the engine's own wording, and
sets a value in a config dumped to a dict. List items are addressed as ``name[i]`` and must exist
in the scenario being changed (a sweep varies the first shock of a recession; it does not invent
one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from .config import ScenarioConfig, Section, describe_problem, field_bounds

_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")
UNKNOWN = "unknown key (check the spelling; see docs/model.md for the allowed keys)"


class KeyPathError(ValueError):
    """A dotted key that names no parameter; ``str(err)`` says what is allowed."""


@dataclass(frozen=True)
class Leaf:
    """The declared parameter at a dotted path."""

    path: str
    field: FieldInfo

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        """The declared (min, max), None where open."""
        return field_bounds(self.field)

    @property
    def is_integer(self) -> bool:
        return strip_optional(self.field.annotation) is int

    @property
    def is_number(self) -> bool:
        return strip_optional(self.field.annotation) in (int, float)

    def check(self, value: Any) -> None:
        """Raise ``ValueError`` (engine wording) unless ``value`` is allowed for this parameter."""
        meta = self.field.metadata
        annotated = Annotated[self.field.annotation, *meta] if meta else self.field.annotation
        try:
            TypeAdapter(annotated, config=ConfigDict(strict=True)).validate_python(value)
        except ValidationError as err:
            raise ValueError(describe_problem(err.errors()[0])) from None


def strip_optional(annotation: Any) -> Any:
    """``X`` for ``X | None``; anything else unchanged."""
    if get_origin(annotation) not in (Union, UnionType):
        return annotation
    args = [a for a in get_args(annotation) if a is not type(None)]
    return args[0] if len(args) == 1 else annotation


def _parts(path: str) -> list[tuple[str, int | None]]:
    parts = []
    for token in path.split("."):
        match = _PART.match(token)
        if not match:
            raise KeyPathError(f"{token!r} is not a key (use names and [index], e.g. economy.shocks[0].start)")
        parts.append((match.group(1), None if match.group(2) is None else int(match.group(2))))
    return parts


def resolve(path: str) -> Leaf:
    """The parameter behind ``path``.

    Raises:
        KeyPathError: if a key is unknown, a section is named instead of a parameter, or an
            index is used on something that is not a list of sections.
    """
    model: type[Section] = ScenarioConfig
    parts = _parts(path)
    for n, (name, index) in enumerate(parts):
        field = model.model_fields.get(name)
        if field is None:
            raise KeyPathError(UNKNOWN)
        annotation = strip_optional(field.annotation)
        last = n == len(parts) - 1
        if index is not None:
            item = get_args(annotation)[0] if get_origin(annotation) is list else None
            if not (isinstance(item, type) and issubclass(item, Section)):
                raise KeyPathError(f"{name} is not a list of sections; it cannot take an [index]")
            if last:
                raise KeyPathError(f"{name}[{index}] is a section, not a parameter; name one of its keys")
            model = item
            continue
        if isinstance(annotation, type) and issubclass(annotation, Section):
            if last:
                raise KeyPathError(f"{path} is a section, not a parameter; name one of its keys")
            model = annotation
            continue
        if not last:
            raise KeyPathError(f"{name} is a parameter, not a section; {path} has no such key")
        return Leaf(path, field)
    raise KeyPathError(UNKNOWN)  # an empty path


def set_value(data: dict, path: str, value: Any, must_exist: bool = False) -> None:
    """Set ``path`` to ``value`` in a config dumped with ``model_dump()`` (in place).

    Args:
        data: The dumped config.
        path: Dotted key, list items as ``name[i]``.
        value: The new value (validated later, with the whole config).
        must_exist: Also refuse a last key that ``data`` does not have (an override must
            replace something; a spec's keys are checked against the declarations instead).

    Raises:
        KeyPathError: if a key is not in ``data`` or a list index is beyond its list.
    """
    node: Any = data
    parts = _parts(path)
    for n, (name, index) in enumerate(parts):
        if not isinstance(node, dict) or (name not in node and (must_exist or n < len(parts) - 1 or index is not None)):
            raise KeyPathError(UNKNOWN)
        if n == len(parts) - 1 and index is None:
            node[name] = value
            return
        node = node[name]
        if index is not None:
            if not isinstance(node, list) or index >= len(node):
                size = len(node) if isinstance(node, list) else 0
                raise KeyPathError(f"the scenario has {size} {name}, so {name}[{index}] does not exist")
            if n == len(parts) - 1:
                node[index] = value
                return
            node = node[index]


def get_value(data: dict, path: str) -> Any:
    """The value at ``path`` in a dumped config."""
    node: Any = data
    for name, index in _parts(path):
        node = node[name]
        if index is not None:
            node = node[index]
    return node


__all__ = ["KeyPathError", "Leaf", "get_value", "resolve", "set_value"]
