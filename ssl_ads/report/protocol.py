"""The evaluation protocol, printed beside every number (split, label window, fractions, seeds)."""

from __future__ import annotations

from omegaconf import DictConfig

from ssl_ads.hardware import model_width, resolve_precision, resolve_trainer_precision


def protocol(cfg: DictConfig, data_meta: dict, task_name: str, primary_metric: str) -> dict:
    if data_meta.get("modality") in ("tabular", "text"):  # both split rows and fit the featurizer on train rows
        return _tabular_protocol(cfg, data_meta, task_name, primary_metric)
    return {
        "dataset": data_meta["source"],
        "task": task_name,
        "metric": f"test {primary_metric}",
        "split": (
            f"by user, seeded ({1 - cfg.val_share - cfg.test_share:.0%} train / {cfg.val_share:.0%} val / "
            f"{cfg.test_share:.0%} test); pretraining reads {_pretrain_reads(cfg, 'users')}"
        ),
        "inputs": ("events before the label window" if data_meta.get("cutoff_timestamp") is not None else "all events")
        + f", last {data_meta['max_len']} per user",
        "label_fractions": list(cfg.label_fractions),
        "label_sampling": "stratified by class, seeded, nested across fractions",
        "model_selection": _model_selection(cfg, primary_metric, gbdt=False),
        "intervals": interval_protocol(cfg, "users"),
        "numerics": numerics(cfg),
        "seeds": [int(cfg.seed)],
    }


def _tabular_protocol(cfg: DictConfig, data_meta: dict, task_name: str, primary_metric: str) -> dict:
    """Tabular runs split rows (impressions), or groups of rows (`task.split_by`), and fit the featurizer on
    train rows only."""
    split_by = cfg.task.get("split_by")
    if split_by:
        unit = f"by {split_by} (every row of a {split_by} in one split)"
        fitted = f"featurizer fitted on a row-level train split, pretraining reads {_pretrain_reads(cfg, 'groups')}"
    else:
        unit, fitted = "by row", f"featurizer fitted on train rows, pretraining reads {_pretrain_reads(cfg, 'rows')}"
    out = {
        "dataset": data_meta["source"],
        "task": task_name,
        "metric": f"test {primary_metric}",
        "split": (
            f"{unit}, seeded ({1 - cfg.val_share - cfg.test_share:.0%} train / {cfg.val_share:.0%} val / "
            f"{cfg.test_share:.0%} test); {fitted}"
        ),
        "inputs": data_meta["inputs"],
        "label_fractions": list(cfg.label_fractions),
        "label_sampling": "stratified by class, seeded, nested across fractions",
        "model_selection": _model_selection(cfg, primary_metric),
        "label_budget": _label_budget(cfg),
        "intervals": (
            interval_protocol(cfg, f"{split_by} groups (all rows of one drawn together)", delong=False)
            if split_by
            else interval_protocol(cfg, "rows")
        ),
        "numerics": numerics(cfg),
        "seeds": [int(cfg.seed)],
    }
    loss = _class_weights(cfg.probe.get("class_weight"), cfg.finetune.get("class_weight"))
    if loss:  # a weighted loss changes what the reported numbers trade off
        out["loss"] = loss
    return out


def _class_weights(probe: str | None, finetune: str | None) -> str | None:
    """How the probe's and fine-tuning's losses weigh classes (`probe.class_weight`, `finetune.class_weight`)."""
    if probe == "auto":
        text = (
            "class weights per probe fit: balanced (n / (k * n_c) over its labels) or none, whichever has the "
            "better out-of-fold accuracy (probe_balanced in the metrics)"
        )
        return text + ("; fine-tuning: balanced class weights" if finetune else "")
    if probe and finetune:
        return "balanced class weights: n / (k * n_c) over each fit's labeled rows"
    if probe or finetune:
        return (
            f"balanced class weights in the {'probe' if probe else 'fine-tuning'} fits: n / (k * n_c) over each "
            "fit's labeled rows"
        )
    return None


