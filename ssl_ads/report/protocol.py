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
        "inputs": (
            "events before the label window" if data_meta.get("cutoff_timestamp") is not None else "all events"
        )
        + f", last {data_meta['max_len']} per user",
        "label_fractions": list(cfg.label_fractions),
        "label_sampling": "stratified by class, seeded, nested across fractions",
        "model_selection": f"best epoch on the full validation split by val {primary_metric}",
        "seeds": [int(cfg.seed)],
    }


def _tabular_protocol(cfg: DictConfig, data_meta: dict, task_name: str, primary_metric: str) -> dict:
    """Tabular runs split rows (impressions), and the featurizer is fitted on the train rows only."""
    return {
        "dataset": data_meta["source"],
        "task": task_name,
        "metric": f"test {primary_metric}",
        "split": (
            f"by row, seeded ({1 - cfg.val_share - cfg.test_share:.0%} train / {cfg.val_share:.0%} val / "
            f"{cfg.test_share:.0%} test); featurizer fitted and pretraining run on train rows only"
        ),
        "inputs": data_meta["inputs"],
        "label_fractions": list(cfg.label_fractions),
        "label_sampling": "stratified by class, seeded, nested across fractions",
        "model_selection": f"best epoch on the full validation split by val {primary_metric}; gbdt: sklearn defaults",
        "seeds": [int(cfg.seed)],
    }
