"""Reading the files users hand hwnas: each failure is one HwnasError naming the file, the field and the fix.

Schemas are pydantic models in strict mode (a width of "4" is refused, not coerced); ``validate`` turns a
ValidationError into one line such as ``branches[0].layers[2].width: Input should be a valid integer``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
import typing
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from hwnas.core.errors import HwnasError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Model = TypeVar("Model")


class Schema(BaseModel):
    """Base of every user-file schema: strict types, unknown keys refused, values frozen."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def read_text(path: Path, what: str, fix: str) -> str:
    """The file as UTF-8 text, or one line saying why it cannot be read."""
    path = Path(path)
    if not path.is_file():
        state = "is not a file" if path.exists() else "does not exist"
        raise HwnasError(f"{what} {path} {state}; {fix}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise HwnasError(f"{what} {path} is not UTF-8 text (a binary file?); {fix}") from None
    except OSError as exc:
        raise HwnasError(f"{what} {path} cannot be read ({exc.strerror}); {fix}") from None


def parse_json(text: str, where: str, fix: str) -> Any:
    """JSON as the standard allows it: NaN and Infinity, which Python would accept, are refused too."""

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(text, parse_constant=refuse_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise HwnasError(f"{where} is not valid JSON ({exc}); {fix}") from None


def parse_toml(text: str, where: str, fix: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HwnasError(f"{where} is not valid TOML ({exc}); {fix}") from None


def validate(model: type[Model], data: Any, where: str, fix: str) -> Model:
    """``data`` checked against ``model`` (a Schema, or a dataclass checked strictly); the first problem as
    ``<where>: <field>: <message>; <fix>``."""
    schema = model if issubclass(model, BaseModel) else schema_of(model)
    try:
        checked = schema.model_validate(data)
    except ValidationError as exc:
        raise HwnasError(f"{where}: {describe(exc)}; {fix}") from None
    return checked if schema is model else model(**dict(checked))


@functools.cache
def schema_of(dataclass_type: type) -> type[Schema]:
    """A strict Schema with the fields, types and defaults of a dataclass (whose instances stay plain)."""
    hints = typing.get_type_hints(dataclass_type, include_extras=True)  # Annotated constraints kept
    spec = {f.name: (hints[f.name], _default(f)) for f in dataclasses.fields(dataclass_type)}
    return create_model(dataclass_type.__name__, __base__=Schema, **spec)


def _default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return Field(default_factory=f.default_factory)
    return ... if f.default is dataclasses.MISSING else f.default  # ...: required


def describe(exc: ValidationError) -> str:
    """The first error of a ValidationError, with its field path and the value given, on one line."""
    error = exc.errors(include_url=False)[0]
    path = field_path(error["loc"])
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "model_type":
        message = "must be a table of keys (a JSON object, a TOML table)"
    elif error["type"] != "missing" and not isinstance(error.get("input"), dict | list):
        message += f", not {error['input']!r}"
    more = len(exc.errors()) - 1
    return f"{path}: {message}" + (f" (and {more} more problem(s))" if more else "")


def field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "top level"
