"""What the demo's labels can be predicted from, at 1 % and 10 % labels: the ceiling any encoder works under.

Issue 18 item 3 asks for a demo where the pretrained encoder beats every from-scratch row at 1 % and 10 % labels.
This script measures what the simulator makes possible: logistic regressions (strength by 3-fold CV inside the
budget) on features that are observable in the encoder's input, or latent (drawn by the simulator, seen by no
model), for the demo's data (`experiment=demo`: 5,000 users, 0.6 sessions per user and day, the last 50 events
before the label window).

- `history length`: log(1 + events before the label window): what any encoder, scratch or pretrained, reads.
- `+ action shares`: the shares of click / cart / purchase among the last 50 events (observable when the encoder
  reads actions: `dataset.side_fields=[action]`; the demo leaves them out).
- `+ item repeats`: the shares of the last 50 events whose item repeats the previous event's item, and the
  previous two (observable from item ids alone: a click, cart and purchase of one item are one id two or three
  times in a row): what an items-only encoder could compute, and how much of it the encoders carry.
- `+ recency`: days from the last event to the label window (timestamps: no sequence encoder here reads them).
- `+ interests (latent)`: the user's true topic mixture (12 numbers): the best an encoder that recovers *which*
  topics a user engages with could give (what pretraining on items learns).
- `+ propensity (latent)`: the user's true purchase propensity (one number).

    python scripts/bench_demo_ceiling.py --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import polars as pl
from omegaconf import OmegaConf
from rich.console import Console
from rich.table import Table
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from ssl_ads.config.choices import CONFIG_DIR
from ssl_ads.data.sources.synthetic_marketplace import DAY, SimulatorSettings, latent_users, simulate

TASKS = ("conversion", "churn")
FRACTIONS = (0.01, 0.1)


def features(settings: SimulatorSettings, max_len: int) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """Users with at least one event before the label window, their labels, and each feature set."""
    tables = simulate(settings)
    latent = latent_users(settings)
    before = tables.events.filter(pl.col("timestamp") < tables.cutoff_timestamp)
    last = before.sort("user_id", "timestamp").group_by("user_id", maintain_order=True).tail(max_len)
    shares = last.group_by("user_id").agg(
        *[(pl.col("action") == action).mean().alias(action) for action in ("click", "cart", "purchase")]
    )
    same = pl.col("item_id") == pl.col("item_id").shift(1).over("user_id")
    twice = same & (pl.col("item_id").shift(1).over("user_id") == pl.col("item_id").shift(2).over("user_id"))
    repeats = last.group_by("user_id").agg(same.fill_null(False).mean().alias("repeat"),
                                           twice.fill_null(False).mean().alias("repeat_twice"))  # fmt: skip
    recency = before.group_by("user_id").agg(((tables.cutoff_timestamp - pl.col("timestamp").max()) / DAY).alias("gap"))
    users = (
        tables.users.filter(pl.col("n_events_before_cutoff") > 0)
        .join(shares, on="user_id")
        .join(repeats, on="user_id")
        .join(recency, on="user_id")
        .sort("user_id")
    )
    ids = users["user_id"].to_numpy()
    length = np.log1p(users["n_events_before_cutoff"].to_numpy())[:, None]
    sets = {
        "history length": length,
        "+ action shares": np.c_[length, users.select("click", "cart", "purchase").to_numpy()],
        "+ item repeats": np.c_[length, users.select("repeat", "repeat_twice").to_numpy()],
        "+ recency": np.c_[length, np.log1p(users["gap"].to_numpy())],
        "+ interests (latent)": np.c_[length, latent["theta"][ids]],
        "+ propensity (latent)": np.c_[length, np.log(latent["propensity"][ids])],
    }
    return users, sets


def auroc(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    scaler = StandardScaler().fit(x[train])
    model = LogisticRegressionCV(Cs=10, cv=3, max_iter=5000).fit(scaler.transform(x[train]), y[train])
    return float(roc_auc_score(y[test], model.predict_proba(scaler.transform(x[test]))[:, 1]))


def budget(y: np.ndarray, pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n users of `pool`, stratified by label (at least two of each class)."""
    chosen = []
    for label in (0, 1):
        members = pool[y[pool] == label]
        share = max(2, round(n * len(members) / len(pool)))
        chosen.append(rng.choice(members, min(share, len(members)), replace=False))
    return np.concatenate(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")
    demo = OmegaConf.load(CONFIG_DIR / "experiment" / "demo.yaml").dataset
    settings = SimulatorSettings(n_users=demo.n_users, sessions_per_user_day=demo.sessions_per_user_day)
    users, sets = features(settings, demo.max_len)
    console = Console(width=140)
    n_users = users.height
    n_train = round(0.8 * n_users)
    console.print(
        f"[bold]Protocol[/]: simulator seed 0 as in experiment=demo, {n_users:,} users with events before the label "
        f"window; per seed a random split 80 % train ({n_train:,}) / 20 % test; budgets of {FRACTIONS} of the train "
        f"users (stratified); standardized features, LogisticRegressionCV (10 strengths, 3 folds) inside the budget; "
        f"test AUROC mean ± std over seeds {args.seeds}"
    )
    for task in TASKS:
        y = users[task].to_numpy()
        table = Table(title=f"{task} (positive share {y.mean():.3f})", title_justify="left")
        table.add_column("features", style="bold")
        for fraction in FRACTIONS:
            table.add_column(f"{fraction:.0%} ({round(fraction * n_train)} labels)", justify="right")
        for name, x in sets.items():
            cells = []
            for fraction in FRACTIONS:
                scores = []
                for seed in args.seeds:
                    rng = np.random.default_rng(seed)
                    order = rng.permutation(n_users)
                    train, test = order[:n_train], order[n_train:]
                    scores.append(auroc(x, y, budget(y, train, round(fraction * n_train), rng), test))
                cells.append(f"{np.mean(scores):.3f} ± {np.std(scores):.3f}")
            table.add_row(name, *cells)
        console.print(table)


if __name__ == "__main__":
    main()
