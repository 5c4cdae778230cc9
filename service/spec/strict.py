"""The base of every part of a definition: JSON types taken as written, unknown keys refused.

pydantic's strict mode: ``true`` is not 1, ``0`` is not false, ``"5"`` is not 5; an integer is
still a valid float, as JSON has one number type. Enum fields opt out (``Field(strict=False)``)
so that they accept their values as the strings JSON and YAML carry. A part given as no mapping
is told what it takes (``Strict._parts_said``), not the class that holds it.
"""

from __future__ import annotations

import types
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ModelWrapValidatorHandler, model_validator
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError, ValidationError
from pydantic_core.core_schema import ErrorType

from regtune.service.spec.words import kind_of

NOT_A_MAPPING = frozenset({"model_type", "model_attributes_type"})
"""pydantic's errors of a part given as no mapping: "Input should be a valid dictionary or
instance of EarlyStopping" (a class no definition names), "… or object to extract fields from"
(a sampler's or a pruner's)."""
KNOWN = frozenset(get_args(ErrorType))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)

    @model_validator(mode="wrap")
    @classmethod
    def _parts_said(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        """A field of parts given as no mapping (``early_stopping: true``, ``sampler: tpe``) is
        told what it takes: the part's keys, or its types, and null where it may be."""
        try:
            return handler(data)
        except ValidationError as exc:
            errors = exc.errors()
            if not any(_takes(cls, error) for error in errors):
                raise
            said = [_said(cls, error) for error in errors]
            raise ValidationError.from_exception_data(exc.title, said) from None


def _takes(model: type[BaseModel], error: ErrorDetails) -> str | None:
    """What the field of ``model`` that ``error`` refused as no mapping takes, in words; None
    for any other error."""
    if len(error["loc"]) != 1 or error["type"] not in NOT_A_MAPPING:
        return None
    return mapping_words(model, str(error["loc"][0]))


def _said(model: type[BaseModel], error: ErrorDetails) -> InitErrorDetails:
    """``error`` again, told what its field takes if it was refused as no mapping."""
    takes = _takes(model, error)
    if takes is not None:
        rule = f"must be {takes}, got {kind_of(error['input'])}"
        return InitErrorDetails(
            type=PydanticCustomError("mapping_type", rule), loc=error["loc"], input=error["input"]
        )
    kind = error["type"]
    again = InitErrorDetails(
        type=kind if kind in KNOWN else PydanticCustomError(kind, error["msg"], error.get("ctx")),
        loc=error["loc"],
        input=error["input"],
    )
    if kind in KNOWN and "ctx" in error:
        again["ctx"] = error["ctx"]
    return again


def _members(annotation: Any) -> list[Any]:
    """The types an annotation allows, its unions and ``Annotated`` undone."""
    if get_origin(annotation) is Annotated:
        return _members(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


@cache
def mapping_words(model: type[BaseModel], key: str) -> str | None:
    """What the field of ``model`` at ``key`` takes if it takes parts, in words: ``a mapping
    {patience, min_delta, restore_best} or null``, ``a mapping {type, …} (type: tpe, random or
    grid)``; None for a field that takes anything else too (a knob takes a number)."""
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    members = _members(fields[key].annotation) if key in fields else []
    models = [m for m in members if m is not type(None)]
    if not models or not all(isinstance(m, type) and issubclass(m, BaseModel) for m in models):
        return None
    if len(models) == 1:
        keys = [field.alias or name for name, field in models[0].model_fields.items()]
        words = "a mapping {" + ", ".join(keys) + "}"
    else:
        kinds = [str(get_args(m.model_fields["type"].annotation)[0]) for m in models]
        words = f"a mapping {{type, …}} (type: {', '.join(kinds[:-1])} or {kinds[-1]})"
    return f"{words} or null" if len(members) > len(models) else words


def field_error(path: tuple[str, ...], message: str, value: Any = None) -> ValidationError:
    """A validation error located at ``path`` (model-level checks would otherwise lose it)."""
    detail = InitErrorDetails(
        type=PydanticCustomError("value_error", message), loc=path, input=value
    )
    return ValidationError.from_exception_data("StudySpec", [detail])