def numerics(cfg: DictConfig) -> str:
    """The training precision of this run (and a pretrained text encoder's, which embeds in its own), with what
    `auto` resolved to here: the same config may run in bf16 on a CPU with bf16 units and in fp32 elsewhere,
    and the figures differ by it."""
    requested = cfg.trainer.get("precision", "32-true")
    resolved = resolve_trainer_precision(requested, cfg.trainer.get("accelerator", "cpu"), model_width(cfg))
    text = f"trainer.precision={resolved}" + (" (auto, on this hardware)" if requested == "auto" else "")
    encoder = cfg.get("encoder") or {}
    if encoder.get("precision"):  # the sentence encoders: the frozen model embeds in this precision
        text += f"; encoder.precision={resolve_precision(encoder.precision)}"
        text += " (auto, on this hardware)" if encoder.precision == "auto" else ""
    return text


def interval_protocol(cfg: DictConfig, unit: str, delong: bool = True, positives: bool = True) -> str:
    """How the interval beside every test metric is computed (`ssl_ads.tasks.intervals`) and when a run warns:
    `delong=False` when rows are not independent (groups are drawn whole, AUROC too), `positives=False` for
    ranking (means over users, no positives)."""
    text = (
        f"a percentile bootstrap over the test {unit} ({cfg.get('interval_resamples', 1000)} resamples, seed "
        f"{cfg.seed}, the same for every row)"
    )
    text = f"95 %: DeLong for binary AUROC, otherwise {text}" if delong else f"95 %: {text}"
    if positives:
        text += f"; binary tasks warn below {cfg.get('min_positives', 30)} positives in the test split or a budget"
    return text


def _pretrain_reads(cfg: DictConfig, unit: str) -> str:
    if cfg.get("pretrain_rows", "train") == "train_val":
        return f"the inputs of train and validation {unit} (no label; never test {unit})"
    if cfg.pretrain.get("keep", "last") == "best":
        return f"train {unit}, its epoch chosen by the validation {unit}' pretext loss (no label)"
    return f"train {unit} only"


def _model_selection(cfg: DictConfig, primary_metric: str, gbdt: bool = True) -> str:
    """How each row chose its epoch or L2 strength, and on which labels (`gbdt`: tabular runs add its row), then
    which pretraining epoch the encoder is."""
    return f"{_downstream_selection(cfg, primary_metric, gbdt)}; {pretraining_selection(cfg)}"


def pretraining_selection(cfg: DictConfig) -> str:
    """Which pretraining epoch the encoder is: the last, or the one with the lowest validation pretext loss (read
    from the validation users' inputs, never a label)."""
    if cfg.pretrain.get("keep", "last") == "best":
        return "pretraining: epoch with the lowest val pretext loss (validation inputs, no label)"
    return "pretraining: last epoch"


def _downstream_selection(cfg: DictConfig, primary_metric: str, gbdt: bool) -> str:
    rows = _validation_rows(cfg)
    finetune = f"best epoch on {rows} by val {primary_metric}"
    if cfg.finetune.get("head_init") == "probe":
        finetune += " (pretrained: head started at the probe, LP-FT)"
    if cfg.probe.get("solver") != "lbfgs":
        if not gbdt:  # the plain recipe of both loops
            return finetune
        return f"probe and fine-tuning: {finetune}; gbdt: sklearn defaults"
    folds = cfg.probe.get("cv_folds") or 0
    where = f"{folds}-fold cross-validation over the label budget, then refitted on it" if folds else f"on {rows}"
    text = f"probe: exact L2 head, strength from a grid by {where} ({primary_metric}); fine-tuning: {finetune}"
    return text + "; gbdt: sklearn defaults" if gbdt else text


def _label_budget(cfg: DictConfig) -> str:
    """Which labels a run at fraction f reads in all (what "1 %" means)."""
    if cfg.get("validation_labels") == "matched":
        return "fraction f of the train labels plus fraction f of the validation labels (no other label is read)"
    return "fraction f of the train labels for fitting; every validation label for model selection"


def _validation_rows(cfg: DictConfig) -> str:
    if cfg.get("validation_labels") == "matched":
        return "the label fraction's share of the validation split (stratified, seeded, nested)"
    return "the full validation split"
