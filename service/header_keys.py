"""What an ``Authorization: Bearer <key>`` header can carry, one rule for the client that sends a
key, the settings that take the admin key and the store that reads one: pure Python, so the
light client install has it too."""

from __future__ import annotations


def header_safe(key: str) -> bool:
    """Whether a header can carry ``key`` as the client sends it: printable ASCII, no space at
    either end (a key read from a file with its newline matched no request)."""
    return key.isascii() and key.isprintable() and key == key.strip()


def holds_scheme(key: str) -> bool:
    """Whether ``key`` was given with the header's scheme in it (``Bearer rt_…``): sent, it
    reads ``Bearer Bearer rt_…``."""
    scheme, _, rest = key.partition(" ")
    return scheme.lower() == "bearer" and bool(rest.strip())
