"""Reading planner-edited YAML and turning every mistake into one sentence that names the file and field.

Catalogs and scenarios are edited by hand, so a typo must come back as `mine.yaml: aws.s3.storage_gb: must
be zero or more (got -5)`, never as a pydantic dump or a traceback.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ocrkit.errors import ConfigError

# libyaml's safe loader parses ~10x faster (the serving comparison reads several catalogs per run).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file, or a ConfigError naming the file (and line, for syntax)."""
    if not path.exists():
        raise ConfigError(path, None, "file not found")
    if not path.is_file():
        raise ConfigError(path, None, "not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, None, f"cannot be read ({exc})") from None
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader (libyaml's when present)
    except yaml.YAMLError as exc:
        raise ConfigError(path, None, f"YAML syntax error{_where(exc)}: {_problem(exc)}") from None
    if data is None:
        raise ConfigError(path, None, "the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(
            path, None, f"expected a mapping of keys at the top level, found {type(data).__name__}"
        )
    return data


def _where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    return f"{problem} ({context})" if context else str(problem)


def dotted(loc: tuple[int | str, ...]) -> str:
    """('aws', 'sagemaker', 'endpoints', 'hours') -> 'aws.sagemaker.endpoints.hours'; ints as [i]."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def config_error(
    path: Path | str, exc: ValidationError, model: type[BaseModel], prefix: tuple = ()
) -> ConfigError:
    """The first validation error as a ConfigError; the count of any others goes in the hint."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(prefix) + tuple(first["loc"])
    problem = describe_error(first, model, tuple(first["loc"]))
    more = len(errors) - 1
    hint = f"and {more} more problem{'s' if more > 1 else ''} in this file" if more else None
    return ConfigError(path, dotted(loc) or None, problem, hint=hint)


def describe_error(error: dict[str, Any], model: type[BaseModel], loc: tuple) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        known = known_keys(model, loc[:-1])
        listing = f" (known: {', '.join(known)})" if known else ""
        return f"unknown key '{loc[-1]}'{listing}"
    if kind == "missing":
        return "required, but missing"
    if kind in ("greater_than_equal", "greater_than"):
        bound = error.get("ctx", {}).get("ge", error.get("ctx", {}).get("gt", 0))
        word = "zero or more" if str(bound) == "0" and kind == "greater_than_equal" else f"at least {bound}"
        if kind == "greater_than":
            word = "more than zero" if str(bound) == "0" else f"more than {bound}"
        return f"must be {word} (got {value})"
    if kind in ("less_than_equal", "less_than"):
        ctx = error.get("ctx", {})
        bound = ctx.get("le", ctx.get("lt"))
        return f"must be at most {bound} (got {value}): too large to be a real monthly figure"
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind.endswith(("_parsing", "_type")) and value is not None and not isinstance(value, dict | list):
        return f"{message[0].lower()}{message[1:]} (got {value!r})"
    return message[0].lower() + message[1:] if message else message


def known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys a model accepts at `loc`, walking nested models, lists and dicts; [] if it cannot tell."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = _field(current, part)
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _field(model: type[BaseModel], key: str):
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _unwrap(annotation: Any) -> Any:
    """Optional[X] / X | None -> X."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return annotation
