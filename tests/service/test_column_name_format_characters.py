"""A column name may hold no invisible format character (Unicode's Cf) but a zero-width joiner
or non-joiner between the letters of a script that needs one (Persian's ``می‌خواهم``, a
Devanagari conjunct): a zero-width space, a word joiner, a tag character or a joiner between
ASCII letters made two names that read alike differ, as the direction overrides refused
before them did (was: only U+061C, U+200E/F, U+202A–E and U+2066–9 were refused)."""

from __future__ import annotations

import pytest

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.columns import read_table


def upload(name: str) -> list[str]:
    """The feature names of a 20-row upload whose first column is named ``name``."""
    rows = "".join(f"{i},{i % 3},{i * 2}\n" for i in range(20))
    raw = f"{name},b,y\n{rows}".encode()
    return list(read_table(raw, filename="d.csv", target="y").feature_names)


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("a\u200bb", r"'\u200b', ZERO WIDTH SPACE"),
        ("a\u200db", r"'\u200d', ZERO WIDTH JOINER"),  # between ASCII letters it only hides
        ("a\u200cb", r"'\u200c', ZERO WIDTH NON-JOINER"),
        ("\u200dمی", r"'\u200d', ZERO WIDTH JOINER"),  # at an end, joining nothing
        ("a\U000e0041b", r"'\U000e0041', TAG LATIN CAPITAL LETTER A"),
        ("a\u2060b", r"'\u2060', WORD JOINER"),
        ("a\u00adb", r"'\xad', SOFT HYPHEN"),
        ("x2\u202e", r"'\u202e', RIGHT-TO-LEFT OVERRIDE"),
        ("x\u2066y", r"'\u2066', LEFT-TO-RIGHT ISOLATE"),
    ],
    ids=[
        "zero-width space",
        "joiner between ASCII letters",
        "non-joiner between ASCII letters",
        "joiner at the start",
        "tag character",
        "word joiner",
        "soft hyphen",
        "right-to-left override",
        "isolate",
    ],
)
def test_an_invisible_format_character_in_a_column_name_is_refused(name: str, said: str) -> None:
    with pytest.raises(InvalidUpload) as refused:
        upload(name)
    assert str(refused.value).startswith(
        f"the name of column 1 ({name!r}) holds an invisible format character ({said})"
    )


@pytest.mark.parametrize(
    "name",
    ["می\u200cخواهم", "क्\u200dष", "price €", "naïve"],
    ids=["Persian non-joiner", "Devanagari joiner after a virama", "symbol", "accent"],
)
def test_a_name_a_language_writes_so_is_taken(name: str) -> None:
    assert upload(name)[0] == name
