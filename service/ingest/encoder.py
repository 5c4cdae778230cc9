"""What upload did to a file's columns, kept with a model so that predict does it again.

Upload fits it: the feature columns in order, each numeric or a text column with its sorted
categories, the target's name and class labels, and the missing-value tokens (``NA_TOKENS``
and the upload's own ``missing_values``). The best-model file stores it as JSON (no pickle).
Predict reads a file in the upload's own format with the same readers, binds columns by name
(a missing one is refused by name; extra columns and their order do not matter), one-hot
encodes text with the stored categories (a value never seen at upload is all zeros, as
scikit-learn's ``handle_unknown="ignore"``) and maps the target's labels back to class codes.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from regtune.service.errors import InvalidUpload
from regtune.service.ingest import marks
from regtune.service.ingest.decimals import against_record, read_as_file
from regtune.service.ingest.dialects import DATA_ROWS, DataRows, ShortRows
from regtune.service.ingest.encodings import UTF8, UTF16, UTF16_BOMS
from regtune.service.ingest.features import Feature, text_block
from regtune.service.ingest.formats import read_columns
from regtune.service.ingest.header import Limits, same_name
from regtune.service.ingest.marks import NA_TOKENS
from regtune.service.ingest.missing_values import read_as_missing
from regtune.service.ingest.target import Target, score_target
from regtune.service.ingest.values import Column, booleans_as_numbers, classify, shown_mark

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Rows:
    """A file read for predict: the model's features, and the target where the file has it."""

    X: np.ndarray
    y: np.ndarray | None = None
    """Class codes (int64) or numbers (float64) of the rows in ``scored``; None without a
    target column."""
    scored: np.ndarray | None = None
    """Rows with a target value the model can score."""
    unknown: dict[str, list[str]] = field(default_factory=dict)
    """Per text column, the values the model never saw (encoded as all zeros)."""
    encoding: str = UTF8
    """The text encoding the file was read with."""
    short: ShortRows = field(default_factory=ShortRows)
    """The rows with fewer fields than the header, read with missing cells (as upload notes)."""
    where: DataRows = DATA_ROWS
    """How a note names a row of ``X``: in a CSV file, by the line it starts on."""
    unscorable: np.ndarray | None = None
    """Rows whose target value the model cannot score (a label it never saw, text among
    numbers): predicted, and left out of ``scored``, with a warning (``Target.notes``)."""


