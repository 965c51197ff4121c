"""A quick Avro check compiled once per schema: the hot path of every producer's validation.

fastavro's ``validate`` walks the parsed schema generically for every record (a dispatch, a
formatted field path and an ABC ``isinstance`` per value): ~60 µs for a row of twelve
thumbnails, more than encoding it, which made the contract check the emitter's largest cost.
``compile_check`` walks the schema once and returns a check per record (generated source, one
line per field, like ``dataclasses`` generates ``__init__``) that only tests types: 5-7x cheaper.

The quick check is deliberately STRICTER than fastavro: it accepts exact built-in types
(``str``, ``int``, ``float``, ``bool``, ``dict``, ``list``/``tuple``) and only the schema
constructs the contract uses. Anything else (a ``str`` subclass, a record given as another
mapping, a ``-type`` hint, a logical type, ...) makes it answer False, and the caller then
asks fastavro, which decides and explains. So every record it accepts is one fastavro
accepts (``tests/unit/test_avro_check.py`` checks this on generated records), and one it
refuses costs one more check, never a different answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastavro.const import INT_MAX_VALUE, INT_MIN_VALUE, LONG_MAX_VALUE, LONG_MIN_VALUE

Check = Callable[[Any], bool]


class _Unsupported(Exception):
    """A schema construct the quick check leaves to fastavro."""


def compile_check(parsed_schema: Any) -> Check | None:
    """The quick check of a schema parsed by ``fastavro.parse_schema``; None when the schema uses
    a construct it does not handle (then fastavro alone validates)."""
    try:
        return _compile(parsed_schema, {})
    except _Unsupported:
        return None


def _is_null(datum: Any) -> bool:
    return datum is None


def _is_boolean(datum: Any) -> bool:
    return type(datum) is bool


def _is_string(datum: Any) -> bool:
    return type(datum) is str


def _is_int(datum: Any) -> bool:
    return type(datum) is int and INT_MIN_VALUE <= datum <= INT_MAX_VALUE


def _is_long(datum: Any) -> bool:
    return type(datum) is int and LONG_MIN_VALUE <= datum <= LONG_MAX_VALUE


def _is_double(datum: Any) -> bool:
    # fastavro takes any real number but a bool; type() is exact, so True is not an int here.
    return type(datum) is float or type(datum) is int


def _is_bytes(datum: Any) -> bool:
    return type(datum) is bytes


_PRIMITIVES: dict[str, Check] = {
    "null": _is_null,
    "boolean": _is_boolean,
    "string": _is_string,
    "int": _is_int,
    "long": _is_long,
    "float": _is_double,
    "double": _is_double,
    "bytes": _is_bytes,
}


def _compile(schema: Any, named: dict[str, Check]) -> Check:
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema]
        if schema in named:  # a reference to a record defined earlier (possibly recursive)
            return lambda datum: named[schema](datum)
        raise _Unsupported(schema)
    if isinstance(schema, list):
        return _union(schema, named)
    if not isinstance(schema, dict) or "logicalType" in schema:
        raise _Unsupported(str(schema))
    kind = schema["type"]
    if kind == "record":
        return _record(schema, named)
    if kind == "array":
        return _array(schema["items"], named)
    if isinstance(kind, str) and kind in _PRIMITIVES and len(schema) <= 2:  # {"type": "string"}, parsed
        return _PRIMITIVES[kind]
    raise _Unsupported(str(kind))


# For a value ``v`` of a primitive type: the condition under which it is NOT one (inlined into a
# record's generated check, which spares a call per field).
_REFUSED: dict[str, str] = {
    "null": "{v} is not None",
    "boolean": "type({v}) is not bool",
    "string": "type({v}) is not str",
    "int": "type({v}) is not int or not INT_MIN <= {v} <= INT_MAX",
    "long": "type({v}) is not int or not LONG_MIN <= {v} <= LONG_MAX",
    "float": "type({v}) is not float and type({v}) is not int",
    "double": "type({v}) is not float and type({v}) is not int",
    "bytes": "type({v}) is not bytes",
}


def _refused(schema: Any, v: str) -> str | None:
    """The inline condition for a primitive or an optional primitive (``["null", T]``), else None."""
    if isinstance(schema, str):
        return _REFUSED[schema].format(v=v) if schema in _REFUSED else None
    if isinstance(schema, list) and len(schema) == 2 and schema[0] == "null" and isinstance(schema[1], str):
        inner = _refused(schema[1], v)
        # A tuple is fastavro's (name, value) notation; the quick check leaves it to fastavro.
        return None if inner is None else f"{v} is not None and ({inner})"
    return None


def _scope() -> dict[str, Any]:
    return {"INT_MIN": INT_MIN_VALUE, "INT_MAX": INT_MAX_VALUE, "LONG_MIN": LONG_MIN_VALUE, "LONG_MAX": LONG_MAX_VALUE}


def _record_body(schema: dict[str, Any], named: dict[str, Check], scope: dict[str, Any], indent: str) -> list[str]:
    """The lines that return False unless the dict ``d`` is a valid ``schema`` record, generated
    with one condition per field (a statement per test was measurably slower)."""
    # fastavro reads a missing field as its default (None without one) and validates that.
    lines = [f"{indent}if type(d) is not dict or '-type' in d:", f"{indent}    return False", f"{indent}g = d.get"]
    refused = []
    for i, field in enumerate(schema["fields"]):
        var = f"v{i}"
        default = field.get("default")
        if default is None:
            lines.append(f"{indent}{var} = g({field['name']!r})")
        else:
            scope[f"default_{i}"] = default
            lines.append(f"{indent}{var} = g({field['name']!r}, default_{i})")
        condition = _refused(field["type"], var)
        if condition is None:
            scope[f"check_{i}"] = _compile(field["type"], named)
            condition = f"not check_{i}({var})"
        refused.append(f"({condition})")
    if refused:
        lines += [f"{indent}if (", *(f"{indent}    {c} or" for c in refused[:-1]), f"{indent}    {refused[-1]}"]
        lines += [f"{indent}):", f"{indent}    return False"]
    return lines


def _record(schema: dict[str, Any], named: dict[str, Check]) -> Check:
    """A record's check, generated as one function (like ``dataclasses`` generates ``__init__``):
    a call per field was most of the cost of a row of twelve thumbnails."""
    scope = _scope()
    own: Check = lambda datum: check(datum)  # noqa: E731  (references to this record resolve to it)
    named[schema["name"]] = own  # parse_schema made it the full name
    lines = ["def check(d):", *_record_body(schema, named, scope, "    "), "    return True"]
    exec("\n".join(lines), scope)  # the source is built above from the schema's field names
    check: Check = scope["check"]
    named[schema["name"]] = check
    return check


def _array(items: Any, named: dict[str, Check]) -> Check:
    if isinstance(items, dict) and items.get("type") == "record" and "logicalType" not in items:
        return _array_of_records(items, named)
    item = _compile(items, named)

    def check(datum: Any) -> bool:
        if type(datum) is not list and type(datum) is not tuple:
            return False
        return all(map(item, datum))

    return check


def _array_of_records(items: dict[str, Any], named: dict[str, Check]) -> Check:
    """An array of records with the record's check inlined in the loop: a row's twelve
    thumbnails were twelve calls, about a third of the check of a ThumbnailsShown event."""
    _record(items, named)  # defines the record's name for references elsewhere in the schema
    scope = _scope()
    body = _record_body(items, named, scope, "        ")
    lines = [
        "def check(datum):",
        "    if type(datum) is not list and type(datum) is not tuple:",
        "        return False",
        "    for d in datum:",
        *body,
        "    return True",
    ]
    exec("\n".join(lines), scope)  # the source is built above from the schema's field names
    check: Check = scope["check"]
    return check


def _union(branches: list[Any], named: dict[str, Check]) -> Check:
    checks = [_compile(branch, named) for branch in branches]
    # fastavro reads a tuple as (record name, record): the branch is named, not searched for.
    by_name = {
        branch["name"]: check
        for branch, check in zip(branches, checks, strict=True)
        if isinstance(branch, dict) and branch.get("type") == "record"
    }
    if len(checks) == 2 and checks[0] is _is_null:  # ["null", T]: the contract's optional field
        other = checks[1]

        def optional(datum: Any) -> bool:
            if datum is None:
                return True
            if type(datum) is tuple:
                return _named(datum, by_name)
            return other(datum)

        return optional

    def check(datum: Any) -> bool:
        if type(datum) is tuple:
            return _named(datum, by_name)
        return any(branch(datum) for branch in checks)

    return check


def _named(datum: tuple[Any, ...], by_name: dict[str, Check]) -> bool:
    if len(datum) != 2 or type(datum[0]) is not str:
        return False
    branch = by_name.get(datum[0])
    return branch is not None and branch(datum[1])
