"""New files laid out as the model's training file was, so `predict` and `monitor` read the file a user trained on.

A checkpoint records its dataset config, and a file reader's settings say where the canonical columns are:
`events_file`'s `columns` (by name, by position, or a list in file order), `has_header`, `timestamp_format`,
`timestamp_unit` and `separator`; `tabular_file`'s `separator`; `text_file`'s `text_cols` (joined into `text`) and
`id_col`. A new file that already holds the canonical columns is read as it is (numeric times in the recorded
unit, when not seconds). One that lacks them is renamed and parsed as the training reader did, lazily (a scan
stays a scan), and events whose timestamp does not parse are set aside and counted, not scored with a made-up
time. Cleaning that only training does (quarantine files, deduplication, k-core filters, the label window) is not
repeated: serving scores every user it is given (`as_of` sets a time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from ssl_ads.data.sources.common import TIME_UNITS
from ssl_ads.data.sources.event_columns import parse_columns
from ssl_ads.data.sources.events_file import parse_timestamp
from ssl_ads.data.sources.text_file import joined_text
from ssl_ads.errors import ConfigError, DataError
from ssl_ads.use.input_file import is_csv, scan_file

READERS = {
    "ssl_ads.data.sources.events_file.EventsFile": "events_file",
    "ssl_ads.data.sources.tabular_file.TabularFile": "tabular_file",
    "ssl_ads.data.sources.text_file.TextFile": "text_file",
}
Table = TypeVar("Table", pl.DataFrame, pl.LazyFrame)


@dataclass(frozen=True)
class TrainingLayout:
    """The recorded file reader (`events_file`, `tabular_file`, `text_file`; "" for any other dataset, whose new
    files must hold the canonical columns) and its settings."""

    reader: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def separator(self) -> str:
        """The CSV separator the training file was read with (text_file's `separator` joins texts instead)."""
        if self.reader in ("events_file", "tabular_file"):
            return str(self.settings.get("separator") or ",")
        return ","

    def described(self) -> str:
        """The settings applied, for messages."""
        keys = {"events_file": ("columns", "has_header", "timestamp_format", "timestamp_unit"),
                "text_file": ("text_cols", "id_col")}  # fmt: skip
        shown = [f"dataset.{k}={self.settings.get(k)!r}" for k in keys.get(self.reader, ()) if self.settings.get(k)]
        return f"{self.reader} " + ", ".join(shown) if self.reader else "numeric unix seconds"


# the settings read here and what each must be (a checkpoint is data: a crafted one gets a one-line error)
EXPECTED = {
    "has_header": (bool, "true or false"),
    "timestamp_format": (str, "a strptime format"),
    "timestamp_unit": (str, "a time unit"),
    "separator": (str, "a string"),
    "id_col": (str, "a column name"),
}


def training_layout(dataset_config: Mapping[str, Any], checkpoint: str | Path = "the checkpoint") -> TrainingLayout:
    """The layout a checkpoint's `dataset_config` records, its settings checked."""
    reader = READERS.get(str(dataset_config.get("_target_")), "")
    if not reader:
        return TrainingLayout()
    settings = dict(dataset_config)
    for key, (kind, expected) in EXPECTED.items():
        if settings.get(key) is not None and not isinstance(settings[key], kind):
            raise DataError(f"{checkpoint}: its dataset config's {key}={settings[key]!r} is not {expected}")
    text_cols = settings.get("text_cols")
    if text_cols is not None and not (isinstance(text_cols, list) and all(isinstance(c, str) for c in text_cols)):
        raise DataError(f"{checkpoint}: its dataset config's text_cols={text_cols!r} is not a list of column names")
    if settings.get("timestamp_unit", "s") not in TIME_UNITS:
        raise DataError(f"{checkpoint}: its dataset config's timestamp_unit={settings['timestamp_unit']!r} is not one "
                        f"of {', '.join(TIME_UNITS)}")  # fmt: skip
    if reader == "events_file":
        try:
            parse_columns(settings.get("columns"), bool(settings.get("has_header", True)))
        except ConfigError as err:
            raise DataError(f"{checkpoint}: its dataset config: {err}") from None
    return TrainingLayout(reader, settings)


def events_as_trained(
    path: Path, layout: TrainingLayout, separator: str, required: list[str], where: str
) -> tuple[pl.LazyFrame, dict[str, int]]:
    """The file's events in the canonical columns, lazily, and the events set aside by reason: through the
    `events_file` layout the model was trained with (its columns when the file lacks `required`, and its timestamp
    format and unit), else the file as it is. A CSV's types come from the whole file, and its text times are
    parsed (as training parses them) or set aside, never sorted as text."""
    events_file = layout.reader == "events_file"
    dates = not (events_file and layout.settings.get("timestamp_format"))  # a format is applied to the text itself
    frame = scan_file(path, separator, whole_file_types=True, dates=dates)
    names = frame.collect_schema().names()
    if events_file and not set(required) <= set(names) and not layout.settings.get("has_header", True):
        # a header-less training file: this one is read by position too
        frame = scan_file(path, separator, has_header=False, whole_file_types=True, dates=dates)
    return events_frame_as_trained(frame, layout, required, path, where, text_times=is_csv(path))


def events_frame_as_trained(
    frame: pl.LazyFrame, layout: TrainingLayout, required: list[str], origin: Path, where: str, text_times: bool
) -> tuple[pl.LazyFrame, dict[str, int]]:
    """`events_as_trained` for a frame already read (`origin` names it in errors): renamed by the `events_file`
    layout when it lacks `required`, then its times as training read them (`text_times`: parse text times even
    in a frame with the canonical names, as a CSV's are)."""
    names = frame.collect_schema().names()
    if layout.reader == "events_file" and not set(required) <= set(names):
        spec = parse_columns(layout.settings.get("columns"), bool(layout.settings.get("has_header", True)))
        renames, mapping = spec.resolve(names, origin)
        frame = frame.rename(renames)
        names = [renames.get(n, n) for n in names]
        moved = {source: name for name, source in mapping.items() if source != name and source in names}
        clashing = [name for name in moved.values() if name in names and name not in moved]
        frame = frame.drop(clashing).rename(moved)  # the training reader read these columns, not the file's own
        if not spec.has_timestamp:  # file order is time order, as in training (numbered over the whole file on
            # each pass over user ranges: the one layout whose memory grows with the file)
            return frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).over("user_id").alias("timestamp")), {}
        return _times_as_trained(frame, layout, where)
    return _times_as_trained(frame, layout, where, text=text_times)


