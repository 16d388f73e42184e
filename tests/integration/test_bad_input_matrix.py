"""Bad-input matrix (issue 14): every loader, config path and checkpoint fed wrong input fails clearly.

Each row: the input files (written here in their real formats), the command line, the expected exit code and the
key words of the error. Every row also asserts that there is no traceback, that no input file changed (bytes and
mtime) and that no run folder holding only Hydra's own files is left behind; a config mistake creates no folder
at all. Rows run in this process through `ssl_ads.cli.main` (Hydra clears its global state after every run, so
runs do not leak into each other; a subprocess per row would cost ~10 s of imports each); two rows run the real
entry point in a subprocess, as a user would. The whole file takes about a minute on two cores.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import torch

from ssl_ads.cli import main

T0 = 1_700_000_000
GARBAGE = bytes(range(256)) * 8 + b"\x00\xff\xfe" * 100


# ---------------------------------------------------------------- input files, in their real formats
def _write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def _events(n_users: int = 30, per_user: int = 6, negative: bool = False) -> pl.DataFrame:
    rows = [(u, (u * 7 + k) % 25, T0 + 3600 * (u + 10 * k)) for u in range(n_users) for k in range(per_user)]
    frame = pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")
    return frame.with_columns(-pl.col("timestamp")) if negative else frame


def events_csv(d: Path) -> None:
    _events().write_csv(d / "events.csv")


def events_empty(d: Path) -> None:
    _write(d / "events.csv", "")


def events_header_only(d: Path) -> None:
    _write(d / "events.csv", "user_id,item_id,timestamp\n")


def events_tab_separated(d: Path) -> None:
    _events().write_csv(d / "events.csv", separator="\t")


def events_garbage(d: Path) -> None:
    _write(d / "events.csv", GARBAGE)


def events_missing_item(d: Path) -> None:
    _events().drop("item_id").write_csv(d / "events.csv")


def events_parquet_missing_timestamp(d: Path) -> None:
    _events().drop("timestamp").write_parquet(d / "events.parquet")


def events_parquet_garbage(d: Path) -> None:
    _write(d / "events.parquet", b"PAR1" + GARBAGE)


def events_negative_timestamps(d: Path) -> None:
    _events(negative=True).write_csv(d / "events.csv")


def events_single_class_labels(d: Path) -> None:
    events_csv(d)
    pl.DataFrame({"user_id": range(30), "conversion": [0] * 30}).write_csv(d / "labels.csv")


def events_labels_missing_column(d: Path) -> None:
    events_csv(d)
    pl.DataFrame({"user_id": range(30), "bought": [u % 2 for u in range(30)]}).write_csv(d / "labels.csv")


def _ratings(separator: str) -> str:
    rows = [(u, (u * 3 + k) % 20 + 1, 1 + (u + k) % 5, T0 + 60 * k) for u in range(1, 12) for k in range(6)]
    return "".join(separator.join(map(str, r)) + "\n" for r in rows)


def movielens_u_data(d: Path) -> None:
    _write(d / "u.data", _ratings("\t"))


def movielens_empty(d: Path) -> None:
    _write(d / "u.data", "")


def movielens_comma_separated(d: Path) -> None:
    _write(d / "u.data", _ratings(","))


def movielens_garbage(d: Path) -> None:
    _write(d / "u.data", GARBAGE)


def movielens_ratings_dat_truncated(d: Path) -> None:
    _write(d / "ratings.dat", "".join(f"{u}::{u + 1}\n" for u in range(1, 40)))


def _taobao_line(u: int, k: int) -> str:
    return f"{u},{100 + (u + k) % 9},{7 + k % 3},{('pv', 'buy', 'cart', 'fav')[k % 4]},{1511544000 + 60 * k}"


def taobao_three_fields(d: Path) -> None:
    _write(d / "UserBehavior.csv", "".join(f"{u},{100 + k},{1511544000 + k}\n" for u in range(10) for k in range(6)))


def taobao_garbage(d: Path) -> None:
    _write(d / "UserBehavior.csv", GARBAGE)


def taobao_header_only(d: Path) -> None:
    _write(d / "UserBehavior.csv", "user_id,item_id,category_id,behavior_type,timestamp\n")


def taobao_good(d: Path) -> None:
    _write(d / "UserBehavior.csv", "".join(_taobao_line(u, k) + "\n" for u in range(10) for k in range(6)))


def _criteo_line(i: int) -> str:
    return "\t".join([str(i % 2), *[str(i * k) for k in range(13)], *[f"{(i * 7919 + k) % 4:08x}" for k in range(26)]])


def criteo_empty(d: Path) -> None:
    _write(d / "train.txt", "")


def criteo_three_fields(d: Path) -> None:
    _write(d / "train.txt", "1\t2\t3\n" * 20)


def criteo_comma_separated(d: Path) -> None:
    _write(d / "train.txt", "".join(_criteo_line(i).replace("\t", ",") + "\n" for i in range(20)))


def criteo_garbage(d: Path) -> None:
    _write(d / "train.txt", GARBAGE)


AVAZU_HEADER = (
    "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,app_category,device_id,"
    "device_ip,device_model,device_type,device_conn_type,C14,C15,C16,C17,C18,C19,C20,C21"
)


def avazu_header_only(d: Path) -> None:
    _write(d / "train.csv", AVAZU_HEADER + "\n")


def avazu_missing_click(d: Path) -> None:
    header = AVAZU_HEADER.replace("id,click,", "id,")
    row = "1,14102100,1005,0,a,b,c,d,e,f,g,h,i,1,2,15706,320,50,1722,0,35,-1,79"
    _write(d / "train.csv", header + "\n" + (row + "\n") * 20)


def avazu_garbage(d: Path) -> None:
    _write(d / "train.csv", GARBAGE)


def _table(n: int = 40, label: Callable[[int], str] = lambda i: "yes" if i % 3 == 0 else "no") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "city": [["paris", "lyon", "nice"][i % 3] for i in range(n)],
            "spend": [float(i) * 1.5 for i in range(n)],
            "converted": [label(i) for i in range(n)],
        }
    )


def table_csv(d: Path) -> None:
    _table().write_csv(d / "table.csv")


def table_single_class(d: Path) -> None:
    _table(label=lambda i: "no").write_csv(d / "table.csv")


def table_empty(d: Path) -> None:
    _write(d / "table.csv", "")


def table_header_only(d: Path) -> None:
    _write(d / "table.csv", "city,spend,converted\n")


def table_semicolons(d: Path) -> None:
    _table().write_csv(d / "table.csv", separator=";")


def table_parquet_garbage(d: Path) -> None:
    _write(d / "table.parquet", GARBAGE)


def _copy(n: int = 40, label: Callable[[int], str] = lambda i: ("calm", "bold")[i % 2]) -> pl.DataFrame:
    words = ["fresh deals today", "bold new look", "calm and simple", "save more now", "quiet comfort"]
    titles = [f"{words[i % 5]} number {i}" for i in range(n)]
    return pl.DataFrame({"title": titles, "voice": [label(i) for i in range(n)]})


def text_csv(d: Path) -> None:
    _copy().write_csv(d / "copy.csv")


def text_single_class(d: Path) -> None:
    _copy(label=lambda i: "calm").write_csv(d / "copy.csv")


def text_empty(d: Path) -> None:
    _write(d / "copy.csv", "")


def text_header_only(d: Path) -> None:
    _write(d / "copy.csv", "title,voice\n")


def text_garbage(d: Path) -> None:
    _write(d / "copy.csv", GARBAGE)


def text_parquet_missing_column(d: Path) -> None:
    _copy().rename({"title": "headline"}).write_parquet(d / "copy.parquet")


def ckpt_text(d: Path) -> None:
    _write(d / "encoder.pt", "this is not a checkpoint\n")


def ckpt_corrupt_zip(d: Path) -> None:
    _write(d / "encoder.pt", b"PK\x03\x04" + GARBAGE)


def ckpt_foreign_torch(d: Path) -> None:
    torch.save({"state_dict": {"weight": torch.zeros(2)}}, d / "encoder.pt")


def ckpt_empty(d: Path) -> None:
    _write(d / "encoder.pt", b"")


# ---------------------------------------------------------------- the matrix
@dataclass(frozen=True)
class Case:
    """One row: `args` (stage first; `{in}` is the folder of the inputs `files` writes), what must come out."""

    id: str
    args: tuple[str, ...]
    words: tuple[str, ...]
    files: Callable[[Path], None] | None = None
    code: int = 2
    xfail: str | None = None

    @property
    def config_only(self) -> bool:
        """Fails on the configuration alone: before Hydra creates any folder."""
        return self.files is None and not any("{in}" in a for a in self.args)


def c(id: str, overrides: str, *words: str, stage: str = "pretrain", **kw) -> Case:
    return Case(id, (stage, *overrides.split()), words, **kw)


RANGE = "out of range"
SEQ_TINY = "experiment=tiny"
TAB = "dataset=synthetic_impressions"
TEXT = "dataset=synthetic_copy"
EVENTS = "dataset=events_file dataset.path={in}/events.csv"
TABLE = "dataset=tabular_file dataset.path={in}/table.csv dataset.label=converted dataset.positive_class=yes"
TEXT_FILE = (
    "dataset=text_file dataset.path={in}/copy.csv dataset.text_cols=[title] dataset.label_col=voice "
    "encoder=bag_of_words"
)

CONFIG_CASES = [
    # run-level loops, seed, splits, label fractions, online probe, trainer (ssl_ads.config.schema)
    c("encoder-dim-zero", "encoder.dim=0", "encoder.dim=0", RANGE, "integer ≥ 1"),
    c("pretrain-batch-size-zero", "pretrain.batch_size=0", "pretrain.batch_size=0", RANGE, "≥ 1"),
    c("pretrain-lr-negative", "pretrain.lr=-1", "pretrain.lr=-1", RANGE, "> 0"),
    c("pretrain-lr-zero", "pretrain.lr=0", "pretrain.lr=0", RANGE, "> 0"),
    c("pretrain-lr-nan", "pretrain.lr=nan", "pretrain.lr=nan", RANGE),
    c("pretrain-max-epochs-negative", "pretrain.max_epochs=-1", "pretrain.max_epochs=-1", RANGE, "≥ 1"),
    c("probe-batch-size-negative", "probe.batch_size=-5", "probe.batch_size=-5", RANGE, stage="probe"),
    c("probe-patience-negative", "probe.patience=-1", "probe.patience=-1", RANGE, "≥ 0", stage="probe"),
    c(
        "finetune-weight-decay-negative",
        "finetune.weight_decay=-0.1",
        "finetune.weight_decay=-0.1",
        RANGE,
        stage="finetune",
    ),
    c("finetune-ema-decay-one", "finetune.ema_decay=1.0", "finetune.ema_decay=1", "(0, 1)", stage="finetune"),
    c("seed-negative", "seed=-1", "seed=-1", RANGE, "≥ 0"),
    c("val-share-zero", "val_share=0", "val_share=0", "(0, 1)"),
    c("test-share-one", "test_share=1.0", "test_share=1", "(0, 1)"),
    c("val-plus-test-share", "val_share=0.6 test_share=0.5", "val_share=0.6", "test_share=0.5", "< 1"),
    c("label-fraction-zero", "label_fractions=[0,0.5]", "label_fractions=[0, 0.5]", "(0, 1]", stage="probe"),
    c("label-fraction-above-one", "label_fractions=[0.1,1.5]", "label_fractions", "got 1.5", stage="pipeline"),
    c("label-fractions-wrong-type", "label_fractions=[a,b]", "label_fractions", "Float", stage="probe"),
    c(
        "online-probe-steps-negative",
        "online_probe.every_n_steps=-1",
        "online_probe.every_n_steps=-1",
        RANGE,
        stage="pipeline",
    ),
    c("online-probe-rows-zero", "online_probe.max_rows=0", "online_probe.max_rows=0", RANGE, stage="pipeline"),
    c("trainer-devices-zero", "trainer.devices=0", "trainer.devices=0", RANGE),
    c("trainer-num-nodes-zero", "trainer.num_nodes=0", "trainer.num_nodes=0", RANGE),
    c("trainer-log-every-zero", "trainer.log_every_n_steps=0", "trainer.log_every_n_steps=0", RANGE),
    # encoders
    c("transformer-layers-zero", "encoder.layers=0", "encoder.layers=0", RANGE),
    c("transformer-heads-zero", "encoder.heads=0", "encoder.heads=0", RANGE),
    c(
        "transformer-dim-not-divisible",
        "encoder.dim=64 encoder.heads=3",
        "encoder.dim=64",
        "encoder.heads=3",
        "divisible",
    ),
    c("transformer-ff-dim-zero", "encoder.ff_dim=0", "encoder.ff_dim=0", RANGE),
    c("transformer-dropout-one", "encoder.dropout=1.0", "encoder.dropout=1", "[0, 1)"),
    c(
        "text-transformer-attn-dropout-negative",
        f"{TEXT} encoder.attn_dropout=-0.1",
        "encoder.attn_dropout=-0.1",
        "[0, 1)",
    ),
    c("gru-hidden-dim-zero", "encoder=gru encoder.hidden_dim=0", "encoder.hidden_dim=0", RANGE),
    c("field-mlp-hidden-zero", f"{TAB} encoder.hidden=[64,0]", "encoder.hidden=[64, 0]", "got 0"),
    c("field-mlp-token-dim-zero", f"{TAB} encoder.token_dim=0", "encoder.token_dim=0", RANGE),
    c("field-mlp-frequency-scale-zero", f"{TAB} encoder.frequency_scale=0", "encoder.frequency_scale=0", "> 0"),
    c(
        "field-transformer-dim-not-divisible",
        f"{TAB} encoder=field_transformer encoder.dim=10 encoder.heads=4",
        "encoder.dim=10",
        "encoder.heads=4",
        "divisible",
    ),
    c("text-transformer-dim-not-divisible", f"{TEXT} encoder.dim=30", "encoder.dim=30", "encoder.heads=4", "divisible"),
    c(
        "bag-of-words-max-features-zero",
        f"{TEXT} encoder=bag_of_words pretext=none encoder.max_features=0",
        "encoder.max_features=0",
        RANGE,
    ),
    c(
        "sentence-batch-size-zero",
        f"{TEXT} encoder=sentence_pretrained pretext=none encoder.batch_size=0",
        "encoder.batch_size=0",
        RANGE,
    ),
    c(
        "sentence-tfidf-weight-negative",
        f"{TEXT} encoder=sentence_tfidf pretext=none encoder.sentence_weight=-1",
        "encoder.sentence_weight=-1",
        RANGE,
    ),
    # pretext objectives
    c("mask-prob-zero", "pretext.mask_prob=0", "pretext.mask_prob=0", "(0, 1)"),
    c("mask-prob-above-one", "pretext.mask_prob=1.5", "pretext.mask_prob=1.5", "(0, 1)"),
    c(
        "replace-plus-keep-above-one",
        "pretext.replace_prob=0.7 pretext.keep_prob=0.5",
        "pretext.replace_prob=0.7",
        "pretext.keep_prob=0.5",
        "≤ 1",
    ),
    c("contrastive-temperature-zero", "pretext=contrastive pretext.temperature=0", "pretext.temperature=0", "> 0"),
    c("contrastive-crop-ratio", "pretext=contrastive pretext.crop_ratio=1.5", "pretext.crop_ratio=1.5", "[0, 1]"),
    c("next-item-negatives-zero", "pretext=next_item pretext.num_negatives=0", "pretext.num_negatives=0", RANGE),
    c("corruption-rate-one", f"{TAB} pretext.corruption_rate=1.0", "pretext.corruption_rate=1", "(0, 1)"),
    c(
        "scarf-projection-zero",
        f"{TAB} pretext=corruption_contrastive pretext.projection_dim=0",
        "pretext.projection_dim=0",
        RANGE,
    ),
    c("masked-token-mask-prob", f"{TEXT} pretext.mask_prob=1", "pretext.mask_prob=1", "(0, 1)"),
    c(
        "text-contrastive-temperature",
        f"{TEXT} pretext=text_contrastive pretext.temperature=-0.05",
        "pretext.temperature=-0.05",
        "> 0",
    ),
    # tasks
    c("ranking-ks-zero", "task=next_item task.ks=[0,10]", "task.ks=[0, 10]", "got 0"),
    c("ranking-primary-k-not-in-ks", "task=next_item task.primary_k=3", "task.primary_k=3", "task.ks"),
    c("ranking-window-zero", "task=next_item task.window=0", "task.window=0", RANGE),
    c("ranking-stride-zero", "task=next_item task.stride=0", "task.stride=0", RANGE),
    c("fraud-max-fpr-zero", f"{TAB} task=fraud task.max_fpr=0", "task.max_fpr=0", "(0, 1)"),
    c(
        "ctr-freeze-epochs-negative",
        f"{TAB} finetune.freeze_epochs=-1",
        "finetune.freeze_epochs=-1",
        RANGE,
        stage="finetune",
    ),
    c("recipe-key-under-task", f"{TAB} +task.probe_solver=lbfgs", "task.probe_solver", "set probe.solver instead"),
    c("gate-threshold-above-one", f"{TEXT} task.gate_threshold=1.5", "task.gate_threshold=1.5", "[0, 1]"),
    # datasets
    c("sequence-max-len-one", "dataset.max_len=1", "dataset.max_len=1", "≥ 2"),
    c("simulator-users-zero", "dataset.n_users=0", "dataset.n_users=0", RANGE),
    c("simulator-bot-share-one", f"{TAB} dataset.bot_share=1.0", "dataset.bot_share=1", "[0, 1)"),
    c("simulator-days-huge", "dataset.n_days=100000", "dataset.n_days=100000", "[2, 3650]"),
    c("tabular-quantile-bins-one", f"{TAB} dataset.quantile_bins=1", "dataset.quantile_bins=1", "≥ 2"),
    c("text-vocab-too-small", f"{TEXT} dataset.vocab_size=8", "dataset.vocab_size=8", "≥ 16"),
    c(
        "criteo-min-count-zero",
        "dataset=criteo dataset.path=train.txt dataset.min_count=0",
        "dataset.min_count=0",
        RANGE,
    ),
    c(
        "movielens-bad-share-above-one",
        "dataset=movielens dataset.path=u.data dataset.max_bad_share=1.5",
        "dataset.max_bad_share=1.5",
        "[0, 1]",
    ),
    c(
        "taobao-min-item-count-zero",
        "dataset=taobao dataset.path=x.csv dataset.min_item_count=0",
        "dataset.min_item_count=0",
        RANGE,
    ),
    c(
        "text-file-min-frequency-zero",
        "dataset=text_file dataset.path=c.csv dataset.text_cols=[t] dataset.label_col=l dataset.min_frequency=0",
        "dataset.min_frequency=0",
        RANGE,
    ),
    # unknown keys, wrong types, missing values, unknown choices, sweeps
    c("unknown-key", "encoder.dimm=32", "encoder.dimm is not a setting", "did you mean encoder.dim or"),
    c("added-unknown-key", "+encoder.depth=3", "encoder.depth"),
    c("wrong-type-group-key", "encoder.dim=sixty-four", "encoder.dim", "sixty-four"),
    c("wrong-type-run-key", "pretrain.max_epochs=many", "pretrain.max_epochs=many", "Integer"),
    c("unknown-choice", "encoder=lstm", "encoder=lstm", "transformer", "gru"),
    c("missing-required-path", "dataset=movielens", "dataset.path"),
    c("incompatible-modality", "encoder=field_mlp", "encoder=field_mlp", "Compatible", "transformer"),
    c("malformed-override", "encoder.dim=[1,", "encoder.dim=[1,", "parse"),
    c("sweep-base-value", "-m pretrain.lr=-1", "pretrain.lr=-1", RANGE),
    c("sweep-one-job-bad", "-m pretrain.lr=0.1,-1 seed=0,1", "pretrain.lr=-1", RANGE),
    c("sweep-cross-field", "-m encoder.dim=32,30 encoder.heads=4", "encoder.dim=30", "divisible"),
    # flags that leave the check to the task function (here -cd): it removes the folders Hydra already made
    c("checked-in-run-single", "-cd {in} encoder.dim=0", "encoder.dim=0", RANGE),
    c("checked-in-run-sweep", "-m -cd {in} pretrain.lr=-1", "pretrain.lr=-1", RANGE),
]

DATA_CASES = [
    # events_file (CSV / TSV / parquet)
    c("events-missing-file", EVENTS, "events.csv", "no such file"),
    c("events-empty-file", EVENTS, "events.csv", "empty", files=events_empty),
    c("events-header-only", EVENTS, "events.csv", "empty", files=events_header_only),
    c("events-wrong-delimiter", EVENTS, "events.csv", "item_id", files=events_tab_separated),
    c("events-binary-garbage", EVENTS, "events.csv", files=events_garbage),
    c("events-missing-column", EVENTS, "events.csv", "item_id", files=events_missing_item),
    c(
        "events-parquet-missing-column",
        "dataset=events_file dataset.path={in}/events.parquet",
        "events.parquet",
        "timestamp",
        files=events_parquet_missing_timestamp,
    ),
    c(
        "events-parquet-garbage",
        "dataset=events_file dataset.path={in}/events.parquet",
        "events.parquet",
        files=events_parquet_garbage,
    ),
    c("events-negative-timestamps", EVENTS, "events.csv", "negative timestamp", files=events_negative_timestamps),
    c("events-bad-separator-option", f"{EVENTS} dataset.separator='::'", "dataset.separator", "'::'", files=events_csv),
    c(
        "events-labels-missing-file",
        f"{EVENTS} dataset.labels_path={{in}}/nope.csv",
        "dataset.labels_path",
        "nope.csv",
        files=events_csv,
    ),
    c(
        "events-labels-missing-column",
        f"{EVENTS} dataset.labels_path={{in}}/labels.csv",
        "conversion",
        files=events_labels_missing_column,
        stage="probe",
    ),
    c(
        "events-single-class-labels",
        f"{EVENTS} dataset.labels_path={{in}}/labels.csv",
        "conversion",
        "single class",
        files=events_single_class_labels,
        stage="probe",
    ),
    c(
        "events-everything-filtered",
        f"{EVENTS} dataset.min_user_interactions=1000",
        "dataset.min_user_interactions",
        files=events_csv,
    ),
    # MovieLens u.data / ratings.dat
    c("movielens-missing-file", "dataset=movielens dataset.path={in}/u.data", "u.data", "no such file"),
    c("movielens-empty", "dataset=movielens dataset.path={in}/u.data", "u.data", "empty", files=movielens_empty),
    c(
        "movielens-wrong-delimiter",
        "dataset=movielens dataset.path={in}/u.data",
        "u.data",
        files=movielens_comma_separated,
    ),
    c("movielens-garbage", "dataset=movielens dataset.path={in}/u.data", "u.data", files=movielens_garbage),
    c(
        "movielens-ratings-dat-two-fields",
        "dataset=movielens dataset.path={in}/ratings.dat",
        "ratings.dat",
        files=movielens_ratings_dat_truncated,
    ),
    c(
        "movielens-bad-format-option",
        "dataset=movielens dataset.path={in}/u.data dataset.format=csv",
        "dataset.format",
        files=movielens_u_data,
    ),
    # Taobao UserBehavior.csv
    c(
        "taobao-missing-fields",
        "dataset=taobao dataset.path={in}/UserBehavior.csv",
        "UserBehavior.csv",
        files=taobao_three_fields,
    ),
    c("taobao-garbage", "dataset=taobao dataset.path={in}/UserBehavior.csv", "UserBehavior.csv", files=taobao_garbage),
    c(
        "taobao-header-only",
        "dataset=taobao dataset.path={in}/UserBehavior.csv",
        "UserBehavior.csv",
        files=taobao_header_only,
    ),
    c(
        "taobao-unknown-behavior",
        "dataset=taobao dataset.path={in}/UserBehavior.csv dataset.behaviors=[click]",
        "dataset.behaviors",
        "click",
        files=taobao_good,
    ),
    # Criteo TSV
    c("criteo-missing-file", "dataset=criteo dataset.path={in}/train.txt", "train.txt", "no such file"),
    c("criteo-empty", "dataset=criteo dataset.path={in}/train.txt", "train.txt", "no rows", files=criteo_empty),
    c(
        "criteo-wrong-field-count",
        "dataset=criteo dataset.path={in}/train.txt",
        "train.txt",
        "field count",
        files=criteo_three_fields,
    ),
    c(
        "criteo-wrong-delimiter",
        "dataset=criteo dataset.path={in}/train.txt",
        "train.txt",
        files=criteo_comma_separated,
    ),
    c("criteo-garbage", "dataset=criteo dataset.path={in}/train.txt", "train.txt", files=criteo_garbage),
    # Avazu CSV
    c("avazu-header-only", "dataset=avazu dataset.path={in}/train.csv", "train.csv", files=avazu_header_only),
    c(
        "avazu-missing-click",
        "dataset=avazu dataset.path={in}/train.csv",
        "train.csv",
        "click",
        files=avazu_missing_click,
    ),
    c("avazu-garbage", "dataset=avazu dataset.path={in}/train.csv", "train.csv", files=avazu_garbage),
    # generic tabular file
    c(
        "table-missing-label-column",
        TABLE.replace("dataset.label=converted", "dataset.label=bought"),
        "bought",
        files=table_csv,
    ),
    c("table-single-class", TABLE, "converted", "positive_class", files=table_single_class, stage="probe"),
    c("table-empty", TABLE, "table.csv", "empty", files=table_empty),
    c("table-header-only", TABLE, "table.csv", "empty", "no data rows", files=table_header_only),
    c("table-wrong-delimiter", TABLE, "converted", files=table_semicolons),
    c(
        "table-parquet-garbage",
        TABLE.replace("table.csv", "table.parquet"),
        "table.parquet",
        files=table_parquet_garbage,
    ),
    c("table-unknown-categorical", f"{TABLE} dataset.categorical=[region]", "region", files=table_csv),
    # generic text file
    c("text-missing-text-column", TEXT_FILE.replace("[title]", "[body]"), "body", files=text_csv, stage="probe"),
    c("text-single-class", TEXT_FILE, "voice", "single class", files=text_single_class, stage="probe"),
    c("text-empty", TEXT_FILE, "copy.csv", "empty", files=text_empty, stage="probe"),
    c("text-header-only", TEXT_FILE, "copy.csv", "empty", files=text_header_only, stage="probe"),
    c("text-garbage", TEXT_FILE, "copy.csv", files=text_garbage, stage="probe"),
    c(
        "text-parquet-missing-column",
        TEXT_FILE.replace("copy.csv", "copy.parquet"),
        "title",
        files=text_parquet_missing_column,
        stage="probe",
    ),
    c("text-no-text-columns", TEXT_FILE.replace("[title]", "[]"), "dataset.text_cols", files=text_csv, stage="probe"),
    # checkpoints
    c("ckpt-missing-file", f"{SEQ_TINY} encoder_ckpt={{in}}/nope.pt", "encoder_ckpt", "nope.pt", stage="probe"),
    c(
        "ckpt-text-file",
        f"{SEQ_TINY} encoder_ckpt={{in}}/encoder.pt",
        "encoder_ckpt",
        "encoder.pt",
        files=ckpt_text,
        stage="probe",
    ),
    c(
        "ckpt-corrupt-zip",
        f"{SEQ_TINY} encoder_ckpt={{in}}/encoder.pt",
        "encoder_ckpt",
        "encoder.pt",
        files=ckpt_corrupt_zip,
        stage="finetune",
    ),
    c(
        "ckpt-foreign-torch-file",
        f"{SEQ_TINY} encoder_ckpt={{in}}/encoder.pt",
        "encoder_ckpt",
        "encoder.pt",
        files=ckpt_foreign_torch,
        stage="probe",
    ),
    c(
        "ckpt-empty-file",
        f"{SEQ_TINY} encoder_ckpt={{in}}/encoder.pt",
        "encoder_ckpt",
        "encoder.pt",
        files=ckpt_empty,
        stage="pipeline",
    ),
    c("resume-from-missing-run", f"{SEQ_TINY} resume_from={{in}}/no-run", "resume_from", "no-run"),
]

CASES = CONFIG_CASES + DATA_CASES


# ---------------------------------------------------------------- running a row
def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every input file's bytes and modification time."""
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def _hydra_only_run_dirs(root: Path) -> list[Path]:
    """Run folders holding nothing but Hydra's `.hydra/` snapshot and job log."""
    found = []
    for marker in root.rglob(".hydra"):
        rest = [p for p in marker.parent.iterdir() if p.name != ".hydra" and p.suffix != ".log"]
        if not rest:
            found.append(marker.parent)
    return found


