"""In a semicolon file a number written ``79.890`` reads as 79.89 with a decimal point and as
79890 with a decimal comma grouping thousands. Upload decides it for the whole file: a column
whose own numbers show no mark is read with the mark the file's other columns of numbers show,
so ``79.890`` beside ``-0.721`` (pandas' ``to_csv(sep=";", float_format="%.3f")``) is 79.89, as
the notes say (was: 79890, the model's price range 1090 to 98919, and not a word), and 1234
beside ``3,14`` or alone. Each column's mark is kept with the dataset, for predict
(``Encoder.decimals``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from regtune.service.ingest.columns import read_table
from regtune.service.ingest.encoder import Encoder
from tests.service.uploads import upload

N = 40


def prices() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    price = rng.uniform(1, 99, size=N)
    z = rng.normal(size=N)
    return pd.DataFrame({"price": price, "z": z, "y": price / 10 + z}).round(3)


def test_a_column_showing_no_mark_reads_with_the_file_s_decimal_points(api: TestClient) -> None:
    data = prices()
    raw = data.to_csv(index=False, sep=";", float_format="%.3f").encode()
    assert all(1 <= p < 100 for p in data["price"])  # each reads either way: '79.890'

    read = upload(api, raw)
    plain = upload(api, data.to_csv(index=False).encode())
    assert read["target_distribution"] == plain["target_distribution"]
    table = read_table(raw, filename="d.csv", target="y")
    np.testing.assert_array_equal(table.X, data[["price", "z"]].to_numpy())
    first = f"{data['price'][0]:.3f}"
    z = next(f"{v:.3f}" for v in data["z"] if abs(v) < 1)
    assert (
        f"column 'price' shows no decimal mark of its own ('{first}' is {float(first):g} with a "
        f"decimal point, {float(first) * 1000:g} with a decimal comma): its numbers were read with "
        f"decimal points, as the file's other columns are written ('{z}' in column 'z')"
    ) in read["notes"]
    encoder = Encoder.from_upload(table.columns, target="y", classes=None, decimal=",")
    assert encoder.decimals == {"price": ".", "z": "."}
    assert Encoder.from_dict(encoder.as_dict()).decimals == {"price": ".", "z": "."}


def test_a_column_showing_no_mark_beside_decimal_commas_or_alone_groups_thousands() -> None:
    commas = b"count;share;y\n1.234;3,14;1\n12.500;0,5;2\n" + b"7;1,25;3\n" * 20
    table = read_table(commas, filename="d.csv", target="y")
    np.testing.assert_array_equal(table.X[:2], [[1234.0, 3.14], [12500.0, 0.5]])
    encoder = Encoder.from_upload(table.columns, target="y", classes=None, decimal=",")
    assert encoder.decimals == {"count": ",", "share": ","}
    assert not any("count" in note for note in table.notes)

    alone = b"count;y\n1.234;1\n12.500;2\n" + b"7;3\n" * 20
    np.testing.assert_array_equal(
        read_table(alone, filename="d.csv", target="y").X[:2, 0], [1234.0, 12500.0]
    )


def test_a_file_showing_both_marks_reads_a_column_showing_none_with_its_decimal_comma() -> None:
    """Columns of either mark (``3,14`` in one, ``0.5`` in another, as before): a column showing
    neither keeps the semicolon file's decimal comma."""
    raw = b"a;b;c;y\n3,14;0.5;1.234;1\n" + b"2,5;0.25;2;2\n" * 20
    table = read_table(raw, filename="d.csv", target="y")
    np.testing.assert_array_equal(table.X[0], [3.14, 0.5, 1234.0])
    encoder = Encoder.from_upload(table.columns, target="y", classes=None, decimal=",")
    assert encoder.decimals == {"a": ",", "b": ".", "c": ","}
