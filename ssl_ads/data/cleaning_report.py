"""One account of what every cleaning step set aside, from the file read to the rows a task scores.

Why: a run that quietly loses 15 % of its rows to quarantine, or all but three users to k-core
filtering, reports numbers about data the user never chose. The counts are recorded where the rows
go (the source's quarantine payload and the featurizer's `meta.json`), so this module only assembles
them: the same report comes out of a fresh run and a cached one, travels in `Featurized.meta`
(`data_report`), is printed by every stage and written to `metrics.json` and `report.md`; an error
after filtering names the step that emptied the data and the setting that controls it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from ssl_ads.data.featurized import Featurized

REPORT_KEY = "data_report"
REMOVED, TRUNCATED, MAPPED, EXCLUDED = "removed", "truncated", "mapped", "excluded"  # see `Step.kind`
TOP_REASONS = 4  # reasons shown per step on the console (all of them go to metrics.json and report.md)

# `removed` keys of a source payload → (step name, the dataset settings that control it, what to change)
SOURCE_STEPS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "below_rating_threshold": ("rating threshold", ("rating_threshold",), "lower dataset.rating_threshold"),
    "behavior_filter": ("behaviour filter", ("behaviors",), "add codes to dataset.behaviors (null keeps all)"),
    "duplicates": ("duplicate events", ("dedup",), "dataset.dedup=false keeps exact duplicates"),
    "k_core_events": (
        "k-core filtering",
        ("min_user_interactions", "min_item_interactions"),
        "lower those settings",
    ),
}
# every setting a source may record in its payload (`source_settings`), so the report names their values
SETTING_NAMES = (
    *dict.fromkeys(s for _, names, _ in SOURCE_STEPS.values() for s in names),
    "min_timestamp",
    "max_timestamp",
    "max_bad_share",
)


@dataclass(frozen=True)
class Step:
    """One cleaning step and what it did.

    `kind`: "removed" rows are gone between `read` and `kept`; "truncated" ones too, but without removing
    an example (older events beyond `max_len`), so they never explain a shortage of examples; "mapped"
    values were kept but changed (out-of-vocabulary ids); "excluded" rows are model inputs that a task or
    split leaves out.
    """

    name: str
    removed: int
    unit: str
    kind: str = REMOVED
    settings: dict[str, Any] = field(default_factory=dict)  # config key → value it had
    reasons: dict[str, int] = field(default_factory=dict)
    path: str | None = None  # where the set-aside rows were written
    detail: dict[str, int] = field(default_factory=dict)  # e.g. users and items removed by k-core
    advice: str = ""  # what to change when this step removes too much

    def label(self) -> str:
        """The step's name with the settings that control it: `k-core filtering (dataset.min_...=5, ...)`."""
        if not self.settings:
            return self.name
        return f"{self.name} ({', '.join(f'{key}={_value(v)}' for key, v in self.settings.items())})"


@dataclass(frozen=True)
class DataReport:
    """`read` rows (in `unit`) minus the "removed" steps leave `kept`; `entities` (users) are the examples."""

    source: str
    unit: str
    read: int
    kept: int
    steps: list[Step] = field(default_factory=list)
    entities: str | None = None
    n_entities: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> DataReport:
        return cls(**{**payload, "steps": [Step(**step) for step in payload.get("steps", [])]})

    def summary(self) -> str:
        """`96,000 events read, 188 kept (3 users)`: the line every stage prints, whatever else it shows."""
        kept = f"{self.kept:,} kept"
        if self.entities is not None and self.n_entities is not None:
            kept += f" ({self.n_entities:,} {self.entities})"
        return f"{self.read:,} {self.unit} read, {kept}"


def source_settings(dataset: object) -> dict[str, Any]:
    """The cleaning settings a reader has (`dataset.<name>` → value), recorded beside its counts."""
    return {f"dataset.{name}": getattr(dataset, name) for name in SETTING_NAMES if hasattr(dataset, name)}


def source_steps(payload: Mapping[str, Any] | None, unit: str) -> list[Step]:
    """Steps from a source's payload (`QuarantineReport.as_dict()`, plus `removed` and `settings` for event
    logs): quarantine first, then each filter in the order it ran."""
    if not payload:
        return []
    settings = payload.get("settings") or {}
    quarantine_settings = {k: settings[k] for k in ("dataset.min_timestamp", "dataset.max_timestamp") if k in settings}
    steps = [
        Step(
            name="quarantined as malformed",
            removed=int(payload.get("n_bad", 0)),
            unit=unit,
            settings={k: v for k, v in quarantine_settings.items() if v is not None},
            reasons={str(k): int(v) for k, v in (payload.get("reasons") or {}).items()},
            path=payload.get("path"),
            advice="the quarantine file lists each row with its line number and reason",
        )
    ]
    removed = payload.get("removed") or {}
    for key, count in removed.items():
        if key not in SOURCE_STEPS:
            continue
        name, names, advice = SOURCE_STEPS[key]
        detail = {}
        if key == "k_core_events":
            detail = {part: int(removed.get(f"k_core_{part}", 0)) for part in ("users", "items", "iterations")}
        chosen = {f"dataset.{n}": settings[f"dataset.{n}"] for n in names if f"dataset.{n}" in settings}
        steps.append(Step(name, int(count), unit, settings=chosen, detail=detail, advice=advice))
    return steps


