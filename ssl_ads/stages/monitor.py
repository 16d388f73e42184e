"""`ssl-ads monitor reference=<run dir|checkpoint|file> current=<file> [threshold=0.2]`: drift, gating a job.

The reference is the training data: a run directory (its `model.pt`, else `encoder.pt`, and the training rows of
the featurized data that run read, from the cache, by the run's split: `ssl_ads.use.run_split`), a checkpoint file
(the same, for its run), or a data file (then `model=` or `encoder_ckpt=` names the featurizer). Prints a table
(PSI per input field, OOV shares, the embedding's mean shift), writes `drift.json` and `drift.png`, and exits 0
when every PSI is at most `threshold` (and the embedding shift at most `embedding_threshold`, when set), 1 when
one is above (drift), 2 for a config or data error.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ssl_ads.stages.use_args import output_dir, parse_args, run_command

USAGE = ("usage: ssl-ads monitor reference=<run dir|model.pt|encoder.pt|data file or folder> current=<file|folder> "
         "[model=|encoder_ckpt=<checkpoint>] [threshold=0.2] [embedding_threshold=null] [as_of=DATE] "
         "[out=DIR]")  # fmt: skip
DRIFT_EXIT = 1  # distinct from 2, a configuration or data error: a scheduler can tell "stop" from "broken"


@dataclass
class MonitorArgs:
    # the training side: a run directory, a checkpoint (its run's data), or a data file (then model= / encoder_ckpt=)
    reference: str = "???"
    # the new data, in the training schema (parquet or CSV)
    current: str = "???"
    # the checkpoint whose featurizer bins both sides and whose encoder embeds them (default: the reference run's)
    model: str | None = None
    encoder_ckpt: str | None = None
    # exit 1 when any field's PSI is above this (0.2: the usual "significant shift")
    threshold: float = 0.2
    # also exit 1 when the embedding mean shift (RMS of standardised mean differences) is above this; null = report only
    embedding_threshold: float | None = None
    # quantile bins of numeric fields, and categories kept as their own bin (the rest is "other")
    bins: int = 10
    max_categories: int = 20
    # rows of each side embedded (seeded sample) for the embedding shift; 0 skips it
    embedding_rows: int = 10_000
    seed: int = 0
    # event sequences: the current file as `predict as_of=` scores it (ages count from this time, events at or after
    # it are set aside and counted); unix seconds or an ISO date / datetime (UTC). null: the file's last event
    as_of: str | None = None
    # CSV field separator; null: the one the checkpoint's training file was read with (events_file, tabular_file)
    separator: str | None = None
    # output directory (default outputs/monitor/<time>/)
    out: str | None = None
    cache_dir: str = ".ssl_ads_cache"


def main(argv: list[str]) -> int:
    return run_command(_monitor, argv, USAGE)


def _monitor(argv: list[str]) -> int:
    from ssl_ads.data.io import write_json_atomic
    from ssl_ads.use import drift_inputs as di
    from ssl_ads.use.drift import embedding_shift
    from ssl_ads.use.drift_plot import drift_plot
    from ssl_ads.use.encoder import load_encoder
    from ssl_ads.use.featurize import as_of_seconds
    from ssl_ads.use.input_file import existing_input

    args = parse_args(MonitorArgs, argv, USAGE)
    _check(args)
    as_of = as_of_seconds(args.as_of)  # checked before anything is read
    checkpoint, reference_is_run = _checkpoint(args)
    current_path = existing_input(args.current, "current")
    encoder = load_encoder(checkpoint, args.cache_dir)
    if reference_is_run:
        reference = di.run_side(encoder, args.reference)
    else:
        reference = di.file_side(encoder, existing_input(args.reference, "reference"), args.separator, "reference")
    current = di.file_side(encoder, current_path, args.separator, "current", as_of)
    fields = di.field_drifts(encoder, reference, current, args.bins, args.max_categories)
    shift = None
    if args.embedding_rows > 0:
        shift = embedding_shift(di.embeddings(encoder, reference, args.embedding_rows, args.seed),
                                di.embeddings(encoder, current, args.embedding_rows, args.seed))  # fmt: skip
    oov = {"reference": di.oov_share(encoder.modality, reference.inputs),
           "current": di.oov_share(encoder.modality, current.inputs)}  # fmt: skip
    drifted = [f.name for f in fields if f.psi > args.threshold]
    embedding_drift = args.embedding_threshold is not None and shift is not None and shift > args.embedding_threshold
    code = DRIFT_EXIT if drifted or embedding_drift else 0
    out = output_dir(args.out, "monitor")
    title = f"drift of {current_path.name} against {Path(args.reference).name} (featurizer: {checkpoint.name})"
    plot = drift_plot(fields, args.threshold, out / "drift.png", title)
    write_json_atomic(out / "drift.json", {
        "reference": args.reference, "current": str(current_path), "checkpoint": str(checkpoint),
        "modality": encoder.modality, "threshold": args.threshold, "embedding_threshold": args.embedding_threshold,
        "drifted": drifted, "embedding_mean_shift": shift, "oov_share": oov, "exit_code": code,
        "reference_rows": reference.n_rows, "reference_rows_of": reference.n_total, "as_of": as_of,
        "current_set_aside": current.set_aside,
        "fields": [f.as_dict() for f in fields],
    })  # fmt: skip
    if reference.n_total is not None:
        Console().print(f"reference: the run's {reference.n_rows:,} training rows (of {reference.n_total:,} "
                        "featurized; validation and test rows are not compared)")  # fmt: skip
    for reason, count in current.set_aside.items():
        Console().print(f"current: set aside {count:,} {reason}")
    _print(fields, args, shift, oov, drifted, embedding_drift, title)
    Console().print(f"[green]wrote[/] {out / 'drift.json'} and {plot}")
    return code


def _check(args: MonitorArgs) -> None:
    from ssl_ads.errors import ConfigError

    if args.model is not None and args.encoder_ckpt is not None:
        raise ConfigError(f"give at most one of model= or encoder_ckpt= ({USAGE})")
    if not args.threshold > 0 or (args.embedding_threshold is not None and not args.embedding_threshold > 0):
        raise ConfigError(f"threshold and embedding_threshold must be > 0, got {args.threshold}, "
                          f"{args.embedding_threshold}")  # fmt: skip
    if args.bins < 2 or args.max_categories < 1 or args.embedding_rows < 0:
        raise ConfigError(f"bins must be >= 2, max_categories >= 1 and embedding_rows >= 0 "
                          f"({args.bins}, {args.max_categories}, {args.embedding_rows})")  # fmt: skip


def _checkpoint(args: MonitorArgs) -> tuple[Path, bool]:
    """The checkpoint to featurize with, and whether the reference is a run (its cached data) or a file."""
    from ssl_ads.errors import ConfigError, DataError

    given = args.model or args.encoder_ckpt
    reference = Path(args.reference)
    if reference.is_dir():  # a run directory, or a folder of data files (a Spark / Hive export)
        inside = [reference / n for n in ("model.pt", "encoder.pt") if (reference / n).is_file()]
        if inside or (given and (reference / ".hydra").is_dir()):
            return Path(given or inside[0]), True
        if given is None:
            raise DataError(f"reference: {reference} holds no model.pt or encoder.pt (a run directory of ssl-ads "
                            "finetune, pipeline or pretrain); a folder of data files needs model= or "
                            "encoder_ckpt=")  # fmt: skip
        return Path(given), False
    if not reference.is_file():
        raise DataError(f"reference: no file or run directory at {reference}")
    if zipfile.is_zipfile(reference) and reference.suffix.lower() not in (".parquet", ".csv"):
        return Path(given or reference), True
    if given is None:
        raise ConfigError(f"reference={reference} is a data file: name the featurizer with model=<model.pt> or "
                          "encoder_ckpt=<encoder.pt>")  # fmt: skip
    return Path(given), False


def _print(fields, args: MonitorArgs, shift, oov, drifted, embedding_drift, title: str) -> None:
    console = Console()
    table = Table(title=title, title_justify="left")
    for column in ("field", "kind", "bins", "PSI", "OOV share ref → cur", "status"):
        table.add_column(column, justify="right" if column in ("bins", "PSI") else "left")
    for f in fields:
        oov_text = f"{f.oov_reference:.2%} → {f.oov_current:.2%}" if f.oov_reference is not None else ""
        status = "[red]shift[/]" if f.psi > args.threshold else "[yellow]moderate[/]" if f.psi > 0.1 else "ok"
        table.add_row(f.name, f.kind, str(len(f.labels)), f"{f.psi:.4f}", oov_text, status)
    console.print(table)
    shift_text = "not computed (embedding_rows=0)" if shift is None else f"{shift:.4f}"
    gate = f" (threshold {args.embedding_threshold:g})" if args.embedding_threshold is not None else " (report only)"
    console.print(f"embedding mean shift (RMS of standardised mean differences): {shift_text}{gate}; "
                  f"OOV id share {oov['reference']:.2%} → {oov['current']:.2%}")  # fmt: skip
    if drifted or embedding_drift:
        what = ", ".join(drifted) + (" and the embedding" if embedding_drift else "")
        console.print(f"[bold red]drift:[/] {what.lstrip(', ')} above the threshold; exit status {DRIFT_EXIT}")
    else:
        console.print(f"[green]no drift[/]: every PSI at most {args.threshold:g}")