@dataclass(frozen=True)
class Encoder:
    features: tuple[Feature, ...]
    target: str = "target"
    classes: tuple[str, ...] | None = None
    """The target's labels in class-code order (classification); None for regression."""
    na_tokens: tuple[str, ...] = NA_TOKENS
    encoding: str = UTF8
    """The text encoding of the training file: predict reads a file that is not UTF-8 so."""
    decimal: str = "."
    """The training file's decimal mark: predict reads a tab file or a DataFrame of text whose
    numbers do not show theirs with it (``marks``)."""
    complete: frozenset[str] | None = None
    """The feature columns without a missing value in the training file (None: not known, in a
    file saved before it was kept): predict warns when such a column has some (``fill_notes``)."""
    numbers_only: bool = True
    """A numeric feature takes numbers only, as upload read its column: a boolean there is text,
    refused as any (a boolean column is the categories True/False at upload). False in a model
    of data uploaded when a Parquet bool was read as numbers, and in a file saved before this
    was kept: its numeric columns take booleans as 1 and 0, as they were trained."""
    decimals: Mapping[str, str] | None = None
    """The decimal mark (``,`` or ``.``) each numeric column of a training file of decimal
    commas was read with (``decimals.Reading``): predict reads a value such a file's column writes
    either way (``1.234``) with it, whatever the other rows hold, and says where the file's own
    numbers show the other. None where none was kept: for a training file of decimal points a
    file of decimal commas is read as upload reads it (``decimals.file_mark``); a model of one of
    decimal commas saved before the marks were kept reads each column by its own numbers, as
    it did then."""
    target_decimal: str | None = None
    """The mark the target's numbers of a training file of decimal commas were read with:
    predict scores a file's target with it as it reads a feature with its ``decimals``. None
    where none was kept (a file of decimal points or of text labels, a model saved before):
    the target is read as the file's other columns decide, as before."""

    @classmethod
    def numeric(
        cls, names: Sequence[str], *, target: str = "target", classes: Sequence[str] | None = None
    ) -> Encoder:
        """Every feature a numeric column of its own name (built-in and synthetic data)."""
        return cls(
            tuple(Feature(n) for n in names),
            target,
            tuple(classes) if classes is not None else None,
        )

    @classmethod
    def from_upload(
        cls,
        columns: Sequence[Mapping[str, Any]],
        *,
        target: str,
        classes: Sequence[str] | None,
        encoding: str = UTF8,
        decimal: str = ".",
        missing_values: Sequence[str] = (),
        numbers_only: bool = True,
        target_decimal: str | None = None,
    ) -> Encoder:
        """From an upload's column summary (``Table.columns``, stored with the dataset), how
        its file was written, the missing-value marks it declared (read at predict too), and
        whether its numeric columns held numbers only (``numbers_only``: not in a dataset
        uploaded when a Parquet bool was read as numbers)."""
        features = tuple(
            Feature(c["name"], tuple(c["categories"]) if c["kind"] == "categorical" else None)
            for c in columns
        )
        labels = tuple(classes) if classes is not None else None
        tokens = read_as_missing(missing_values)
        complete = None
        if all("n_missing" in c for c in columns):
            complete = frozenset(str(c["name"]) for c in columns if not c["n_missing"])
        decimals = {str(c["name"]): str(c["decimal"]) for c in columns if "decimal" in c}
        return cls(
            features,
            target,
            labels,
            tokens,
            encoding=encoding,
            decimal=decimal,
            complete=complete,
            numbers_only=numbers_only,
            decimals=decimals or None,  # none in a dataset stored before they were kept
            target_decimal=target_decimal,
        )

    @property
    def _each_by_its_own(self) -> bool:
        """A model of a file of decimal commas saved before the marks were kept (``decimals``):
        predict reads each column of such a file by its own numbers, as it did then."""
        return self.decimals is None and self.decimal == ","

    @property
    def feature_names(self) -> list[str]:
        return [name for feature in self.features for name in feature.names]

    def spans(self) -> list[tuple[Feature, int, int]]:
        """Each feature with its [start, stop) range of an encoded row."""
        out, start = [], 0
        for feature in self.features:
            out.append((feature, start, start + len(feature.names)))
            start += len(feature.names)
        return out

    @property
    def groups(self) -> list[tuple[int, int]]:
        """[start, stop) feature ranges of the one-hot encoded text columns."""
        return [(a, b) for feature, a, b in self.spans() if feature.categories is not None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "features": [
                {"name": f.name, "categories": None if f.categories is None else list(f.categories)}
                for f in self.features
            ],
            "target": self.target,
            "classes": None if self.classes is None else list(self.classes),
            "na_tokens": list(self.na_tokens),
            **({"encoding": self.encoding} if self.encoding != UTF8 else {}),
            **({"decimal": self.decimal} if self.decimal != "." else {}),
            **({"complete": sorted(self.complete)} if self.complete is not None else {}),
            **({"numbers_only": True} if self.numbers_only else {}),
            **({"decimals": dict(self.decimals)} if self.decimals else {}),
            **({"target_decimal": self.target_decimal} if self.target_decimal else {}),
        }

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> Encoder:
        features = tuple(
            Feature(f["name"], None if f["categories"] is None else tuple(f["categories"]))
            for f in stored["features"]
        )
        classes = stored.get("classes")
        complete = stored.get("complete")
        decimals = stored.get("decimals")
        return cls(
            features,
            str(stored["target"]),
            None if classes is None else tuple(str(c) for c in classes),
            tuple(stored.get("na_tokens", NA_TOKENS)),
            str(stored.get("encoding", UTF8)),
            str(stored.get("decimal", ".")),
            None if complete is None else frozenset(str(c) for c in complete),
            numbers_only=bool(stored.get("numbers_only", False)),
            decimals=None if decimals is None else {str(k): str(v) for k, v in decimals.items()},
            target_decimal=stored.get("target_decimal"),
        )

    def fill_notes(self, X: np.ndarray) -> list[str]:
        """What predict says of the missing cells of ``X`` (rows encoded by ``encode``), which the
        model fills as it filled its training rows': a column empty in every row (each
        prediction then ignores it), and a column that has some where the training file had
        none (the model never relied on its fill there)."""
        notes: list[str] = []
        for feature, start, _ in self.spans():
            n = int(np.isnan(X[:, start]).sum()) if len(X) else 0
            fill = "median" if feature.categories is None else "most frequent category"
            if n and n == len(X):
                notes.append(
                    f"column {feature.name!r} is empty in every row: each prediction uses the "
                    f"{fill} of the model's training rows for it"
                )
            elif n and self.complete is not None and feature.name in self.complete:
                notes.append(
                    f"column {feature.name!r} has {n} missing value(s), and the training file "
                    f"had none there: they are filled with the {fill} of the model's training "
                    "rows"
                )
        return notes

    # ---------------------------------------------------------------- predict's side

    def read(
        self,
        raw: bytes,
        *,
        filename: str,
        target: str | None = None,
        limits: Limits | None = None,
        encoding: str | None = None,
    ) -> Rows:
        """A CSV or Parquet file as upload takes it → the model's features (and the target:
        ``target``, else the model's own target column when the file has it). Every other
        column is left out as upload's ``ignore`` leaves one out: never read, checked or counted,
        so it cannot choose how the model's numbers are read. A CSV is text in ``encoding``;
        when None, UTF-16 where a byte-order mark says so, else UTF-8, or, for bytes that are
        not UTF-8, the training file's (UTF-16 in the byte order the bytes show). Every row is
        read, however many: ``limits``' rows and cells bound an upload (``Limits.every_row``)."""
        limits = (limits or Limits()).every_row()
        if not raw:
            raise InvalidUpload("the file is empty")
        if encoding is None and raw.startswith(UTF16_BOMS):
            encoding = UTF16  # Excel's "Unicode Text" rows, whichever UTF-16 the model's was
        target = None if target is None else same_name(target)
        column = target if target is not None else same_name(self.target)
        names, values, dialect = read_columns(
            raw,
            filename,
            target=target,
            limits=limits,
            na_tokens=self.na_tokens,
            only={column, *(same_name(f.name) for f in self.features)},
            encoding=encoding,
            otherwise=self.encoding,
            decimal=self.decimal,
        )
        if values and len(values[0]) == 0:  # no column of the model's at all: ``encode`` says so
            raise InvalidUpload("the file has a header but no data rows")
        columns = dict(zip(names, values, strict=True))
        scored = None
        if column in columns and dialect.decimal == "," and not self._each_by_its_own:
            scored = shown_mark(column, columns[column], self.na_tokens)
        X, unknown, shown = self._encoded(
            columns, limits, decimal=dialect.decimal, where=dialect.where, scored=scored
        )
        read = Rows(
            X, unknown=unknown, encoding=dialect.encoding, short=dialect.short, where=dialect.where
        )
        if column not in columns:
            return read
        unshown = self.target_decimal or ("," if shown is None else shown.mark)
        scoring = self.target_values(
            columns[column],
            column=column,
            decimal=dialect.decimal,
            where=dialect.where,
            unshown=unshown,
        )
        notes = list(scoring.notes)
        # a model of decimal commas saved before the target's mark was kept reads the target
        # by the file's mark, as it did: nothing recorded to hold it against
        if scoring.reading is not None and (self.target_decimal or self.decimal != ","):
            told = against_record(
                column, self.target_decimal, scoring.reading, shown, dialect.where
            )
            notes += [told] if told is not None else []
        for note in notes:
            warnings.warn(note, stacklevel=3)
        return replace(read, y=scoring.y, scored=scoring.scored, unscorable=scoring.unscorable)

    def encode_frame(
        self, columns: Mapping[str, pd.Series | np.ndarray], limits: Limits
    ) -> tuple[np.ndarray, dict[str, list[str]]]:
        """``encode`` of a DataFrame's columns, whose text numbers are read as a tab file's
        are (``marks``): with the training file's decimal mark unless the model's columns show
        the other, so ``"3,14"`` is 3.14 as in a file of decimal commas, never text read
        wrong."""
        columns = {same_name(str(name)): values for name, values in columns.items()}
        names = [same_name(f.name) for f in self.features if same_name(f.name) in columns]
        decimal, _ = marks.choose(
            lambda mark: [columns[n] for n in names],
            names,
            first=self.decimal,
            na_tokens=self.na_tokens,
        )
        X, unknown, _ = self._encoded(columns, limits, decimal=decimal, parsed=False)
        return X, unknown

    def encode(
        self,
        columns: Mapping[str, pd.Series | np.ndarray],
        limits: Limits,
        *,
        decimal: str = ".",
        where: DataRows = DATA_ROWS,
    ) -> tuple[np.ndarray, dict[str, list[str]]]:
        """The model's features from named raw columns (numbers written with ``decimal``; a
        refused row named as ``where`` names it); a missing column is refused by name. Names
        bind as a file's header reads them (``same_name``), in a model saved before that too."""
        X, unknown, _ = self._encoded(columns, limits, decimal=decimal, where=where)
        return X, unknown

    def _encoded(
        self,
        columns: Mapping[str, pd.Series | np.ndarray],
        limits: Limits,
        *,
        decimal: str = ".",
        where: DataRows = DATA_ROWS,
        parsed: bool = True,
        scored: marks.Evidence | None = None,
    ) -> tuple[np.ndarray, dict[str, list[str]], marks.Evidence | None]:
        """``encode``, and the mark a file of decimal commas' columns of numbers show
        (``numbers``), for the target; ``parsed`` and ``scored`` as ``numbers`` takes them."""
        columns = {same_name(str(name)): values for name, values in columns.items()}
        lacking = [f.name for f in self.features if same_name(f.name) not in columns]
        if lacking:
            needed = [f.name for f in self.features]
            raise InvalidUpload(
                f"the file lacks column(s) {lacking} the model was trained on (it needs "
                f"{len(needed)}: {needed[:10]}{'...' if len(needed) > 10 else ''}); columns are "
                "matched by name"
            )
        numbers, shown = self.numbers(
            columns, limits, decimal=decimal, where=where, parsed=parsed, scored=scored
        )
        blocks: list[np.ndarray] = []
        unknown: dict[str, list[str]] = {}
        for feature in self.features:
            if feature.categories is None:
                blocks.append(numbers[feature.name][:, None])
                continue
            values = columns[same_name(feature.name)]
            block, unseen = text_block(feature, values, self.na_tokens, decimal=decimal)
            if unseen:
                unknown[feature.name] = unseen
            blocks.append(block)
        return np.hstack(blocks), unknown, shown

    def numbers(
        self,
        columns: Mapping[str, pd.Series | np.ndarray],
        limits: Limits,
        *,
        decimal: str = ".",
        where: DataRows = DATA_ROWS,
        parsed: bool = True,
        scored: marks.Evidence | None = None,
    ) -> tuple[dict[str, np.ndarray], marks.Evidence | None]:
        """Each numeric feature's numbers (its columns bound by ``same_name`` already), and in a
        file of decimal commas the mark its columns of numbers (and the target's, ``scored``)
        show. A column the model recorded a mark for (``decimals``) is read with it, so
        ``1.234`` is the same number whatever the other rows hold, with a warning where the
        file's numbers show the other mark; another as upload reads the file
        (``decimals.read_as_file``); in a model of decimal commas saved before the marks were
        kept, each with its own numbers' (a decimal comma where they show none). ``parsed`` as
        ``classify`` takes it."""
        recorded = self.decimals or {}
        names = [f.name for f in self.features if f.categories is None]
        out: dict[str, np.ndarray] = {}

        def read(name: str, unshown: str) -> Column:
            column = classify(
                name,
                columns[same_name(name)],
                limits,
                na_tokens=self.na_tokens,
                allow_empty=True,
                decimal=decimal,
                where=where,
                unshown=unshown,
                parsed=parsed,
            )
            out[name] = self._numeric(name, column, where)  # text refused in its column's turn
            return column

        if decimal != "," or self._each_by_its_own:
            for name in names:
                read(name, recorded.get(name, ","))
            return out, None
        read_in, shown = read_as_file(names, read, recorded=recorded, shown_too=scored)
        for name, column in read_in.items():
            if column.reading is not None:
                note = against_record(name, recorded.get(name), column.reading, shown, where)
                if note is not None:
                    warnings.warn(note, stacklevel=4)
        return out, shown

    def _numeric(self, name: str, column: Column, where: DataRows) -> np.ndarray:
        """A numeric feature's numbers; text there is refused, but booleans in a model that
        took them as 1 and 0 (``numbers_only``)."""
        numbers = column.numeric
        if numbers is None and not self.numbers_only:
            numbers = booleans_as_numbers(column)
        if numbers is None:
            text = column.text if column.text is not None else column.missing
            row = int(np.flatnonzero(~column.missing)[0])
            raise InvalidUpload(
                f"column {name!r} held numbers when the model was trained; "
                f"{where(row)} has text {str(text[row])[:40]!r}"
            )
        return numbers

    def target_values(
        self,
        values: pd.Series | np.ndarray,
        *,
        column: str | None = None,
        decimal: str = ".",
        where: DataRows = DATA_ROWS,
        unshown: str = ",",
    ) -> Target:
        """The target of the rows the model can score, and which rows (``target.score_target``);
        ``values`` are those of ``column`` (default: the model's target column), in a file of
        decimal commas read with ``unshown`` where its own numbers show no mark."""
        return score_target(
            self.target if column is None else column,
            values,
            classes=self.classes,
            na_tokens=self.na_tokens,
            decimal=decimal,
            where=where,
            unshown=unshown,
        )