def report_from_source(payload: Mapping[str, Any] | None, source: str, unit: str = "events") -> DataReport:
    """The report of a source before featurizing: what its reader read and removed."""
    steps = source_steps(payload, unit)
    read = int((payload or {}).get("n_rows", 0))
    return DataReport(source, unit, read, read - _removed(steps), steps)


def build_report(data: Featurized, from_checkpoint: bool = False) -> DataReport:
    """The whole report of featurized data, from its `meta` (so a cached run reports the same).

    `from_checkpoint`: the vocabulary came from an encoder checkpoint, so its out-of-vocabulary ids
    are reported.
    """
    meta = data.meta
    modality = meta.get("modality", "sequence")
    if modality == "tabular":
        return _tabular_report(meta, from_checkpoint)
    if modality == "text":
        return _text_report(meta)
    return _sequence_report(data, from_checkpoint)


def _sequence_report(data: Featurized, from_checkpoint: bool) -> DataReport:
    """Events: the reader's steps, then the label window and the `max_len` cut; users are the examples."""
    meta = data.meta
    payload = meta.get("quarantine")
    steps = source_steps(payload, "events")
    lengths = data.rows.get_column("length") if "length" in data.rows.columns else None
    kept = int(lengths.sum()) if lengths is not None else int(meta.get("num_events", 0))
    before_cutoff = int(meta.get("num_events", kept))
    read = int(payload["n_rows"]) if payload and "n_rows" in payload else before_cutoff
    cutoff = meta.get("cutoff_timestamp")
    if cutoff is not None and payload and "n_rows" in payload:  # the read count is what the window is cut from
        window = read - _removed(steps) - before_cutoff
        steps.append(
            Step(
                "label window",  # events at or after the cutoff define the labels; they are no input
                max(window, 0),
                "events",
                settings={"cutoff_timestamp": cutoff},
                advice="move the cutoff later (dataset.cutoff_timestamp or dataset.label_window_days)",
            )
        )
    steps.append(
        Step(
            "history truncation",  # each user's events before their last max_len
            before_cutoff - kept,
            "events",
            kind=TRUNCATED,
            settings={"dataset.max_len": meta.get("max_len")},
            advice="raise dataset.max_len",
        )
    )
    oov = int(meta.get("oov_events", 0))
    why = "not in the encoder checkpoint's vocabulary" if from_checkpoint else "rarer than dataset.min_item_count"
    steps.append(Step(f"out-of-vocabulary items ({why})", oov, "events", kind=MAPPED))
    return DataReport(meta.get("source", "data"), "events", read, kept, steps, "users", data.num_rows)


def _tabular_report(meta: Mapping[str, Any], from_checkpoint: bool) -> DataReport:
    """Rows: quarantine, then (with a checkpoint's vocabulary) the values it does not know."""
    payload = meta.get("quarantine")
    steps = source_steps(payload, "rows")
    kept = int(meta.get("num_rows", 0))
    read = int(payload["n_rows"]) if payload and "n_rows" in payload else kept + _removed(steps)
    if from_checkpoint:
        per_field = {str(k): int(v) for k, v in (meta.get("oov_values") or {}).items() if v}
        steps.append(
            Step(
                "out-of-vocabulary values (not in the encoder checkpoint's vocabulary)",
                sum(per_field.values()),
                "values",
                kind=MAPPED,
                detail=per_field,
            )
        )
    return DataReport(meta.get("source", "data"), "rows", read, kept, steps)


def _text_report(meta: Mapping[str, Any]) -> DataReport:
    """Pieces of copy: null or empty texts are set aside (their ids are listed beside the cached arrays)."""
    kept, empty = int(meta.get("rows", 0)), int(meta.get("empty_texts", 0))
    where = f"{meta['cache_dir']}/empty_texts.parquet" if meta.get("cache_dir") else None
    step = Step("null or empty texts set aside", empty, "rows", path=where, advice="fill the text columns")
    return DataReport(meta.get("source", "data"), "rows", kept + empty, kept, [step])


def attach(data: Featurized, from_checkpoint: bool = False, show: bool = True) -> DataReport:
    """Build the report into `data.meta["data_report"]` (so bundles and outputs carry it) and print it."""
    report = build_report(data, from_checkpoint)
    data.meta[REPORT_KEY] = report.as_dict()
    if show:
        print_report(report)
    return report


