"""A fine-tuned next-item model (`task=next_item`): `load_model("model.pt").predict(events)` → each user's top-k items.

The bundle is a `model.pt` like the labeled tasks' (`model_bundle`), with an empty head (the encoder's tied item
embeddings score the catalogue) and a `top_k` decision rule holding what evaluation read: the `window` events
before the target, and whether items already seen are excluded. On the evaluation's test users (their events
before the test target) the ranks it gives are the ranks the test HR@K / NDCG@K were computed from: same
featurizer state, same history, same scores (`last_state_scores`, eval mode, the test loop's batch size) and the
same tie rule (a tie goes to the lower item id). One case cannot match: with `task.exclude_seen`, evaluation keeps
the target rankable even when the user has seen it before, which a prediction (not knowing the target) cannot;
there a repeated target is excluded like every seen item.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import nn

from ssl_ads.data.batches import ArrayBatches
from ssl_ads.encoders.bundle import build_encoder
from ssl_ads.errors import ConfigError, DataError
from ssl_ads.pretext.scoring import last_state_scores
from ssl_ads.tasks.ranking_metrics import mask_scores
from ssl_ads.use.bundled_model import BundledModel
from ssl_ads.use.encoder import TrainedEncoder
from ssl_ads.use.featurize import AsOf, Counts, Frame, sequence_chunks
from ssl_ads.use.model_bundle import load_weights

TOP_K = "top_k"
FEATURIZE_USERS = 16_384  # users featurized per polars query (then scored `batch_size` at a time)


def ranking_decision(task: Any) -> dict[str, Any]:
    """The decision rule of a next-item model: the top K items after the last `window` events (plain values)."""
    return {
        "kind": TOP_K,
        "k": int(max(task.ks)),
        "window": int(task.window),
        "exclude_seen": bool(task.exclude_seen),
        "batch_size": int(task.eval_batch_size),
        "rule": f"the {max(task.ks)} highest-scored catalogue items after the user's last {task.window} events"
        + (", items already seen excluded" if task.exclude_seen else ""),
    }


def is_ranking(bundle: dict[str, Any]) -> bool:
    return isinstance(bundle.get("decision"), dict) and bundle["decision"].get("kind") == TOP_K


class RankingModel(BundledModel):
    """A next-item model with its fitted featurizer (see the module). `predict(events)` → `user_id`, `next_items`
    (original item ids, best first) and `scores` (the model's logits, same order); `counts` as `TrainedEncoder`'s.

    `seen`, when the rule excludes seen items, is every event the featurizer kept before a target: the user's last
    `dataset.max_len - 1` events (evaluation's featurized history holds `max_len`, the test target included).
    """

    def __init__(self, encoder: nn.Module, bundle: dict[str, Any], path: Path, cache_dir: Path) -> None:
        self.encoder = encoder.eval()
        self.bundle = bundle
        self.path = path
        self.cache_dir = cache_dir
        self.features = TrainedEncoder(encoder, bundle, path, cache_dir)
        self.counts = Counts()
        self.top_k = int(bundle["decision"]["k"])  # items listed per user (`predict top_k=` sets it)
        vocab = pl.DataFrame(self.features.state["item_vocab"])
        columns = pl.DataFrame({"idx": pl.int_range(int(self.encoder.num_items), eager=True)})
        # the original id of each catalogue column (pad / OOV stay null: they are never recommended)
        columns = columns.cast({"idx": vocab.schema["idx"]}).join(vocab, on="idx", how="left", maintain_order="left")
        self.item_ids = columns.get_column("item_id")

    @property
    def modality(self) -> str:
        return "sequence"

    @property
    def history_len(self) -> int:
        """Events read per user: the window, or every kept event when seen items are excluded."""
        window = int(self.decision["window"])
        if not self.decision.get("exclude_seen"):
            return window
        return max(window, int(self.bundle["dataset_config"]["max_len"]) - 1)

    def predict(self, frame: Frame, k: int | None = None, as_of: AsOf = None) -> pl.DataFrame:
        """Every user of `frame` with their top `k` items (default `top_k`) and scores; `as_of`: the time event ages
        count from (as `TrainedEncoder.embed`'s)."""
        frame, set_aside = self.features.as_trained(frame)
        parts = list(self.predict_batches(frame, k=k, as_of=as_of))
        self.counts.merge_set_aside(set_aside)
        if not parts:
            raise DataError("frame: no events to score")
        return pl.concat(parts)

    def predict_batches(
        self, frame: Frame, batch_size: int | None = None, where: str = "frame", k: int | None = None,
        as_of: AsOf = None,
    ) -> Iterator[pl.DataFrame]:  # fmt: skip
        """Users a block at a time (bounded memory); `batch_size` defaults to the test loop's."""
        size = int(batch_size or self.decision.get("batch_size") or 256)
        k = int(k or self.top_k)
        if size < 1 or k < 1:
            raise ConfigError(f"batch_size and top_k must be >= 1, got {size} and {k}")
        columns = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
        self.check_columns(columns, where)
        self.counts = Counts()
        block = max(size, FEATURIZE_USERS // size * size)
        state, side = self.features.state, self.features.side_fields
        chunks = sequence_chunks(frame, state, side, self.history_len, block, self.counts, where, as_of=as_of)
        return (self._top_k(chunk.ids, chunk.inputs, size, k) for chunk in chunks.batches)

    def _top_k(self, ids: pl.DataFrame, inputs: dict[str, np.ndarray], size: int, k: int) -> pl.DataFrame:
        window = int(self.decision["window"])
        history = {name: np.ascontiguousarray(array[:, -window:]) for name, array in inputs.items()}
        seen = torch.from_numpy(inputs["items"].astype(np.int64)) if self.decision.get("exclude_seen") else None
        n = ids.height
        batches = ArrayBatches(history, np.arange(n))
        k = min(k, int(self.encoder.num_items) - 2)  # pad and OOV are never recommended
        best, scores = [], []
        with torch.inference_mode():
            for start in range(0, n, size):
                rows = np.arange(start, min(start + size, n))
                logits = last_state_scores(self.encoder, batches[rows]).float()
                logits = mask_scores(logits, seen[rows] if seen is not None else None)
                # stable descending sort: a tie goes to the lower item id, as `target_ranks` counts it
                values, order = torch.sort(logits, dim=1, descending=True, stable=True)
                best.append(order[:, :k])
                scores.append(values[:, :k])
        top = torch.cat(best).numpy().reshape(-1)
        names = self.item_ids.gather(top)
        return ids.with_columns(
            names.reshape((n, k)).cast(pl.List(names.dtype)).alias("next_items"),
            pl.Series("scores", torch.cat(scores).numpy()).cast(pl.List(pl.Float32)),
        )


def load_ranking_model(path: Path, bundle: dict[str, Any], cache_dir: Path) -> RankingModel:
    """The model of a ranking bundle (already read and checked by `model_bundle.read_model`)."""
    encoder = build_encoder(path, bundle["encoder_config"])
    load_weights(encoder, bundle["state_dict"], path, "model")
    return RankingModel(encoder, bundle, path, cache_dir)
