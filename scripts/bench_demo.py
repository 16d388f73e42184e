"""The demo protocol over seeds: does the pretrained encoder beat every from-scratch row at 1 % and 10 % labels?

`make demo` runs `ssl-ads pipeline experiment=demo` once, at seed 0, on conversion. One seed proves nothing
(issue 18 item 3), so this script runs the same protocol for the tasks conversion and churn at several seeds and
prints every row (scratch-probe, scratch-finetune, pretrained-probe, pretrained-finetune, bag-of-items) as mean ±
std over seeds, then a verdict per task and fraction.

Per seed the encoder is pretrained once, on the train users of that seed's user split (the split does not
depend on the label, so it is the split of both tasks, exactly as `ssl-ads pipeline experiment=demo seed=S
task=T` would pretrain it), and reused for both tasks through `pipeline_rows(encoder_ckpt=...)`.

    OMP_NUM_THREADS=2 python scripts/bench_demo.py
    OMP_NUM_THREADS=2 python scripts/bench_demo.py pretext=next_item --seeds 0 --tasks conversion
    OMP_NUM_THREADS=2 python scripts/bench_demo.py --experiment demo_large   # 4x the unlabeled users, same labels

The verdicts are at every label fraction but the largest (the small budgets the issue is about).

Extra arguments are Hydra overrides applied after `experiment=demo` (or `--experiment`). Results go to `--out`
(one JSON per seed, keyed by the overrides: a rerun with the same ones reads them instead of training).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from rich.console import Console
from rich.table import Table

from ssl_ads.config.choices import CONFIG_DIR
from ssl_ads.config.schema import register_configs
from ssl_ads.data.sources.synthetic_marketplace import SIMULATOR_VERSION
from ssl_ads.evaluation.context import build_context
from ssl_ads.evaluation.label_evaluator import pipeline_rows
from ssl_ads.evaluation.pretraining import pretrain
from ssl_ads.results import labels_percent

TASKS = ("conversion", "churn")
ROWS = [  # (encoder, mode) in table order; the first three are the from-scratch rows
    ("scratch", "probe"),
    ("scratch", "finetune"),
    ("bag-of-items", "baseline"),
    ("pretrained", "probe"),
    ("pretrained", "finetune"),
]
SCRATCH_ROWS = ROWS[:3]
PRETRAINED_ROWS = ROWS[3:]
QUIET = ["online_probe.every_n_steps=0", "trainer.enable_progress_bar=false", "interval_resamples=200"]


def config(
    seed: int, task: str, out: Path, overrides: list[str], encoder_ckpt: str | None = None, experiment: str = "demo"
):
    """The run config `ssl-ads pipeline experiment=E seed=S task=T` composes, plus the overrides."""
    extra = [f"encoder_ckpt={encoder_ckpt}"] if encoder_ckpt else []
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose(
            "config",
            overrides=[
                "stage=pipeline", f"experiment={experiment}", f"seed={seed}", f"task={task}",
                f"cache_dir={out / 'cache'}",
                *QUIET, *overrides, *extra,
            ],
        )  # fmt: skip


def run_seed(
    seed: int, tasks: list[str], out: Path, overrides: list[str], console: Console, experiment: str = "demo"
) -> dict:
    """Pretrain once, then the pipeline's rows for every task with that encoder; cached as JSON."""
    named = [] if experiment == "demo" else [f"experiment={experiment}"]  # the demo's keys predate the option
    key = hashlib.sha1(json.dumps([seed, tasks, *named, *overrides]).encode()).hexdigest()[:10]
    cached = out / f"seed{seed}-{key}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    run_dir = out / f"seed{seed}-{key}"
    cfg = config(seed, tasks[0], out, overrides, experiment=experiment)
    ctx = build_context(cfg, directory=run_dir)
    done = run_dir / "pretrain.json"  # an interrupted seed keeps its encoder
    if done.is_file():
        path, info, pretrain_seconds = run_dir / "encoder.pt", *json.loads(done.read_text())
    else:
        started = time.perf_counter()
        path, info = pretrain(ctx)
        pretrain_seconds = time.perf_counter() - started
        done.write_text(json.dumps([info, pretrain_seconds], default=str))
    console.print(f"seed {seed}: pretrained in {pretrain_seconds:.0f} s ({info.get('epochs', 0)} epochs)")
    rows, protocols = [], {}
    for task in tasks:
        started = time.perf_counter()
        outcome = pipeline_rows(config(seed, task, out, overrides, str(path), experiment), directory=run_dir / task)
        rows += [{"task": task, **row.as_dict()} for row in outcome.rows]
        protocols[task] = outcome.protocol
        console.print(f"seed {seed}, {task}: {time.perf_counter() - started:.0f} s")
    record = {"seed": seed, "overrides": overrides, "pretrain": info, "pretrain_seconds": pretrain_seconds}
    record["simulator_version"] = SIMULATOR_VERSION
    record |= {"n_users": ctx.data.num_rows, "n_train": len(ctx.split.train), "n_val": len(ctx.split.val)}
    record |= {"n_test": len(ctx.split.test), "protocols": protocols, "rows": rows, "config": dict_of(cfg)}
    cached.write_text(json.dumps(record, indent=1, default=str))
    return record