def _times_as_trained(
    frame: pl.LazyFrame, layout: TrainingLayout, where: str, text: bool = True
) -> tuple[pl.LazyFrame, dict[str, int]]:
    """`timestamp` in unix seconds as training read it: numbers in the recorded unit (ms, ...) and, with `text`,
    text by its format (or as numbers); text that does not parse is set aside and counted. Datetimes, numbers in
    seconds and, without `text`, text (a canonical file's: it only sorts) stay as they are."""
    dtype = frame.collect_schema().get("timestamp")
    fmt, unit = layout.settings.get("timestamp_format"), str(layout.settings.get("timestamp_unit") or "s")
    numbers = dtype is not None and dtype.is_numeric() and unit != "s"
    if not numbers and not (text and dtype == pl.String):
        return frame, {}  # a missing column is named by the caller
    parsed = parse_timestamp(pl.col("timestamp"), dtype, fmt, unit)
    if parsed is None:
        return frame, {}
    if dtype != pl.String:
        return frame.with_columns(parsed.alias("timestamp")), {}
    unreadable = pl.col("timestamp").str.strip_chars().str.len_bytes().fill_null(0).gt(0) & parsed.is_null()
    bad, n = frame.select(unreadable.sum(), pl.len()).collect().row(0)  # one scan of the timestamp column
    if n and bad == n:
        raise DataError(f"{where}: no timestamp parses as the training file's did ({layout.described()})")
    frame = frame.filter(~unreadable).with_columns(parsed.alias("timestamp"))
    what = f"timestamp_format {fmt!r}" if fmt else f"unix time in {unit if unit != 's' else 'seconds'}"
    return frame, ({f"events whose timestamp does not parse ({what}, as in training)": bad} if bad else {})


def texts_as_trained(frame: Table, layout: TrainingLayout) -> Table:
    """A table or chunk of texts with `text` (and `id`) made from the `text_file` layout's columns when it lacks
    them; anything else as it is."""
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    text_cols = list(layout.settings.get("text_cols") or [])
    if layout.reader != "text_file" or "text" in names or not text_cols or not set(text_cols) <= set(names):
        return frame
    separator = str(layout.settings.get("separator") or ". ")
    id_col = layout.settings.get("id_col")
    ident = [pl.col(id_col).alias("id")] if id_col and id_col in names and "id" not in names else []
    return frame.with_columns(*ident, joined_text(text_cols, separator).alias("text"))
