"""The parameter schema every algorithm file declares as ``PARAMETERS``: a list of plain dicts.

Each entry (validated by :class:`ParameterSpec`)::

    {"name": "horizon_secs", "type": "int", "default": 300, "min": 1, "max": 86400,
     "doc": "Seconds over which the whole order is executed."}

- ``type``: ``int``, ``float``, ``bool``, ``str`` or ``list[float]``;
- ``default``: the value when the parameter is not given; ``None`` makes it optional (absent);
  ``required: true`` (no default) makes it mandatory;
- ``min``/``max``: inclusive bounds (numbers; for ``list[float]`` they bound every element);
  ``exclusive_min: true`` makes the lower bound strict (``> min``);
- ``choices``: the allowed values (``str``);
- ``doc``: one line.

A plain literal so the registry reads it with ``ast.literal_eval`` without importing the file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from odum_pipeline.errors import OdumError

ParamType = Literal["int", "float", "bool", "str", "list[float]"]
_NAME = r"^[a-z][a-z0-9_]*$"


class ParameterSchemaError(OdumError, ValueError):
    """``PARAMETERS`` is not a valid parameter schema."""


class AlgorithmParameterError(OdumError, ValueError):
    """A parameter value does not fit the algorithm's schema; the message names both."""


class ParameterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME, description="Python identifier, lower case.")
    type: ParamType
    doc: str = Field(min_length=1, description="One line describing the parameter.")
    default: Any = None
    required: bool = False
    min: float | None = None
    max: float | None = None
    exclusive_min: bool = False
    choices: list[str] | None = None

    @field_validator("doc")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value.strip():
            raise ValueError("doc must be one line")
        return value.strip()

    @model_validator(mode="after")
    def _consistent(self) -> ParameterSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) > max ({self.max})")
        if self.choices is not None and self.type != "str":
            raise ValueError("choices are only for type 'str'")
        if self.required and self.default is not None:
            raise ValueError("a required parameter has no default")
        if (self.min is not None or self.max is not None) and self.type in ("bool", "str"):
            raise ValueError(f"min/max do not apply to type {self.type!r}")
        if self.default is not None:
            try:
                coerce_value(self, self.default)
            except AlgorithmParameterError as exc:
                raise ValueError(f"default {self.default!r} is invalid: {exc}") from None
        return self


def validate_schema(parameters: Any, *, source: str = "PARAMETERS") -> list[ParameterSpec]:
    """``PARAMETERS`` as validated specs, or a ``ParameterSchemaError`` naming the entry and field."""
    if not isinstance(parameters, (list, tuple)):
        raise ParameterSchemaError(f"{source}: expected a list of parameter dicts, got {type(parameters).__name__}")
    specs: list[ParameterSpec] = []
    problems: list[str] = []
    for index, entry in enumerate(parameters):
        if not isinstance(entry, Mapping):
            problems.append(f"{source}[{index}]: expected a dict, got {type(entry).__name__}")
            continue
        label = entry.get("name", index)
        try:
            specs.append(ParameterSpec.model_validate(dict(entry)))
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors(include_url=False)
            )
            problems.append(f"{source}[{index}] ({label!r}): {details}")
    if problems:
        raise ParameterSchemaError("; ".join(problems))
    names = [spec.name for spec in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ParameterSchemaError(f"{source}: duplicate parameter name(s) {', '.join(duplicates)}")
    return specs


def _number(spec: ParameterSpec, value: Any, integer: bool) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise AlgorithmParameterError(f"expected {spec.type}, got {value!r}") from None
        else:
            raise AlgorithmParameterError(f"expected {spec.type}, got {type(value).__name__} {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise AlgorithmParameterError(f"expected a finite number, got {value!r}")
    if integer:
        if float(value) != int(value):
            raise AlgorithmParameterError(f"expected an integer, got {value!r}")
        value = int(value)
    else:
        value = float(value)
    low = spec.min
    if low is not None and (value <= low if spec.exclusive_min else value < low):
        raise AlgorithmParameterError(f"{value!r} is below the minimum ({'>' if spec.exclusive_min else '>='} {low:g})")
    if spec.max is not None and value > spec.max:
        raise AlgorithmParameterError(f"{value!r} is above the maximum (<= {spec.max:g})")
    return value


def coerce_value(spec: ParameterSpec, value: Any) -> Any:
    """``value`` converted to the spec's type and checked against its bounds."""
    if spec.type == "int":
        return _number(spec, value, integer=True)
    if spec.type == "float":
        return _number(spec, value, integer=False)
    if spec.type == "bool":
        if isinstance(value, bool):
            return value
        raise AlgorithmParameterError(f"expected true or false, got {value!r}")
    if spec.type == "str":
        if not isinstance(value, str):
            raise AlgorithmParameterError(f"expected a string, got {value!r}")
        if spec.choices is not None and value not in spec.choices:
            raise AlgorithmParameterError(f"{value!r} is not one of {', '.join(spec.choices)}")
        return value
    # list[float]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise AlgorithmParameterError(f"expected a list of numbers, got {value!r}")
    if not value:
        raise AlgorithmParameterError("expected a non-empty list of numbers")
    element = spec.model_copy(update={"type": "float"})
    out = []
    for index, item in enumerate(value):
        try:
            out.append(_number(element, item, integer=False))
        except AlgorithmParameterError as exc:
            raise AlgorithmParameterError(f"element [{index}]: {exc}") from None
    return out


def resolve(name: str, specs: Sequence[ParameterSpec], params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults filled in, types and bounds checked; unknown names are an error."""
    params = dict(params or {})
    known = {spec.name for spec in specs}
    unknown = sorted(set(params) - known)
    if unknown:
        raise AlgorithmParameterError(
            f"algorithm {name}: unknown parameter(s) {', '.join(unknown)} (known: {', '.join(sorted(known)) or 'none'})"
        )
    resolved: dict[str, Any] = {}
    for spec in specs:
        value = params.get(spec.name, spec.default)
        if value is None:
            if spec.required:
                raise AlgorithmParameterError(f"algorithm {name}: parameter {spec.name} is required ({spec.doc})")
            resolved[spec.name] = None
            continue
        try:
            resolved[spec.name] = coerce_value(spec, value)
        except AlgorithmParameterError as exc:
            raise AlgorithmParameterError(f"algorithm {name}: parameter {spec.name}: {exc}") from None
    return resolved


def default_drift(spec: ParameterSpec, config_default: Any) -> str | None:
    """``None`` when ``config_default`` (the config class's) is the spec's default, else what differs."""
    if spec.default is None or config_default is None:
        same = spec.default is None and config_default is None
    else:
        try:
            same = coerce_value(spec, config_default) == coerce_value(spec, spec.default)
        except AlgorithmParameterError:
            same = False
    return None if same else f"{spec.name}: PARAMETERS {spec.default!r}, config {config_default!r}"


def describe(specs: Sequence[ParameterSpec]) -> list[dict[str, Any]]:
    """The schema as plain dicts (for JSON, the CLI and Dagster metadata)."""
    return [spec.model_dump(exclude_none=True, exclude_defaults=False) for spec in specs]