def dict_of(cfg) -> dict:
    from omegaconf import OmegaConf

    keep = ("encoder", "pretext", "pretrain", "probe", "finetune", "dataset", "label_fractions")
    return {k: OmegaConf.to_container(cfg[k], resolve=True) for k in keep}


def cell(records: list[dict], task: str, fraction: float, encoder: str, mode: str) -> list[float]:
    """Test AUROC of one row at one fraction, one value per seed."""
    return [
        r["metrics"]["test_auroc"]
        for record in records
        for r in record["rows"]
        if (r["task"], r["encoder"], r["mode"]) == (task, encoder, mode) and np.isclose(r["label_fraction"], fraction)
    ]


def selected(records: list[dict], task: str, fraction: float) -> list[float]:
    """Per seed, the test AUROC of the pretrained row (probe or fine-tune) with the higher validation AUROC:
    the choice a user makes without looking at the test split."""
    values = []
    for record in records:
        rows = [
            r for r in record["rows"]
            if r["task"] == task and r["encoder"] == "pretrained" and np.isclose(r["label_fraction"], fraction)
        ]  # fmt: skip
        if rows:
            values.append(max(rows, key=lambda r: r["metrics"]["val_auroc"])["metrics"]["test_auroc"])
    return values


def protocol_lines(records: list[dict], overrides: list[str]) -> list[str]:
    first = records[0]
    cfg, info = first["config"], first["pretrain"]
    fractions = cfg["label_fractions"]
    labels = sorted(
        {
            (r["label_fraction"], r["n_labels"])
            for r in first["rows"]
            if r["mode"] == "finetune" and r["task"] == first["rows"][0]["task"]
        }
    )
    enc, ft = cfg["encoder"], cfg["finetune"]
    return [
        f"data: simulator v{first.get('simulator_version', '?')}, {cfg['dataset']['n_users']} users "
        f"({first['n_users']} featurized), "
        f"{cfg['dataset']['sessions_per_user_day']} sessions/user/day, last {cfg['dataset']['max_len']} events "
        f"before the label window, side fields {cfg['dataset']['side_fields'] or 'none'}",
        f"split: users {first['n_train']} / {first['n_val']} / {first['n_test']} train / val / test per seed "
        "(random, label-independent: one split for both tasks); epochs and probe strength chosen on the full "
        "validation split",
        f"label fractions: {fractions} of the train users (stratified, nested; n labels at seed "
        f"{first['seed']}: {', '.join(f'{f:g}→{n}' for f, n in labels)})",
        f"seeds: {sorted(r['seed'] for r in records)}; test AUROC mean ± std over seeds",
        f"encoder: {enc['_target_'].rsplit('.', 1)[-1]} dim {enc.get('dim')}, {enc.get('layers')} layers, "
        f"pooling {enc.get('pooling')}",
        f"pretraining: {info.get('pretext')}, {info.get('epochs', 0)} epochs (max {cfg['pretrain']['max_epochs']}) "
        f"on the train users only, once per seed, reused by both tasks; "
        f"{np.mean([r['pretrain_seconds'] for r in records]):.0f} s per seed (shared machine)",
        f"probe: {cfg['probe']['solver']} (max {cfg['probe']['max_epochs']} epochs); fine-tune: max "
        f"{ft['max_epochs']} epochs, lr {ft['lr']}, patience {ft['patience']}, head_init {ft['head_init']}, "
        f"encoder_lr_scale {ft['encoder_lr_scale']}, freeze_epochs {ft['freeze_epochs']}",
        "bag-of-items: TF-IDF over user × item counts + logistic regression, C by CV inside the label budget",
        "overrides: " + (" ".join(overrides) or "none"),
    ]


