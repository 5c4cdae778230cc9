"""Is a file text: a sniff of its start, and the check that refuses a NUL or a line too long."""

from __future__ import annotations

import dataclasses

import numpy as np

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.encodings import UTF8, not_utf8
from regtune.service.ingest.header import Limits


def looks_like_text(raw: bytes) -> bool:
    head = raw[:4096]
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a multi-byte character cut at the edge
    return True


@dataclasses.dataclass
class LooksBinary(InvalidUpload):
    """A file read as CSV whose text, once decoded, holds a NUL (a model file, an image): no
    text in any encoding it was read with (UTF-16's NULs beside Latin letters decode away)."""

    said: str = ""
    """Where the NUL is: a byte's offset in a UTF-8 file, a character's in text decoded from
    another encoding (whose bytes hold NULs of ordinary text)."""


def check_text(raw: bytes, limits: Limits, *, encoding: str = UTF8) -> None:
    """Refuse UTF-8 text (``raw``, read in ``encoding``) holding a NUL, or a line too long."""
    nul = raw.find(b"\0")
    if nul >= 0:
        said = f"a NUL byte at offset {nul}"
        if encoding != UTF8:
            said = f"read as {encoding} text, its character {len(raw[:nul].decode()) + 1} is a NUL"
        raise LooksBinary(f"the file looks binary ({said}); send CSV text or Parquet", said=said)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise not_utf8(raw, exc.start) from None
    ends = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == ord("\n"))
    bounds = np.concatenate(([-1], ends, [len(raw)]))
    lengths = np.diff(bounds) - 1
    longest = int(np.argmax(lengths))
    if lengths[longest] > limits.max_line_bytes:
        raise InvalidUpload(
            f"line {longest + 1} is {int(lengths[longest])} bytes long; at most "
            f"{limits.max_line_bytes} bytes per line (REGTUNE_DATASET_MAX_LINE_BYTES)"
        )
