"""The YAML a study definition is read with, by the API and the CLI alike: ``load_yaml``, whose
every refusal is a YAML error saying, in words, what is wrong and at which line."""

from __future__ import annotations

import re
import sys
from typing import Any

import yaml

from regtune.service.spec.words import quoted

YAML_TAG = "tag:yaml.org,2002:"
"""What the tags of YAML's own types start with (``!!int`` is short for ``…:int``)."""
TAG_WORDS = {
    f"{YAML_TAG}{name}": words
    for name, words in {
        "null": "null",
        "bool": "true or false",
        "int": "a whole number",
        "float": "a number",
        "binary": "base64 text",
        "timestamp": "a date",
        "str": "text",
        "seq": "a list",
        "map": "a mapping",
        "set": "a mapping",
        "omap": "a list of one-key mappings",
        "pairs": "a list of one-key mappings",
    }.items()
}
"""What the value of each tag ``DefinitionLoader`` reads must be, in words."""


MAX_NODES = 100_000
"""The most nodes (values, lists and mappings) a definition's YAML may hold: the largest
definition the rules admit holds about 38,000 (1,000 points of every knob, each knob's 1,000
choices, 16 architectures of 8 layers), while PyYAML spends about 2 s of CPU on each 100,000,
which a 1 MB body of ``[1,1,…]`` held five times over (``tests/service/test_yaml_nodes.py``
builds that largest definition)."""


class TooManyNodes(yaml.YAMLError):
    """A YAML text of more than ``MAX_NODES`` nodes, refused as it is composed."""


class DefinitionLoader(yaml.SafeLoader):
    """YAML 1.2 core numbers and booleans (``core_schema``): ``1e-5`` is a float, ``010`` the
    whole number 10, ``yes``, ``on`` and ``no`` text, which a boolean field refuses naming it
    (PyYAML's YAML 1.1 rules read ``1e-5`` as text, ``010`` as the octal 8, ``yes`` and ``on``
    as true, ``1:30`` as 90); a key given twice in one mapping is an error (PyYAML keeps the
    last one silently); every
    refusal is a YAML error at a line: PyYAML's own constructors let out a bare ValueError,
    KeyError, IndexError or AttributeError for a value its tag cannot read (``2024-13-45``,
    ``!!int abc``, ``!!bool maybe``, ``!!int _``, a number of 5,000 digits), and a TypeError
    for ``!!map`` or ``!!set`` on a list; a text of more than ``MAX_NODES`` nodes is refused
    once it has composed that many (``TooManyNodes``), before the rest is read."""

    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)
        self.nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise TooManyNodes(
                f"the YAML holds more than {MAX_NODES:,} values, lists and mappings (a "
                "definition the rules admit holds at most about 38,000)"
            )
        return super().compose_node(parent, index)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, LookupError, TypeError, AttributeError, ArithmeticError) as exc:
            problem = self.unreadable(node, exc)
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from exc

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):  # PyYAML looks into it as one first
            problem = self.unreadable(node, None)
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)
        seen: set[str] = set()
        for key_node, _ in node.value:
            if key_node.tag == f"{YAML_TAG}merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.value in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"{key_node.value!r} is given twice",
                    key_node.start_mark,
                )
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)

    def unreadable(self, node: yaml.Node, exc: Exception | None) -> str:
        """Why ``node`` is no value of its tag, in words."""
        tag = node.tag.replace(YAML_TAG, "!!")
        takes = f"{tag} takes {TAG_WORDS.get(node.tag, 'another value')}"
        if not isinstance(node, yaml.ScalarNode):
            return f"{takes}, got a {'list' if isinstance(node, yaml.SequenceNode) else 'mapping'}"
        value = node.value
        digits = sum(c.isdigit() for c in value)
        if node.tag == f"{YAML_TAG}int" and too_many_digits(digits):
            return digits_said(digits)
        implicit = self.resolve(yaml.ScalarNode, value, (True, False)) == node.tag
        if node.tag == f"{YAML_TAG}timestamp" and implicit and isinstance(exc, ValueError):
            return f"{value!r} reads as a date, but no such date exists ({exc}; quote it for text)"
        return f"{takes}, got {quoted(value)}"


CORE_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
CORE_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
CORE_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
"""The YAML 1.2 core schema's booleans, whole numbers and numbers (its section 10.3.2)."""


def core_schema(loader: type[yaml.SafeLoader]) -> None:
    """Read booleans and numbers as the YAML 1.2 core schema does: PyYAML's YAML 1.1 resolvers
    of them give way to ``CORE_BOOL``, ``CORE_INT`` and ``CORE_FLOAT`` (a whole number before a
    number, as a resolver's first match wins), and ``!!int`` and ``!!bool`` read those forms
    alone (``!!int 0b1`` and ``!!bool yes`` are refused as ``!!int abc`` is)."""
    replaced = {f"{YAML_TAG}{name}" for name in ("bool", "int", "float")}
    loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in replaced]
        for first, resolvers in loader.yaml_implicit_resolvers.items()
    }
    loader.add_implicit_resolver(f"{YAML_TAG}bool", CORE_BOOL, list("tTfF"))
    loader.add_implicit_resolver(f"{YAML_TAG}int", CORE_INT, list("-+0123456789"))
    loader.add_implicit_resolver(f"{YAML_TAG}float", CORE_FLOAT, list("-+.0123456789"))
    loader.add_constructor(f"{YAML_TAG}bool", _core_bool)
    loader.add_constructor(f"{YAML_TAG}int", _core_int)


def _core_bool(loader: yaml.SafeLoader, node: yaml.Node) -> bool:
    value = loader.construct_scalar(node)  # type: ignore[arg-type]
    if not isinstance(value, str) or not CORE_BOOL.match(value):
        raise ValueError(f"not a YAML 1.2 boolean: {value!r}")
    return value.lower() == "true"


def _core_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    value = loader.construct_scalar(node)  # type: ignore[arg-type]
    if not isinstance(value, str) or not CORE_INT.match(value):
        raise ValueError(f"not a YAML 1.2 whole number: {value!r}")
    if value.startswith(("0o", "0x")):
        return int(value[2:], 8 if value[1] == "o" else 16)
    return int(value, 10)  # leading zeros and all: 010 is 10


core_schema(DefinitionLoader)


class NestedTooDeeply(yaml.YAMLError):
    """A text nested deeper than PyYAML, which reads by recursion, can follow."""


def load_yaml(text: str | bytes) -> Any:
    """``text`` as ``DefinitionLoader`` (a SafeLoader) reads it; any refusal a YAMLError
    (``NestedTooDeeply`` for one nested past Python's recursion limit)."""
    try:
        return yaml.load(text, DefinitionLoader)
    except RecursionError:
        raise NestedTooDeeply("the YAML is nested too deeply") from None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error as one line that says where: the problem at its line and column, and what
    it was reading (from which line)."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return str(exc).splitlines()[0]
    mark = exc.problem_mark
    said = f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
    if exc.context and exc.context_mark is not None:
        said += f" ({exc.context} from line {exc.context_mark.line + 1})"
    return said


def too_many_digits(digits: int) -> bool:
    """Whether a whole number of ``digits`` is past what Python reads (0: no limit)."""
    return 0 < sys.get_int_max_str_digits() < digits


def digits_said(digits: int) -> str:
    return f"a whole number of {digits:,} digits (at most {sys.get_int_max_str_digits():,})"