def fmt(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "–"


def report(records: list[dict], tasks: list[str], protocol: list[str], console: Console, title: str) -> None:
    """The protocol lines, then per task one table (rows × label fractions) and the verdicts."""
    console.print(f"[bold]Protocol[/] ({title})")
    for line in protocol:
        console.print(f"  {line}")
    fractions = records[0]["config"]["label_fractions"]
    for task in tasks:
        table = Table(title=f"{task}: test AUROC (mean ± std over {len(records)} seeds)", title_justify="left")
        table.add_column("row", style="bold")
        for fraction in fractions:
            table.add_column(budget_name(records, fraction), justify="right")
        for encoder, mode in ROWS:
            table.add_row(f"{encoder}-{mode}", *[fmt(cell(records, task, f, encoder, mode)) for f in fractions])
        table.add_row("pretrained, chosen on validation", *[fmt(selected(records, task, f)) for f in fractions])
        console.print(table)
        for fraction in sorted(fractions)[
            :-1
        ]:  # the small budgets; the largest is where scratch is expected to catch up
            console.print(verdict(records, task, fraction))


def budget_name(records: list[dict], fraction: float) -> str:
    """A label fraction as a header: "1% (39 labels)", the count at the first seed."""
    counts = [r["n_labels"] for r in records[0]["rows"] if np.isclose(r["label_fraction"], fraction)]
    return f"{labels_percent(fraction)} ({counts[0]} labels)" if counts else labels_percent(fraction)


def verdict(records: list[dict], task: str, fraction: float) -> str:
    """Best pretrained row against the best scratch row: by mean, and with one std on either side."""

    def stats(rows):
        found = {f"{e}-{m}": cell(records, task, fraction, e, m) for e, m in rows}
        name = max((k for k in found if found[k]), key=lambda k: np.mean(found[k]))
        return name, float(np.mean(found[name])), float(np.std(found[name]))

    p_name, p_mean, p_std = stats(PRETRAINED_ROWS)
    s_name, s_mean, s_std = stats(SCRATCH_ROWS)
    chosen = selected(records, task, fraction)
    by_mean = p_mean > s_mean
    apart = p_mean - p_std > s_mean + s_std
    mark = "[green]yes[/]" if by_mean else "[red]no[/]"
    mark_std = "[green]yes[/]" if apart else "[yellow]no[/]"
    # paired by seed (same split, same labels): the chosen pretrained row minus the best scratch row
    paired = np.asarray(chosen) - np.asarray(cell(records, task, fraction, *s_name.rsplit("-", 1)))
    return (
        f"{task} @ {budget_name(records, fraction)}: best pretrained {p_name} {p_mean:.3f} vs best scratch "
        f"{s_name} {s_mean:.3f} "
        f"(gain {p_mean - s_mean:+.3f}) → beats every scratch row by mean: {mark}; "
        f"mean − std > scratch mean + std: {mark_std}; chosen on validation {np.mean(chosen):.3f} "
        f"({'beats' if np.mean(chosen) > s_mean else 'does not beat'} every scratch row); paired by seed, chosen − "
        f"{s_name}: {paired.mean():+.3f} ± {paired.std():.3f}, ahead at {(paired > 0).sum()} of {len(paired)} seeds"
    )


def setup() -> Console:
    """Lightning's per-fit chatter off, the Hydra configs registered, and a console wide enough for the tables
    (a pipe would otherwise get 80 columns)."""
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    register_configs()
    return Console(width=160)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--out", type=Path, default=Path("outputs/bench_demo"))
    parser.add_argument("--experiment", default="demo", help="demo, or demo_large (a 4x larger unlabeled log)")
    args, overrides = parser.parse_known_args()
    args.out.mkdir(parents=True, exist_ok=True)
    console = setup()
    started = time.perf_counter()
    out = args.out.resolve()
    records = [run_seed(seed, args.tasks, out, overrides, console, args.experiment) for seed in args.seeds]
    protocol = protocol_lines(records, overrides)
    report(records, args.tasks, protocol, console, f"ssl-ads pipeline experiment={args.experiment}, per seed and task")
    console.print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
