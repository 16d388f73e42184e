"""Bag-of-words / TF-IDF over the corpus tokenizer's pieces: the classical baseline every table shows.

`prepare_inputs` fits, on train rows only, which pieces become features (the `max_features` with the
highest document frequency) and their smoothed IDF (sklearn's formula); both are buffers, so a saved
encoder maps new text identically. `embed` counts pieces per text with one scatter-add per batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ssl_ads.data.featurized import Featurized
from ssl_ads.data.text_tokenizer import CLS_ID, PAD_ID
from ssl_ads.errors import ConfigError


class BagOfWords(nn.Module):
    modality = "text"

    def __init__(
        self,
        vocab_size: int,
        max_len: int = 0,
        max_features: int = 2048,
        tfidf: bool = False,
        sublinear_tf: bool = True,
    ) -> None:
        super().__init__()
        if max_features < 1:
            raise ConfigError(f"encoder.max_features must be >= 1, got {max_features}")
        self.vocab_size = vocab_size
        self.dim = min(max_features, vocab_size)
        self.tfidf = tfidf
        self.sublinear_tf = sublinear_tf
        # column of each vocabulary id (-1: not a feature) and per-column idf; fitted by prepare_inputs
        self.register_buffer("column", torch.full((vocab_size,), -1, dtype=torch.long))
        self.register_buffer("idf", torch.ones(self.dim))
        self.register_buffer("fitted", torch.tensor(False))

    def prepare_inputs(self, data: Featurized, cache_dir: Path, train_rows: np.ndarray | None = None) -> dict:
        """Fit the feature columns and IDF once (a loaded encoder keeps its own); adds no input arrays."""
        if not bool(self.fitted):
            tokens = np.asarray(data.inputs["tokens"])
            rows = tokens if train_rows is None else tokens[train_rows]
            self.fit(torch.from_numpy(rows.astype(np.int64)))
        return {}

    def fit(self, tokens: Tensor) -> None:
        present = self._counts(tokens, self.vocab_size, torch.arange(self.vocab_size)) > 0
        doc_freq = present.sum(0).float()
        doc_freq[[PAD_ID, CLS_ID]] = -1.0  # never features
        top = torch.topk(doc_freq, self.dim).indices
        self.column.fill_(-1)
        self.column[top] = torch.arange(self.dim)
        self.idf.copy_(torch.log((1 + len(tokens)) / (1 + doc_freq[top].clamp_min(0))) + 1)
        self.fitted.fill_(True)

    @staticmethod
    def _counts(tokens: Tensor, width: int, column: Tensor) -> Tensor:
        cols = column[tokens.long()]
        counts = torch.zeros(len(tokens), width + 1)
        counts.scatter_add_(1, torch.where(cols >= 0, cols, width), torch.ones_like(cols, dtype=torch.float32))
        return counts[:, :width]

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        counts = self._counts(batch["tokens"], self.dim, self.column)
        if self.sublinear_tf:
            counts = torch.log1p(counts)
        if self.tfidf:
            counts = counts * self.idf
        return nn.functional.normalize(counts, dim=-1)
