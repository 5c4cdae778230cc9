"""``regtune predict`` writes a class label's characters that are not printable escaped on
stdout (``\\x1b``, ``\\x07``, ``\\u202e``), and as stored in a file of ``-o`` (was: a model
trained on a CSV whose labels held terminal escapes cleared and retitled the terminal that
printed its predictions)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.worker.test_predict_labels import Saver, run, saved_model, separable
from tests.worker.test_predict_labels import csv as write

__all__ = ["saved_model"]  # the fixture, shared with the labels' tests

HOSTILE = ["\x1b[2J\x1b]0;PWNED\x07cat\u202e", "dog"]
SHOWN = r"\x1b[2J\x1b]0;PWNED\x07cat\u202e"


def test_labels_with_control_characters_are_escaped_on_stdout_and_kept_in_a_file(
    saved_model: Saver, tmp_path: Path
) -> None:
    path = write(separable(HOSTILE), tmp_path / "train.csv")
    model = saved_model(path.read_bytes(), target="label")

    shown = run(str(path), "--model", str(model))
    assert shown.exit_code == 0, shown.output
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "\u202e" not in shown.stdout
    table = list(csv.DictReader(io.StringIO(shown.stdout)))
    assert {row["prediction"] for row in table} == {SHOWN, "dog"}
    assert f"probability_{SHOWN}" in table[0]

    out = tmp_path / "predictions.csv"
    written = run(str(path), "--model", str(model), "-o", str(out))
    assert written.exit_code == 0, written.output
    with out.open(newline="") as handle:
        stored = list(csv.DictReader(handle))
    assert {row["prediction"] for row in stored} == set(HOSTILE)
