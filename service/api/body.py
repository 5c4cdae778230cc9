"""Reading a request body as ``POST /v1/studies`` reads a definition: JSON, or YAML by content
type; the routes that take a few fields (extend, keys) read theirs alike."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import yaml
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from regtune.service.api.contract import ERROR, INVALID
from regtune.service.api.errors import BadBody
from regtune.service.spec.yaml12 import (
    NestedTooDeeply,
    TooManyNodes,
    digits_said,
    load_yaml,
    too_many_digits,
    yaml_problem,
)

MAX_DEFINITION_BYTES = 1_000_000
MAX_DEPTH = 32
"""Deepest nesting a definition may have; the deepest real one is about 5 levels."""
COMPONENTS = "#/components/schemas/"

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
Model = TypeVar("Model", bound=BaseModel)


async def read_definition(request: Request) -> dict[str, Any]:
    return await read_mapping(request, definition=True)


async def read_mapping(request: Request, *, definition: bool = False) -> dict[str, Any]:
    """The body as a mapping: YAML for a YAML content type, JSON for any other (``curl -d``
    sends a form's type). ``definition``: the 400s speak of a study definition, and read a
    refused text for a definition's mistakes (a file's name sent, block YAML on one line).

    Parsed in a worker thread: a megabyte of YAML takes PyYAML seconds, which on the event loop
    held every other request of the process (``/healthz`` too) until it was done."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    sender = request.headers.get("user-agent", "")
    return await run_in_threadpool(
        parse_mapping, raw, content_type=content_type, sender=sender, definition=definition
    )


def parse_mapping(
    raw: bytes, *, content_type: str, sender: str, definition: bool = False
) -> dict[str, Any]:
    """``read_mapping``'s work once the body has come: it blocks (``read_mapping``)."""
    noun = "the definition" if definition else "the body"
    if len(raw) > MAX_DEFINITION_BYTES:
        raise BadBody(f"{noun} is larger than {MAX_DEFINITION_BYTES} bytes")
    if not raw.strip():
        sent = "a study definition as JSON or YAML" if definition else "a JSON object"
        raise BadBody(f"the body is empty; send {sent}")
    unmarked = raw.removeprefix(codecs.BOM_UTF8)  # as Notepad and PowerShell save UTF-8
    try:
        text = unmarked.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(not_utf8(unmarked, exc, noun=noun)) from exc
    try:
        is_yaml = content_type in YAML_TYPES
        data = load_yaml(text) if is_yaml else load_json(text)
    except NestedTooDeeply:
        raise BadBody(f"the body is nested too deeply (at most {MAX_DEPTH} levels)") from None
    except TooManyNodes as exc:
        raise HTTPException(413, f"{noun} is too large: {exc}") from None
    except yaml.YAMLError as exc:
        hint = one_line(text, sender=sender) if definition and squashed(exc) else ""
        raise BadBody(f"the body is not valid YAML: {yaml_problem(exc)}{hint}") from exc
    except json.JSONDecodeError as exc:
        said = f"the body is not valid JSON: {exc}".splitlines()[0]
        raise BadBody(said + yaml_sent_as_json(text, content_type)) from exc
    except KeyGivenTwice:
        raise BadBody(f"the body is not valid JSON: {given_twice(text)}") from None
    except NumberTooLong:
        raise BadBody(f"the body is not valid JSON: {too_long(text)}") from None
    except RecursionError:
        raise BadBody(f"the body is nested too deeply (at most {MAX_DEPTH} levels)") from None
    if not isinstance(data, dict):
        hint = ""
        if definition:
            hint = file_name(data) or (one_line(text, sender=sender) if is_yaml else "")
        raise BadBody(f"{noun} must be a mapping (a JSON object){hint}")
    if depth(data) > MAX_DEPTH:
        raise BadBody(f"the body is nested too deeply (at most {MAX_DEPTH} levels)")
    return data


