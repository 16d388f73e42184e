"""The evaluation protocol, printed beside every number (split, label window, fractions, seeds)."""

from __future__ import annotations

from omegaconf import DictConfig


def protocol(cfg: DictConfig, data_meta: dict, task_name: str, primary_metric: str) -> dict:
    if data_meta.get("modality") in ("tabular", "text"):  # both split rows and fit the featurizer on train rows
        return _tabular_protocol(cfg, data_meta, task_name, primary_metric)
    return {
        "dataset": data_meta["source"],
        "task": task_name,
        "metric": f"test {primary_metric}",
        "split": (
            f"by user, seeded ({1 - cfg.val_share - cfg.test_share:.0%} train / {cfg.val_share:.0%} val / "
            f"{cfg.test_share:.0%} test); pretraining reads train users only"
        ),
        "inputs": ("events before the label window" if data_meta.get("cutoff_timestamp") is not None else "all events")
        + f", last {data_meta['max_len']} per user",
        "label_fractions": list(cfg.label_fractions),
        "label_sampling": "stratified by class, seeded, nested across fractions",
        "model_selection": f"best epoch on the full validation split by val {primary_metric}",
        "seeds": [int(cfg.seed)],
    }


def _tabular_protocol(cfg: DictConfig, data_meta: dict, task_name: str, primary_metric: str) -> dict:
    """Tabular runs split rows (impressions), or groups of rows (`task.split_by`), and fit the featurizer on
    train rows only."""
    split_by = cfg.task.get("split_by")
    if split_by:
        unit = f"by {split_by} (every row of a {split_by} in one split)"
        fitted = "featurizer fitted on a row-level train split, pretraining run on the train groups only"
    else:
        unit, fitted = "by row", "featurizer fitted and pretraining run on train rows only"
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
        "model_selection": (
            f"{_selected(cfg)} on {_validation_rows(cfg)} by val {primary_metric}; gbdt: sklearn defaults"
        ),
        "seeds": [int(cfg.seed)],
    }
    if cfg.task.get("class_weight"):  # a weighted loss changes what the reported numbers trade off
        out["loss"] = f"{cfg.task.class_weight} class weights: n / (k * n_c) over each fit's labeled rows"
    return out


def _selected(cfg: DictConfig) -> str:
    finetune = "best epoch"
    if cfg.task.get("finetune_head_init") == "probe":
        finetune += " (pretrained: head started at the probe, LP-FT)"
    if cfg.task.get("probe_solver") == "lbfgs":
        return f"probe: L2 strength from a grid (exact head); fine-tuning: {finetune}"
    return finetune


def _validation_rows(cfg: DictConfig) -> str:
    if cfg.task.get("validation_labels") == "matched":
        return "the label fraction's share of the validation split (stratified, seeded, nested)"
    return "the full validation split"
