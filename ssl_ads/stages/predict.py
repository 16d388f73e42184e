"""`ssl-ads predict model=<model.pt> dataset.path=<file> [out=DIR]`: score a new file with a fine-tuned model.

Writes `predictions.parquet` (ids, the file's other columns for tables and texts, then `score` / `predicted` or
`predicted` / `confidence` / `decision`; a next-item model: `user_id`, `next_items` (original item ids, best first) and
their `scores`) and `predict.json` (what was read, unseen values, rows set aside). Exit
status 2 for a file that is not a model bundle or data that does not fit it, each named in one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console

from ssl_ads.stages.use_args import output_dir, parse_args, run_command

USAGE = (
    "usage: ssl-ads predict model=<model.pt> dataset.path=<parquet|csv[.gz|.zst] file or folder> [out=DIR] "
    "[batch_size=N] [top_k=N] [as_of=DATE]"
)


@dataclass
class InputFile:
    path: str = "???"
    # CSV field separator (parquet files ignore it); null: the training file's (events_file / tabular_file), else ","
    separator: str | None = None


@dataclass
class PredictArgs:
    # the fine-tuned model bundle written by `finetune` / `pipeline` (model.pt)
    model: str = "???"
    # the new data, in the model's training schema (parquet or CSV)
    dataset: InputFile = field(default_factory=InputFile)
    # output directory (default outputs/predict/<time>/)
    out: str | None = None
    # scored at a time (null: the model's test loop's: 1024, or task.eval_batch_size for next-item models)
    batch_size: int | None = None
    # next-item models: items listed per user (null: the task's largest K)
    top_k: int | None = None
    # event sequences: the time event ages count from (encoder.read_ages), unix seconds or an ISO date / datetime
    # (UTC); events at or after it are set aside and counted. null: the file's last event
    as_of: str | None = None
    # rows of a table or texts read, scored and written at a time (memory stays flat in the file's size)
    chunk_rows: int = 65_536
    # where frozen sentence-model embeddings are cached
    cache_dir: str = ".ssl_ads_cache"


def main(argv: list[str]) -> int:
    return run_command(_predict, argv, USAGE)


def _predict(argv: list[str]) -> int:
    from ssl_ads.data.io import write_json_atomic
    from ssl_ads.errors import ConfigError
    from ssl_ads.use.featurize import as_of_seconds
    from ssl_ads.use.input_file import existing_input
    from ssl_ads.use.predict import load_model, predict_file
    from ssl_ads.use.ranking_model import RankingModel

    args = parse_args(PredictArgs, argv, USAGE)
    if args.batch_size is not None and (args.batch_size < 1 or args.chunk_rows < args.batch_size):
        raise ConfigError(f"batch_size must be >= 1 and chunk_rows >= batch_size: {args.batch_size}, {args.chunk_rows}")
    if args.top_k is not None and args.top_k < 1:
        raise ConfigError(f"top_k must be >= 1, got {args.top_k}")
    as_of = as_of_seconds(args.as_of)  # checked before the model or the data is read
    path = existing_input(args.dataset.path, "dataset.path")
    model = load_model(args.model, args.cache_dir)
    if args.top_k is not None:
        if not isinstance(model, RankingModel):
            raise ConfigError(f"top_k applies to next-item models; {args.model} is a {model.modality} classifier")
        model.top_k = args.top_k
    out = output_dir(args.out, "predict")
    summary = predict_file(model, path, out / "predictions.parquet", args.batch_size, args.chunk_rows,
                           args.dataset.separator, as_of)  # fmt: skip
    write_json_atomic(out / "predict.json", summary)
    console = Console()
    selection = model.selection
    console.print(
        f"[bold]predict[/] {summary['scored']:,} {model.features.entity} scored in {summary['seconds']} s with "
        f"{model.path} ({selection['encoder']} encoder, fine-tuned on {selection['n_labels']:,} labels, "
        f"label fraction {selection['label_fraction']:g}); decision: {model.decision['rule']}"
    )
    for name, count in summary["unseen"].items():
        if count:
            console.print(f"  unseen {name}: {count:,} values mapped to the out-of-vocabulary slot")
    for reason, count in summary["set_aside"].items():
        console.print(f"  set aside: {count:,} {reason}")
    console.print(f"[green]wrote[/] {summary['output']} and {out / 'predict.json'}")
    return 0
