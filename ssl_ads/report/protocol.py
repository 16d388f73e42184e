"""The evaluation protocol, printed beside every number (split, label window, fractions, seeds)."""

from __future__ import annotations

from omegaconf import DictConfig


def protocol(cfg: DictConfig, data_meta: dict, task_name: str, primary_metric: str) -> dict:
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