def add_step(meta: dict[str, Any], step: Step, show: bool = True) -> None:
    """Record a later step (a task's unlabeled rows, leave-one-out's short histories) in `meta`'s report,
    replacing one of the same name, and print it when it did anything."""
    payload = meta.get(REPORT_KEY)
    if payload is not None:
        payload["steps"] = [s for s in payload.get("steps", []) if s.get("name") != step.name] + [asdict(step)]
    if step.removed and show:
        Console(stderr=True).print(f"  {_line(step)}")


def unlabeled_step(label: str, count: int, meta: Mapping[str, Any]) -> Step:
    """Rows without a value in the task's label: model inputs (pretraining reads them), but no fit or score."""
    unit = (meta.get(REPORT_KEY) or {}).get("entities") or "rows"
    name = f"no value in task.label='{label}' (left out of the task; pretraining still reads them)"
    return Step(name, count, unit, kind=EXCLUDED, advice=f"fill the '{label}' column")


def short_history_step(count: int, min_events: int) -> Step:
    """Users leave-one-out cannot evaluate: it needs a training event, a validation and a test target."""
    name = f"histories shorter than {min_events} events (leave-one-out needs a training, a validation and a test event)"
    return Step(name, count, "users", kind=EXCLUDED, advice="use longer histories")


def print_report(report: DataReport | Mapping[str, Any], console: Console | None = None) -> None:
    """The summary line, then one line per step that did something."""
    report = report if isinstance(report, DataReport) else DataReport.from_dict(report)
    console = console or Console(stderr=True)
    console.print(f"[bold]data:[/] {escape(report.summary())} from {escape(report.source)}")
    for step in report.steps:
        if step.removed:
            console.print(f"  {_line(step)}")


def _line(step: Step) -> str:
    """`k-core filtering (dataset.min_user_interactions=5, ...) removed 9 events (users 2, items 3)` (escaped)."""
    verb = {TRUNCATED: "cut", MAPPED: "mapped", EXCLUDED: "excluded"}.get(step.kind, "removed")
    text = f"{step.label()}: {verb} {step.removed:,} {step.unit}"
    if step.kind == MAPPED:
        text += " to the out-of-vocabulary id"
    parts = [f"{reason} {count:,}" for reason, count in list(step.reasons.items())[:TOP_REASONS]]
    if len(step.reasons) > TOP_REASONS:
        parts.append(f"{len(step.reasons) - TOP_REASONS} more reasons")
    parts += [f"{name} {count:,}" for name, count in step.detail.items() if count and name != "iterations"]
    if parts:
        text += f" ({'; '.join(parts)})"
    if step.path:
        text += f"; rows in {step.path}"
    return escape(text)


def markdown_section(report: Mapping[str, Any] | None) -> list[str]:
    """The "Data cleaning" section of report.md: the summary and a table of every step with its reasons."""
    if not report:
        return []
    data = DataReport.from_dict(report)
    lines = ["", "## Data cleaning", "", f"{data.summary()} from {data.source}.", ""]
    lines += ["| step | kind | count | unit | details |", "|---|---|---:|---|---|"]
    for step in data.steps:
        details = [f"{reason}: {count:,}" for reason, count in step.reasons.items()]
        details += [f"{name}: {count:,}" for name, count in step.detail.items()]
        if step.path:
            details.append(f"file: `{step.path}`")
        cell = "; ".join(details).replace("|", "\\|") or "–"
        lines.append(f"| {step.label().replace('|', chr(92) + '|')} | {step.kind} | {step.removed:,} | {step.unit} | "
                     f"{cell} |")  # fmt: skip
    return lines


def explain_shortage(report: DataReport | Mapping[str, Any] | None, outcome: str) -> str:
    """`<the step that removed most> removed X of Y <unit> (also: ...); <outcome>; <what to change>`.

    `outcome` says what is left and why it is not enough ("3 users remain, too few for a train/val/test
    split"). Without a report (or when nothing was removed) it says so, so the user knows the data itself
    is small.
    """
    if report is None:
        return outcome
    report = report if isinstance(report, DataReport) else DataReport.from_dict(report)
    removing = [s for s in report.steps if s.kind == REMOVED and s.removed > 0]
    if not removing:
        return f"{report.summary()} and no cleaning step removed any; {outcome}; use more data"
    culprit = max(removing, key=lambda s: s.removed)
    text = f"{culprit.label()} removed {culprit.removed:,} of {report.read:,} {report.unit}"
    if culprit.reasons:
        text += f" ({', '.join(f'{r} {c:,}' for r, c in list(culprit.reasons.items())[:TOP_REASONS])})"
    others = [f"{s.label()} {s.removed:,}" for s in removing if s is not culprit]
    if others:
        text += f" (also removed: {'; '.join(others)})"
    advice = culprit.advice + (f" ({culprit.path})" if culprit.path else "")
    return f"{text}; {outcome}; {advice}"


def _removed(steps: list[Step]) -> int:
    return sum(s.removed for s in steps if s.kind in (REMOVED, TRUNCATED))


def _value(value: Any) -> str:
    """Settings as typed on the command line: true/false/null, lists without quotes."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return f"[{','.join(map(str, value))}]"
    return str(value)
