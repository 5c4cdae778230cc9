"""The search space: the knobs a study tunes, each fixed, a range or a set of choices.

``SearchSpace`` is the one registry of knobs: each is declared there once, with its bounds
(``Knob``) and its default; everything else (validation, ``items()``, ``KNOBS``, the worker's
suggestions) reads that declaration. One entry is not a number: ``hidden_layers``, a choice
among whole MLP architectures (``Architectures``), which Optuna stores as a categorical
parameter over their labels (``"128-64"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    SerializerFunctionWrapHandler,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import CoreSchema, PydanticCustomError, PydanticKnownError, core_schema

from regtune.service.spec.objective import STORED
from regtune.service.spec.strict import Strict, field_error
from regtune.service.spec.words import kind_of


class Range(Strict):
    low: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)
    log: bool = False
    step: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self, info: ValidationInfo) -> Range:
        if not self.low < self.high:
            raise ValueError(f"low must be < high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("step cannot be combined with log")
        width = self.high - self.low
        stored = (info.context or {}).get(STORED)  # accepted before this rule: read as it was
        if self.step is not None and self.step > width * (1 + 1e-9) and not stored:
            raise ValueError(
                f"step must be at most high - low ({said(width)}), got step={said(self.step)}: "
                f"the range would hold low alone (give its value instead)"
            )
        return self

    @property
    def values(self) -> tuple[float, float]:
        return self.low, self.high


class Choices(Strict):
    choices: list[float] = Field(min_length=1, max_length=1_000)

    @field_validator("choices")
    @classmethod
    def _finite(cls, value: list[float]) -> list[float]:
        if any(not math.isfinite(v) for v in value):
            raise ValueError("choices must be finite numbers")
        if len(set(value)) != len(value):
            raise ValueError("choices must be distinct")
        return value

    @property
    def values(self) -> tuple[float, float]:
        return min(self.choices), max(self.choices)


class Fixed(Strict):
    value: float = Field(allow_inf_nan=False)

    @field_validator("value", mode="before")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        """NaN and infinity (YAML's ``.nan`` and ``.inf``, JSON's ``NaN``) refused as a knob's
        rule (was pydantic's "Input should be a finite number")."""
        if isinstance(value, float) and not math.isfinite(value):
            said = "NaN" if math.isnan(value) else "-infinity" if value < 0 else "infinity"
            raise ValueError(
                f"must be a finite number (NaN and infinity are not values of a knob), got {said}"
            )
        return value

    @model_serializer
    def _as_number(self) -> float:
        return self.value

    @classmethod
    def __get_pydantic_json_schema__(cls, _schema: Any, _handler: Any) -> dict[str, Any]:
        """Written as a plain number (``dropout: 0.2``), in requests as in answers."""
        return {"type": "number", "title": "Fixed", "description": "a fixed value"}

    @property
    def values(self) -> tuple[float, float]:
        return self.value, self.value


def _param_tag(value: Any) -> str | None:
    """The ``Param`` member ``value`` is: named ``choice``, not ``choices``, as a tag is no key of
    a definition (``locations.written`` drops tags from an error's location, and
    ``search_space.hidden_layers.choices`` is a key)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return "fixed"
    if isinstance(value, dict):
        return "choice" if "choices" in value else "range"
    if isinstance(value, Fixed | Range | Choices):
        return {Fixed: "fixed", Range: "range", Choices: "choice"}[type(value)]
    return None


PARAM_KINDS = "a parameter is a number, {low, high[, log][, step]} or {choices: [...]}"


def reads_as_number(text: str) -> bool:
    """Whether Python's ``float`` reads ``text`` (``'0.2'``, ``'1e-5'``, ``'inf'``)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _to_fixed(value: Any) -> Any:
    """A plain number is a fixed value. A number in quotes is refused as a number field refuses
    one (the API's 422 says to write it without quotes, or PyYAML's ``1e-5`` as ``1.0e-5``);
    any other value no kind takes, naming what it got (was: the kinds alone)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Fixed(value=value)
    if isinstance(value, str) and reads_as_number(value):
        raise PydanticKnownError("float_type")
    if _param_tag(value) is None:
        raise PydanticCustomError("param_kind", f"{PARAM_KINDS}, got {kind_of(value)}")
    return value


Param = Annotated[
    Annotated[Fixed, Tag("fixed")]
    | Annotated[Range, Tag("range")]
    | Annotated[Choices, Tag("choice")],
    Discriminator(_param_tag, custom_error_type="param_kind", custom_error_message=PARAM_KINDS),
    BeforeValidator(_to_fixed),
]


FLAG_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "boolean", "title": "Fixed flag"},
        {
            "type": "object",
            "title": "Flag choices",
            "properties": {
                "choices": {
                    "type": "array",
                    "items": {"type": "boolean"},
                    "minItems": 1,
                    "maxItems": 2,
                    "uniqueItems": True,
                }
            },
            "required": ["choices"],
            "additionalProperties": False,
        },
        {"type": "null"},
    ]
}
"""A flag knob as it is written and answered, true/false or {choices: [true, false]} (held as
1/0 inside, which the number schema of other knobs would have declared instead)."""


ARCHITECTURE = "hidden_layers"
"""The knob and trial parameter of a searched architecture: stored as its label (``"128-64"``),
a category of Optuna's; the worker's ``suggest`` gives the choice's position among the choices
(``Architectures.of`` reads it back), as it gives a flag as 0 or 1."""
ARCHITECTURE_CHOICES = (2, 16)
"""How many architectures ``search_space.hidden_layers`` chooses among (fewest, most)."""
Layers = Annotated[list[Annotated[int, Field(ge=1, le=4096)]], Field(min_length=1, max_length=8)]
"""One MLP architecture: 1 to 8 hidden layers of 1 to 4096 units (a searched one; a linear
model's ``model.hidden_layers`` may also be empty)."""


def layers_label(layers: list[int] | tuple[int, ...]) -> str:
    """An architecture as the trial's parameter stores it: ``[128, 64]`` → ``"128-64"`` (Optuna's
    categorical choices are numbers or strings, not lists)."""
    return "-".join(str(units) for units in layers)


class Architectures(Strict):
    """``search_space.hidden_layers``: one categorical choice among whole architectures, so that
    width and depth are searched beside the regularization knobs they trade off against."""

    choices: list[Layers] = Field(
        min_length=ARCHITECTURE_CHOICES[0], max_length=ARCHITECTURE_CHOICES[1]
    )

    @field_validator("choices")
    @classmethod
    def _distinct(cls, value: list[list[int]]) -> list[list[int]]:
        labels = [layers_label(layers) for layers in value]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(f"choices must be distinct architectures, got {repeated[0]} twice")
        return value

    @property
    def labels(self) -> list[str]:
        """The choices as the trials' parameter values, in the order given."""
        return [layers_label(layers) for layers in self.choices]

    def of(self, index: float) -> tuple[int, ...]:
        """The architecture a trial's value (its choice's position, ``search.suggest``) names."""
        return tuple(self.choices[int(index)])


SEARCHED_AS = (
    "hidden_layers is searched as {choices: [[64], [128, 64], ...]} (2 to 16 architectures)"
)
FIXED_IN_MODEL = "a fixed architecture is model.hidden_layers"


def _architectures(value: Any) -> Any:
    """A bare list is a fixed architecture, which belongs in ``model.hidden_layers``; a mapping
    without ``choices`` (a knob's ``{low, high}``, say) is told how architectures are searched,
    at the key it lacks (pydantic would add each other key's ``Extra inputs are not
    permitted``)."""
    if isinstance(value, list):
        raise ValueError(f"{SEARCHED_AS}; {FIXED_IN_MODEL}")
    if isinstance(value, dict) and "choices" not in value:
        given = "{" + ", ".join(str(key) for key in value) + "}"
        rule = f"Field required: {SEARCHED_AS}, got {given}; {FIXED_IN_MODEL}"
        raise field_error(("choices",), rule, value)
    return value


@dataclass(frozen=True)
class Knob:
    """The values a knob may take: ``low`` to ``high``, either end open; integers if ``integer``.

    Used as an annotation of a ``SearchSpace`` field, it checks the field's parameter.
    """

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    boolean: bool = False
    """A flag: written true/false or {choices: [true, false]}, suggested as a category."""

    def rule(self, name: str) -> str:
        low_op = "<" if self.low_open else "≤"
        high_op = "<" if self.high_open else "≤"
        return f"{self.low:g} {low_op} {name} {high_op} {self.high:g}"

    def _outside(self, value: float) -> bool:
        below = value <= self.low if self.low_open else value < self.low
        return below or (value >= self.high if self.high_open else value > self.high)

    def check(self, name: str, param: Fixed | Range | Choices, *, stored: bool = False) -> None:
        """Raise naming the rule ``param`` breaks; a ``stored`` definition reads back as it was
        accepted (whole numbers were not required before)."""
        if self.boolean:
            if isinstance(param, Range) or not set(param.values) <= {0.0, 1.0}:
                raise ValueError(f"{name} must be true, false or {{choices: [true, false]}}")
            return
        lo, hi = param.values
        if self._outside(lo) or self._outside(hi):
            raise ValueError(f"must satisfy {self.rule(name)}, got {shown(param, self._outside)}")
        if self.integer and not stored:
            match param:
                case Fixed():
                    given = [param.value]
                case Range():
                    given = [param.low, param.high, param.step or 1.0]
                case Choices():
                    given = list(param.choices)
            bad = [v for v in given if not v.is_integer()]
            if bad:
                raise ValueError(f"{name} takes whole numbers, got {said(bad[0])}")

    def _flags(self, value: Any, info: ValidationInfo) -> Any:
        """A flag's true/false read as 1/0 (the registry's parameters are numbers); a choice
        that is neither, among true or false, said as the flag's rule (was: the number rule
        refusing the ``true`` beside it)."""
        if not self.boolean:
            return value
        if isinstance(value, bool):
            return Fixed(value=float(value))
        if isinstance(value, dict) and isinstance(value.get("choices"), list):
            choices = value["choices"]
            if all(isinstance(c, bool) for c in choices):
                return {**value, "choices": [float(c) for c in choices]}
            if any(isinstance(c, bool) for c in choices):
                name = knob_name(str(info.field_name))
                other = next(c for c in choices if not isinstance(c, bool))
                raise ValueError(
                    f"{name} must be true, false or {{choices: [true, false]}}, got the choice "
                    f"{other!r}"
                )
        return value

    def _validate(self, param: Any, info: ValidationInfo) -> Any:
        """``param`` checked; a whole-number knob's linear range without a step steps by 1, as
        Optuna's ``suggest_int`` does, and is stored with it (as the grid and points read it)."""
        if param is None:
            return param
        stored = bool((info.context or {}).get(STORED))
        self.check(knob_name(str(info.field_name)), param, stored=stored)
        if self.integer and isinstance(param, Range) and param.step is None and not param.log:
            return param.model_copy(update={"step": 1.0})
        return param

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        after = core_schema.with_info_after_validator_function(self._validate, handler(source))
        return core_schema.with_info_before_validator_function(self._flags, after)


def shown(param: Fixed | Range | Choices, breaks: Callable[[float], bool]) -> str:
    """What a rule that ``param`` breaks says it got: the value, ``low..high``, or the first
    choice that ``breaks`` it (a choice, not the range between the extreme ones)."""
    if isinstance(param, Choices):
        return f"the choice {said(next(v for v in param.choices if breaks(v)))}"
    lo, hi = param.values
    return said(lo) if lo == hi else f"{said(lo)}..{said(hi)}"


def said(value: float) -> str:
    """A number a definition gave, as a message repeats it: whole without a point, else every
    digit it has, never rounded (``:g`` said 1.0000001 as 1 and 1000001 as 1e+06, values that
    seemed to meet the rule that refused them)."""
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _as_whole(value: Any) -> Any:
    """``value`` as an int if it is a whole float (``bool`` and others as they are)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def knob_name(attribute: str) -> str:
    """The knob's name in a definition (``lambda_`` is the attribute for the keyword ``lambda``)."""
    return attribute.removesuffix("_")


class SearchSpace(Strict):
    """Regularization knobs plus training knobs; each fixed, a range, or a set of choices."""

    lambda_: Annotated[Param, Knob(0.0, 1.0e6, low_open=True)] = Field(
        default_factory=lambda: Range(low=1e-5, high=10.0, log=True),
        alias="lambda",
        description="penalty strength λ",
    )
    l1_ratio: Annotated[Param, Knob(0.0, 1.0)] = Field(
        default_factory=lambda: Range(low=0.0, high=1.0),
        description="elastic-net mix ρ: 0 is pure L2 (ridge), 1 is pure L1 (lasso)",
    )
    relax: Annotated[Param | None, Knob(0.0, 1.0)] = Field(
        default=None,
        description="relaxed elastic net (least squares only, exact solver): the model is "
        "(1 − relax)·w + relax·(least squares on w's non-zero features); 0 is the elastic net, "
        "1 least squares on the features it selected (glmnet's relaxed fit, its γ = 1 − relax). "
        "Left out: searched over [0, 0.8] for a linear regression under the exact solver (any "
        "sampler but grid), else 0. A λ path stores each λ at its ends and middle",
    )
    dropout: Annotated[Param, Knob(0.0, 1.0, high_open=True)] = Field(
        default_factory=lambda: Fixed(value=0.0), description="probability of dropping a unit"
    )
    learning_rate: Annotated[Param, Knob(0.0, 10.0, low_open=True)] = Field(
        default_factory=lambda: Fixed(value=1e-2), description="the optimizer's step size"
    )
    batch_size: Annotated[Param | None, Knob(1.0, 1.0e6, integer=True)] = Field(
        default=None,
        description="minibatch size, fixed or searched, instead of training.batch_size (which "
        "is then left out)",
    )
    input_noise: Annotated[Param, Knob(0.0, 10.0)] = Field(
        default_factory=lambda: Fixed(value=0.0),
        description="std of Gaussian noise added to the standardized inputs while training "
        "(data augmentation; under the exact solver its expected effect, a ridge)",
    )
    layer_penalty: Annotated[Param, Knob(0.0, 1.0e3)] = Field(
        default_factory=lambda: Fixed(value=1.0),
        description="λ's multiplier on an MLP's layers after the first: 0 penalizes only the "
        "input layer, 1 every layer alike",
    )
    batch_norm: Annotated[
        Param | None, Knob(0.0, 1.0, boolean=True), WithJsonSchema(FLAG_SCHEMA)
    ] = Field(
        default=None,
        description="batch normalization in an MLP: true, false or {choices: [true, false]} "
        "(else model.batch_norm)",
    )
    hidden_layers: Annotated[Architectures | None, BeforeValidator(_architectures)] = Field(
        default=None,
        description="MLP architectures searched as one categorical choice, e.g. {choices: "
        "[[64], [128, 64], [256, 128]]}: 2 to 16 distinct lists of 1 to 8 layers of 1 to 4096 "
        "units; a trial's parameter is its choice's label ('128-64'). Instead of "
        "model.hidden_layers, which is then left out",
    )

    @field_serializer("batch_norm", mode="wrap")
    def _flag(
        self, param: Fixed | Choices | None, handler: SerializerFunctionWrapHandler
    ) -> bool | dict[str, list[bool]] | None:
        """A flag read back as it is written, true/false, not the 1/0 the registry holds."""
        match param:
            case Fixed():
                return bool(param.value)
            case Choices():
                return {"choices": [bool(c) for c in param.choices]}
        return handler(param)

    @field_serializer("batch_size", mode="wrap")
    def _whole(self, param: Param | None, handler: SerializerFunctionWrapHandler) -> Any:
        """A whole-number knob read back in whole numbers (``32``, not the ``32.0`` the
        registry holds); a value a stored definition was accepted with that is not one stays."""
        dumped = handler(param)
        if isinstance(dumped, float):
            return _as_whole(dumped)
        if isinstance(dumped, dict):
            return {
                key: [_as_whole(v) for v in value] if isinstance(value, list) else _as_whole(value)
                for key, value in dumped.items()
            }
        return dumped

    def items(self) -> list[tuple[str, Fixed | Range | Choices]]:
        """Every numeric knob the definition sets (or defaults), by its name in a definition
        (``hidden_layers``, a choice among architectures, is not one)."""
        pairs = ((knob_name(attr), getattr(self, attr)) for attr in _KNOB_ATTRS)
        return [(name, param) for name, param in pairs if param is not None]

    def searched(self) -> list[tuple[str, Range | Choices]]:
        return [(n, p) for n, p in self.items() if not isinstance(p, Fixed)]

    def given(self, names: tuple[str, ...]) -> list[str]:
        """The knobs among ``names`` set to other than their default, in that order: by value,
        not ``model_fields_set``, as a stored definition holds every field and must read as it
        was created (``Training.unread`` reads its settings alike)."""
        fields = SearchSpace.model_fields
        return [
            name
            for name in names
            if getattr(self, attr := _attribute(name))
            != fields[attr].get_default(call_default_factory=True)
        ]

    def grid_size(self) -> int:
        """Points of the grid a grid sampler walks (``grid_values`` of each searched knob, and
        the architectures), counted without building it; a continuous range counts once."""
        total = 1
        for _, param in self.searched():
            if isinstance(param, Choices):
                total *= len(param.choices)
            elif param.step:
                total *= math.floor((param.high - param.low) / param.step + 1e-9) + 1
        if self.hidden_layers is not None:
            total *= len(self.hidden_layers.choices)
        return total


KNOBS: dict[str, Knob] = {
    knob_name(attr): knob
    for attr, field in SearchSpace.model_fields.items()
    for knob in field.metadata
    if isinstance(knob, Knob)
}
"""Each numeric knob's bounds by its name in a definition."""
_KNOB_ATTRS = [attr for attr in SearchSpace.model_fields if knob_name(attr) in KNOBS]


def _attribute(name: str) -> str:
    """The ``SearchSpace`` attribute of the knob ``name`` (``lambda_`` for ``lambda``)."""
    return next(attr for attr in _KNOB_ATTRS if knob_name(attr) == name)


def grid_values(param: Range | Choices, knob: Knob | None = None) -> list[Any]:
    """The finite values a grid sampler walks, which a trial suggests among: the choices (a
    flag's as true/false, a whole-number knob's as integers), or the range's steps."""
    if isinstance(param, Choices):
        if knob is not None and knob.boolean:
            return [bool(c) for c in param.choices]
        if knob is not None and knob.integer:  # as given where a stored one is not whole
            return [int(c) if c.is_integer() else c for c in param.choices]
        return list(param.choices)
    assert param.step is not None
    count = math.floor((param.high - param.low) / param.step + 1e-9) + 1
    return [param.low + i * param.step for i in range(count)]
