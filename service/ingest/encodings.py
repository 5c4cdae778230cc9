"""The text encoding a CSV file is read with: UTF-8 unless the caller names another.

A file is never decoded by a guess: Latin-1 decodes any bytes, so a silent fallback would turn
real corruption into wrong data. A file that is not UTF-8 is refused with the byte at fault and
the option to pass (``encoding=cp1252`` when the bytes read so, as Excel on Windows writes CSV);
a named encoding is checked against Python's codec registry, and the file is decoded with it
strictly and handed on as UTF-8, so everything after reads one encoding.
"""

from __future__ import annotations

import codecs

from regtune.service.errors import FieldProblem, InvalidUpload

UTF8 = "utf-8"
BOM = b"\xef\xbb\xbf"
UTF16 = "utf-16"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
WINDOWS = "cp1252"
"""What Excel on Windows (and many survey and government tables) writes a CSV in."""
ENCODING_RULE = (
    "must name a text encoding of Python's codec registry (utf-8, cp1252, latin-1, utf-16, "
    "mac-roman...)"
)


def encoding_problem(rule: str) -> InvalidUpload:
    """A 422 at the ``encoding`` option."""
    return InvalidUpload(f"encoding: {rule}", [FieldProblem(path="encoding", rule=rule)])


def check_encoding(name: str | None) -> str:
    """The codec's canonical name (``Windows-1252`` is ``cp1252``, ``utf-8-sig`` is ``utf-8``:
    a byte-order mark is skipped either way); None is UTF-8. An unknown name, or a codec that
    is not a text encoding (``base64``), is a 422 at ``encoding``."""
    if name is None:
        return UTF8
    try:
        canonical = codecs.lookup(name).name
        b"a".decode(canonical)  # LookupError for a bytes-to-bytes codec: base64, zlib...
    except LookupError:
        raise encoding_problem(f"{ENCODING_RULE}, got {name!r}") from None
    except UnicodeDecodeError:
        pass  # a text encoding of wider units (utf-16)
    except UnicodeError:  # a codec that decodes nothing: ``undefined``
        raise encoding_problem(f"{ENCODING_RULE}, got {name!r}") from None
    return UTF8 if canonical == "utf-8-sig" else canonical


def _where(raw: bytes, offset: int) -> str:
    line = raw.count(b"\n", 0, offset) + 1
    return f"byte 0x{raw[offset]:02x} at line {line} (offset {offset})"


def not_utf8(raw: bytes, offset: int) -> InvalidUpload:
    """The refusal of bytes that are not UTF-8 from ``offset``: where, and the option to pass
    (cp1252 when the whole file reads so; a name to fill in otherwise)."""
    try:
        raw.decode(WINDOWS)
    except UnicodeDecodeError:
        option = "encoding=NAME (--encoding NAME) naming the encoding it was saved in"
    else:
        option = (
            f"encoding={WINDOWS} (--encoding {WINDOWS}) if it was saved as Excel on Windows "
            "saves CSV (it reads so), or the encoding it was saved in"
        )
    return InvalidUpload(
        f"the file is not UTF-8 text: {_where(raw, offset)}; save it as UTF-8, or pass {option}"
    )


def neither(raw: bytes, encoding: str) -> InvalidUpload:
    """The refusal of a file to predict that is not UTF-8, nor text in ``encoding``, the
    encoding the model's training file was read with."""
    at = ""
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        at = f": {_where(raw, exc.start)}"
    except UnicodeError:
        pass  # a codec of names, not of files (punycode): no byte at fault
    return InvalidUpload(
        f"the file is neither UTF-8 nor {encoding} text (the encoding the model's training file "
        f"was read with){at}; pass the encoding it was saved in: --encoding NAME"
    )


def utf16_order(raw: bytes) -> str | None:
    """utf-16-le or utf-16-be when the file starts as Latin text in UTF-16 without a byte-order
    mark (a NUL after, or before, every character of its first 100); None otherwise."""
    head = raw[: min(len(raw), 200) & ~1]
    if len(head) < 4:
        return None
    low, high = head[0::2], head[1::2]
    if not high.strip(b"\0") and b"\0" not in low:
        return "utf-16-le"
    if not low.strip(b"\0") and b"\0" not in high:
        return "utf-16-be"
    return None


def in_order(raw: bytes, encoding: str) -> str:
    """The encoding bytes without a byte-order mark are read in for a model of ``encoding``: for
    UTF-16, the byte order their start shows (``utf16_order``), which may be the other than the
    training file's; else ``encoding``."""
    if encoding.startswith(UTF16) and (order := utf16_order(raw)) is not None:
        return order
    return encoding


def to_utf8(raw: bytes, encoding: str) -> bytes:
    """``raw`` (a CSV file in ``encoding``, a canonical name) as UTF-8 bytes without a
    byte-order mark; bytes that are not text in ``encoding`` are refused with the first one."""
    if encoding == UTF8 and raw.startswith(UTF16_BOMS):
        raise InvalidUpload(
            "the file is UTF-16 text (it starts with a UTF-16 byte-order mark, as Excel's "
            "'Unicode Text' saves it); pass encoding=utf-16 (--encoding utf-16), or save it "
            "as UTF-8"
        )
    if encoding == UTF8:
        if (order := utf16_order(raw)) is not None:
            raise InvalidUpload(
                f"the file looks like UTF-16 text without a byte-order mark (every other byte "
                f"of its start is NUL); pass encoding={order} (--encoding {order}), or "
                "save it as UTF-8"
            )
        return raw
    if raw.startswith(BOM):
        raise encoding_problem(
            f"the file starts with a UTF-8 byte-order mark, so it is UTF-8 text, not {encoding}; "
            "leave encoding out"
        )
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InvalidUpload(
            f"the file is not {encoding} text: {_where(raw, exc.start)} ({exc.reason}); pass "
            "the encoding it was saved in"
        ) from None
    except UnicodeError as exc:  # a codec of names, not of files (punycode): no byte at fault
        raise encoding_problem(
            f"{ENCODING_RULE}; {encoding} cannot decode the file ({exc})"
        ) from None
    return text.removeprefix("\ufeff").encode(UTF8)