class KeyGivenTwice(Exception):
    """A JSON object holds a key twice: ``json.loads`` keeps the last one silently."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) < len(pairs):
        raise KeyGivenTwice
    return mapping


class NumberTooLong(Exception):
    """A JSON integer of more digits than Python reads (``sys.get_int_max_str_digits``)."""


def _whole(digits: str) -> int:
    try:
        return int(digits)
    except ValueError:
        raise NumberTooLong from None


def load_json(text: str) -> Any:
    """``json.loads``, refusing an object that gives a key twice, at any depth, as YAML does
    (``DefinitionLoader``): which one the sender meant is not for the reader to guess; and a
    whole number of more digits than Python reads, which ``json`` lets out as a ValueError."""
    return json.loads(text, object_pairs_hook=_unique, parse_int=_whole)


JSON_NUMBER = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|-?(\d+)(\.\d+)?([eE][-+]?\d+)?')
"""A string, or a number with its digits, fraction and exponent apart."""


def too_long(text: str) -> str:
    """Where the first whole number of ``text`` (JSON) too long for ``_whole`` is."""
    for token in JSON_NUMBER.finditer(text):
        digits, fraction, exponent = token.groups()
        if digits and not (fraction or exponent) and too_many_digits(len(digits)):
            return f"{digits_said(len(digits))} at {place(text, token.start())}"
    return "a whole number has too many digits"


def place(text: str, index: int) -> str:
    """Where ``index`` is in ``text``, as YAML's errors say it."""
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {column}"


JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]:]')
"""A string or a character of structure: all of valid JSON that says where a key is."""


def given_twice(text: str) -> str:
    """The first key given twice in one object of ``text`` (valid JSON), and where, in the
    words YAML's error says it with."""
    keys: list[set[str] | None] = []  # each open object's keys so far; None for a list
    last = None
    for token in JSON_TOKEN.finditer(text):
        match token.group():
            case "{":
                keys.append(set())
            case "[":
                keys.append(None)
            case "}" | "]":
                keys.pop()
            case ":":
                assert last is not None and keys[-1] is not None  # a key before every ':'
                key = json.loads(last.group())
                if key in keys[-1]:
                    return (
                        f"{key!r} is given twice at {place(text, last.start())} (JSON readers "
                        "differ on which one counts: give each key once)"
                    )
                keys[-1].add(key)
            case _:
                last = token
    return "a key is given twice (give each key once)"


def read_as(model: type[Model]) -> Callable[[Request], Coroutine[Any, Any, Model]]:
    """A dependency giving a route its body as ``model``, read as ``read_mapping`` reads it (a
    400 for a body that cannot be read) and validated as FastAPI validates a body it reads
    itself (a 422 whose paths start at ``body``)."""

    async def body(request: Request) -> Model:
        data = await read_mapping(request)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
            raise RequestValidationError(problems) from None

    return body


DOCUMENTED: dict[str, type[BaseModel]] = {}
"""The bodies ``documented`` declared, by name: the served schema's components hold them, as
FastAPI's hold a body it reads itself (``components.schemas.StudyExtension``), so that a
generated client names their types."""


