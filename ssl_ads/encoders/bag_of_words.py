"""Bag-of-words / TF-IDF over the corpus tokenizer's pieces: the classical baseline every table shows.

`prepare_inputs` fits, on train rows only, which pieces (and, with `bigrams`, which pairs of adjacent
pieces) become features: the `max_features` with the highest document frequency, unigrams and pairs
competing for the same budget, as scikit-learn's `ngram_range=(1, 2)` does; and their smoothed IDF
(sklearn's formula). Pairs matter on review text ("runs small", "not flattering" carry what either word
alone does not). Everything fitted is a buffer, so a saved encoder maps new text identically. `embed`
counts features per text with one scatter-add per batch; pairs are looked up by binary search in the
sorted keys of the selected ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from torch import Tensor, nn

from ssl_ads.config.ranges import Range
from ssl_ads.data.featurized import Featurized
from ssl_ads.data.text_tokenizer import CLS_ID, PAD_ID
from ssl_ads.encoders.base import Encoder
from ssl_ads.errors import ConfigError

# pads the sorted pair keys past the selected ones: larger than any real key, so never matched
NO_PAIR = torch.iinfo(torch.long).max


class BagOfWords(Encoder):
    modality = "text"

    def __init__(
        self,
        vocab_size: int,
        max_len: int = 0,
        max_features: Annotated[int, Range(min=1)] = 2048,
        tfidf: bool = False,
        sublinear_tf: bool = True,
        bigrams: bool = False,
    ) -> None:
        super().__init__()
        if max_features < 1:
            raise ConfigError(f"encoder.max_features must be >= 1, got {max_features}")
        self.vocab_size = vocab_size
        self.dim = max_features if bigrams else min(max_features, vocab_size)
        self.tfidf = tfidf
        self.sublinear_tf = sublinear_tf
        self.bigrams = bigrams
        # column of each vocabulary id (-1: not a feature) and per-column idf; fitted by prepare_inputs
        self.register_buffer("column", torch.full((vocab_size,), -1, dtype=torch.long))
        self.register_buffer("idf", torch.ones(self.dim))
        self.register_buffer("fitted", torch.tensor(False))
        if bigrams:  # registered only when used: checkpoints of unigram encoders keep loading unchanged
            self.register_buffer("pair_key", torch.full((self.dim,), NO_PAIR, dtype=torch.long))
            self.register_buffer("pair_column", torch.full((self.dim,), -1, dtype=torch.long))

    def prepare_inputs(self, data: Featurized, cache_dir: Path, train_rows: np.ndarray | None = None) -> dict:
        """Fit the feature columns and IDF once (a loaded encoder keeps its own); adds no input arrays."""
        if not bool(self.fitted):
            tokens = np.asarray(data.inputs["tokens"])
            rows = tokens if train_rows is None else tokens[train_rows]
            self.fit(torch.from_numpy(rows.astype(np.int64)))
        return {}

    def fit(self, tokens: Tensor) -> None:
        tokens = tokens.long()
        keys, doc_freq = _document_frequency(tokens, tokens >= 0, self.vocab_size)
        doc_freq[(keys == PAD_ID) | (keys == CLS_ID)] = 0  # never features
        if self.bigrams:
            pair_keys, pair_freq = _document_frequency(*self._pairs(tokens), self.vocab_size**2)
            keys, doc_freq = torch.cat([keys, pair_keys + self.vocab_size]), torch.cat([doc_freq, pair_freq])
        chosen = torch.topk(doc_freq, min(self.dim, int((doc_freq > 0).sum()))).indices
        chosen_keys, rank = keys[chosen], torch.arange(len(chosen))
        is_unigram = chosen_keys < self.vocab_size
        self.column.fill_(-1)
        self.column[chosen_keys[is_unigram]] = rank[is_unigram]
        if self.bigrams:
            pair_key, order = torch.sort(chosen_keys[~is_unigram] - self.vocab_size)
            self.pair_key.fill_(NO_PAIR)
            self.pair_column.fill_(-1)
            self.pair_key[: len(pair_key)] = pair_key
            self.pair_column[: len(pair_key)] = rank[~is_unigram][order]
        self.idf.fill_(1.0)
        self.idf[rank] = torch.log((1 + len(tokens)) / (1 + doc_freq[chosen])) + 1
        self.fitted.fill_(True)

    def _pairs(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """Key `first * vocab_size + second` of each pair of adjacent pieces, and whether it is a real pair."""
        first, second = tokens[:, :-1], tokens[:, 1:]
        real = (first != PAD_ID) & (second != PAD_ID) & (first != CLS_ID) & (second != CLS_ID)
        return first * self.vocab_size + second, real

    def _columns(self, tokens: Tensor) -> Tensor:
        """Feature column of every piece (and pair) in the batch, -1 where it is not a feature."""
        columns = self.column[tokens]
        if not self.bigrams:
            return columns
        keys, real = self._pairs(tokens)
        at = torch.searchsorted(self.pair_key, keys).clamp_max(self.dim - 1)
        found = real & (self.pair_key[at] == keys)
        return torch.cat([columns, torch.where(found, self.pair_column[at], -1)], dim=1)

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        columns = self._columns(batch["tokens"].long())
        counts = torch.zeros(len(columns), self.dim + 1)  # the last column collects non-features
        ones = torch.ones_like(columns, dtype=torch.float32)
        counts.scatter_add_(1, torch.where(columns >= 0, columns, self.dim), ones)
        counts = counts[:, : self.dim]
        if self.sublinear_tf:
            counts = torch.log1p(counts)
        if self.tfidf:
            counts = counts * self.idf
        return nn.functional.normalize(counts, dim=-1)


def _document_frequency(keys: Tensor, keep: Tensor, n_keys: int) -> tuple[Tensor, Tensor]:
    """Distinct keys among the kept entries of (documents, positions) and how many documents hold each."""
    documents = torch.arange(len(keys)).unsqueeze(1).expand_as(keys)
    per_document = torch.unique(documents[keep] * n_keys + keys[keep])  # each key once per document
    return torch.unique(per_document % n_keys, return_counts=True)