def _resolve(case: Case, inputs: Path) -> list[str]:
    return [a.replace("{in}", str(inputs)) for a in case.args]


def _run_in_process(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """`ssl-ads <args>` in this process: its exit code, stdout and stderr."""
    monkeypatch.setattr(sys, "argv", ["ssl-ads", *args])
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    monkeypatch.setenv("COLUMNS", "200")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    code = 0
    try:
        main(args)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        root.handlers[:] = handlers  # Hydra configures logging per run: keep it out of the next row
        root.setLevel(level)
    out, err = capsys.readouterr()
    return code, out, err


def _check(case: Case, code: int, err: str, tmp: Path, before: dict) -> None:
    inputs = tmp / "in"
    assert "Traceback" not in err, err
    assert code == case.code, f"exit {code}, expected {case.code}\n{err}"
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("error:"), f"the error is not the last line, as one line:\n{err}"
    assert sum(line.startswith("error:") for line in lines) == 1, err
    if case.config_only:  # nothing else was printed: the whole output is that line
        assert len(lines) == 1, err
    message = lines[-1]
    for word in case.words:
        assert word.replace("{in}", str(inputs)) in message, f"{word!r} not in: {message}"
    assert _snapshot(inputs) == before, "an input file was modified"
    assert not _hydra_only_run_dirs(tmp), "an empty run folder was left behind"
    tops = [tmp / "outputs", tmp / "multirun"]
    folders = [d for top in tops if top.is_dir() for d in (top, *top.rglob("*")) if d.is_dir()]
    assert not [d for d in folders if not any(d.iterdir())], "an empty folder was left behind"
    if case.config_only:
        assert not (tmp / "outputs").exists() and not (tmp / "multirun").exists(), "a config error created a folder"


def _params() -> list:
    """The rows; a row whose expected behaviour is not in the code yet is a strict xfail that names it."""
    marks = {case.id: [pytest.mark.xfail(reason=case.xfail, strict=True)] if case.xfail else [] for case in CASES}
    return [pytest.param(case, marks=marks[case.id], id=case.id) for case in CASES]


@pytest.mark.parametrize("case", _params())
def test_bad_input_fails_with_one_clear_line(case: Case, tmp_path: Path, monkeypatch, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    if case.files is not None:
        case.files(inputs)
    before = _snapshot(inputs)
    monkeypatch.chdir(tmp_path)
    code, _, err = _run_in_process(_resolve(case, inputs), monkeypatch, capsys)
    _check(case, code, err, tmp_path, before)


@pytest.mark.parametrize("args", [("pretrain", "encoder.dim=0"), ("pretrain", "-m", "pretrain.lr=-1")],
                         ids=["single-run", "multirun"])  # fmt: skip
def test_the_entry_point_fails_the_same_way(args: tuple[str, ...], cli, tmp_path: Path):
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "out of range" in result.stderr and args[-1] in result.stderr
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()


def test_the_matrix_covers_at_least_sixty_cases():
    assert len(CASES) >= 60 and len({case.id for case in CASES}) == len(CASES)
    loaders = {"events_file", "movielens", "taobao", "criteo", "avazu", "tabular_file", "text_file"}
    assert all(any(f"dataset={name}" in " ".join(case.args) for case in DATA_CASES) for name in loaders)