def documented(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring what FastAPI declares of a body it reads itself, for a route
    that reads its own with ``read_as``: ``model`` as the body (a reference to its component,
    ``DOCUMENTED``), and the 422 of one that breaks its rules."""
    DOCUMENTED[model.__name__] = model
    content = {"application/json": {"schema": {"$ref": f"{COMPONENTS}{model.__name__}"}}}
    invalid = {"description": INVALID, "content": ERROR}
    return {"requestBody": {"required": True, "content": content}, "responses": {"422": invalid}}


def components() -> dict[str, Any]:
    """The schemas of the ``DOCUMENTED`` bodies and of the models they hold, by name."""
    found: dict[str, Any] = {}
    for name, model in DOCUMENTED.items():
        schema = model.model_json_schema(ref_template=COMPONENTS + "{model}")
        found.update(schema.pop("$defs", {}))
        found[name] = schema
    return found


def yaml_sent_as_json(text: str, content_type: str) -> str:
    """A hint for a YAML definition sent without a YAML content type (``curl --data-binary
    @def.yaml`` sends it as a form, or with the README's JSON header): how to send it as YAML."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError:
        return ""
    if not isinstance(data, dict):
        return ""
    return (
        f" (it reads as YAML, but came as {content_type}: send YAML with the header "
        "Content-Type: application/yaml)"
    )


def not_utf8(raw: bytes, exc: UnicodeDecodeError, *, noun: str) -> str:
    """Where a body that is not UTF-8 goes wrong, and what to do: a body is UTF-8 text (JSON's
    own rule), so a file saved as UTF-16 or in a Windows code page is named as such."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return (
            f"the body is UTF-16 text (it starts with a UTF-16 byte-order mark); save {noun} "
            "as UTF-8"
        )
    line = raw.count(b"\n", 0, exc.start) + 1
    column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
    return (
        f"the body is not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line}, column "
        f"{column} ({exc.reason}); save {noun} as UTF-8"
    )


def file_name(data: object) -> str:
    """A hint for a body that is only a definition file's name (``curl -d def.yaml`` without
    the ``@``; ``Client.submit("def.yaml")``, whose ``str`` is the definition's text)."""
    if not isinstance(data, str) or not data.lower().endswith((".yaml", ".yml", ".json")):
        return ""
    return (
        f": the body is the text {data!r}, which names a file; send the file's content "
        f"(curl --data-binary @{data}, regtune submit {data}, Client.submit(Path({data!r})))"
    )


def squashed(exc: yaml.YAMLError) -> bool:
    """Whether ``exc`` may come of block YAML on one line: the scanner or parser refused its
    structure (``name: x dataset: …``), not a tag or a value (``!!python/…``, ``2024-13-45``)."""
    return isinstance(exc, yaml.scanner.ScannerError | yaml.parser.ParserError)


def one_line(text: str, *, sender: str) -> str:
    """A hint for block YAML that arrived on one line, in words that fit who sent it
    (``sender``, the request's User-Agent): ``curl -d @file`` drops a file's line breaks; from
    anything else (the Python client's str, a one-line file) the text was written so. Flow
    style (JSON among it) needs no line breaks: a broken one gets the parser's words alone."""
    written = text.strip()
    if "\n" in written or written.startswith(("{", "[")):
        return ""
    if sender.lower().startswith("curl/"):
        return " (the YAML came as one line: curl -d drops line breaks, --data-binary keeps them)"
    return (
        " (the YAML came as one line: block YAML needs a line break before each key; write it "
        "on several lines, or in flow style: {name: ..., dataset: {...}})"
    )


def depth(value: Any) -> int:
    """How deeply lists and mappings nest in ``value``, without recursion.

    YAML anchors make shared and even self-containing nodes, so each node is measured once
    (a billion laughs costs its size, not its expansion) and a cycle is an error.
    """
    measured: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, children_done = stack.pop()
        if not isinstance(node, dict | list) or (id(node) in measured and not children_done):
            continue
        children = [c for c in (node.values() if isinstance(node, dict) else node)]
        if children_done:
            open_.discard(id(node))
            nested = [measured.get(id(c), 0) for c in children if isinstance(c, dict | list)]
            measured[id(node)] = 1 + max(nested, default=0)
            continue
        if id(node) in open_:
            raise BadBody("the body refers to itself (a YAML alias inside its own anchor)")
        open_.add(id(node))
        stack.append((node, True))
        for child in children:
            if isinstance(child, dict | list):
                if id(child) in open_:
                    raise BadBody("the body refers to itself (a YAML alias inside its own anchor)")
                stack.append((child, False))
    return measured.get(id(value), 0)
