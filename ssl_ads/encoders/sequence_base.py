"""What every sequence encoder provides: per-position states and a pooled user representation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ssl_ads.data.featurized import Featurized
from ssl_ads.data.sequence_features import AGE_KEY
from ssl_ads.data.vocab_ids import PAD_ID
from ssl_ads.encoders.base import Encoder
from ssl_ads.encoders.item_representation import ItemContent, check_id_dropout, check_item_inputs
from ssl_ads.errors import ConfigError

# What `embed` / `features` return for a user (`encoder.user_vector`):
# states        the pooled per-position states (`encoder.pooling`): order and recency matter;
# items         the mean of the user's item vectors (item2vec-style): *which* items, a dense bag of items that a
#               probe reads with few labels (audience segments); pretraining is unchanged, it reads `forward`;
# items+states  the item mean beside the pooled states (`features` only; `embed` stays `dim` wide: the item mean).
USER_VECTORS = ("states", "items", "items+states")
# What the dataset's side fields (`dataset.side_fields`: action, category...) are to a sequence encoder
# (`encoder.side_fields_as`):
# inputs   embedded and added at every position: the encoder reads what users did;
# targets  never read; a pretext that predicts side fields (masked_item with side_weight > 0) still learns them,
#          so the user vector is shaped by what users do while it reads only what they viewed (serving needs
#          only item ids, and a from-scratch encoder gets no shortcut through past purchases).
SIDE_FIELDS_AS = ("inputs", "targets")
# `encoder.read_ages`: each event's age (days before the label window or the data's last event: `age_days`) is
# embedded by half-octave bucket and added at every position, so the encoder reads when, not only what
# (recency, gaps, a fading user); buckets: under 0.4 day, 0.4-1, 1-1.8, 1.8-3, 3-4.7 ... (the last from 127 years).
AGE_BUCKETS = 32


class SequenceEncoder(Encoder):
    """Maps a batch of left-padded item sequences to states `[B, L, D]` and a pooled `[B, D]`.

    Sequences are left-padded so the most recent event always sits at position -1.
    `num_items` counts pad and OOV ids; the encoder owns one extra id, `mask_id`, for masked pretexts.
    """

    modality = "sequence"

    def __init__(
        self,
        num_items: int,
        dim: int,
        pooling: str,
        repeat_bias: bool = False,
        item_inputs: list[str] | None = None,
        item_fields: dict[str, list[int]] | None = None,
        item_text_dim: int | None = None,
        item_id_dropout: float = 0.0,
        user_vector: str = "states",
        side_vocab_sizes: dict[str, int] | None = None,
        side_fields_as: str = "inputs",
        read_ages: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in ("mean", "last"):
            raise ConfigError(f"encoder.pooling must be 'mean' or 'last', got {pooling!r}")
        if user_vector not in USER_VECTORS:
            raise ConfigError(f"encoder.user_vector must be one of {USER_VECTORS}, got {user_vector!r}")
        if side_fields_as not in SIDE_FIELDS_AS:
            raise ConfigError(f"encoder.side_fields_as must be one of {SIDE_FIELDS_AS}, got {side_fields_as!r}")
        self.num_items = num_items
        self.dim = dim
        self.pooling = pooling
        self.side_vocab_sizes = {str(name): int(size) for name, size in (side_vocab_sizes or {}).items()}
        self.side_fields_as = side_fields_as
        self.read_ages = bool(read_ages)
        self.user_vector = user_vector
        self.feature_dim = dim * (2 if user_vector == "items+states" else 1)
        # What an item is (ssl_ads.encoders.item_representation): its id row, its side fields, its title, summed.
        self.item_inputs = check_item_inputs(item_inputs, item_fields, item_text_dim)
        # training only: share of item occurrences whose id part is left out, so the content part alone learns to
        # place an item (a new item has no trained id row); DropoutNet's idea (Volkovs et al., 2017)
        self.item_id_dropout = check_id_dropout(item_id_dropout, self.item_inputs)
        content = [name for name in self.item_inputs if name != "id"]
        self.item_content = (
            ItemContent(
                num_items,
                dim,
                item_fields if "fields" in content else None,
                item_text_dim if "text" in content else None,
            )
            if content
            else None
        )
        if "id" not in self.item_inputs:  # content-only items: no id table (nothing here is learned per item)
            self.item_embedding = None
        else:
            self.item_embedding = nn.Embedding(num_items + 1, dim, padding_idx=PAD_ID)
        # Learned score shift for items already in the history read (see ssl_ads.encoders.repeat_bias).
        self.repeat_weight = nn.Parameter(torch.zeros(())) if repeat_bias else None

    def build_side_embeddings(self) -> nn.ModuleDict:
        """One embedding per side field the encoder reads; none when they are targets only. A subclass calls it
        where its parameters are created, so the draw order of its initialisation stays the same."""
        read = self.side_vocab_sizes if self.side_fields_as == "inputs" else {}
        # created here, after the side fields, only when asked for: encoders without it draw the same weights
        self.age_embedding = nn.Embedding(AGE_BUCKETS + 1, self.dim, padding_idx=0) if self.read_ages else None
        return nn.ModuleDict({name: nn.Embedding(size, self.dim, padding_idx=0) for name, size in read.items()})

    def side_vectors(self, batch: dict[str, Tensor]) -> Tensor | float:
        """Sum of the side-field (and age) embeddings `[B, L, D]` the encoder reads (0 when it reads none)."""
        total = sum((embedding(batch[name]) for name, embedding in self.side_embeddings.items()), 0.0)
        if self.age_embedding is None:
            return total
        if AGE_KEY not in batch:
            raise ConfigError(
                "encoder.read_ages=true reads each event's age (age_days), and these inputs have none: give the "
                "events' timestamp column as unix seconds or dates (text timestamps only sort), or use an encoder "
                "trained with read_ages=false"
            )
        return total + self.age_embedding(age_buckets(batch[AGE_KEY], batch["mask"]))

    @property
    def mask_id(self) -> int:
        return self.num_items

    def forward(self, batch: dict[str, Tensor]) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """The user representation `[B, dim]` (`encoder.user_vector`) that `ssl-ads embed` writes."""
        return self.pooled_states(batch) if self.user_vector == "states" else self.item_mean(batch)

    def features(self, batch: dict[str, Tensor]) -> Tensor:
        """What a probe or a task head reads: the embedding, or the item mean beside the pooled states."""
        if self.user_vector != "items+states":
            return self.embed(batch)
        return torch.cat([self.item_mean(batch), self.pooled_states(batch)], dim=-1)

    def pooled_states(self, batch: dict[str, Tensor]) -> Tensor:
        """The states pooled over real positions (`encoder.pooling`: mean, or the most recent), `[B, D]`."""
        states = self(batch)
        if self.pooling == "last":
            return states[:, -1]
        mask = batch["mask"].unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def item_mean(self, batch: dict[str, Tensor]) -> Tensor:
        """Mean of the item vectors (id row and any side fields / title: `encoder.item_inputs`) of the real
        (unpadded) positions, `[B, D]`: no transformer pass, one lookup per event."""
        vectors = self.item_vectors(batch["items"])
        mask = batch["mask"].unsqueeze(-1).to(vectors.dtype)
        return (vectors * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def item_logits(self, states: Tensor, seen: Tensor | None = None) -> Tensor:
        """Scores of every catalogue item (pad/OOV/mask excluded later by the caller), tied embeddings.

        `seen [N, num_items]` marks items already in the history each state read (repeat bias, if enabled).
        """
        return self.repeat_adjusted(states @ self.item_table()[: self.num_items].T, seen)

    def item_vectors(self, ids: Tensor) -> Tensor:
        """`[..., D]` vectors of item ids (inputs and output scores alike): id row + fields + title, as chosen."""
        if self.item_content is None:
            return self.item_embedding(ids)
        content = self.item_content(ids)
        if self.item_embedding is None:
            return content
        id_part = self.item_embedding(ids)
        if self.training and self.item_id_dropout > 0:
            id_part = id_part * (torch.rand(ids.shape, device=ids.device) >= self.item_id_dropout)[..., None]
        return id_part + content

    def item_table(self) -> Tensor:
        """`[num_items + 1, D]`: every item id's vector (the id table itself when items are ids only)."""
        if self.item_content is None:
            return self.item_embedding.weight
        return self.item_vectors(torch.arange(self.num_items + 1, device=self.item_content_device()))

    def item_content_device(self) -> torch.device:
        return next(self.item_content.parameters()).device

    def prepare_inputs(self, data: Featurized, cache_dir: Path, train_rows: np.ndarray | None = None) -> dict:
        """Give the content part the featurized item table (codes, title vectors); it adds no batch inputs."""
        table = (getattr(data, "meta", None) or {}).get("item_table") or {}
        if self.item_content is not None and table.get("directory"):
            self.item_content.fill(table["directory"])
        return {}

    def repeat_adjusted(self, scores: Tensor, seen: Tensor | None) -> Tensor:
        """`scores` plus the learned repeat weight wherever `seen` is true (unchanged when disabled)."""
        if self.repeat_weight is None or seen is None:
            return scores
        return scores + self.repeat_weight.to(scores.dtype) * seen.to(scores.dtype)


def age_buckets(age_days: Tensor, mask: Tensor) -> Tensor:
    """Half-octave buckets `1 + floor(2 log2(1 + days))`, capped at AGE_BUCKETS; 0 at padding and unknown ages."""
    known = torch.isfinite(age_days)  # an event without a time reads as padding: no age at all
    days = torch.where(known, age_days.float(), torch.zeros_like(age_days, dtype=torch.float32)).clamp_min(0.0)
    bucket = torch.floor(2.0 * torch.log2(1.0 + days)).long() + 1
    return torch.where(mask & known, bucket.clamp(1, AGE_BUCKETS), torch.zeros_like(bucket))


def attention_mask(mask: Tensor, causal: bool) -> Tensor:
    """Boolean `[B, 1, L, L]` mask for SDPA: real keys only (and the past, if causal), self always allowed.

    Allowing each position to see itself keeps fully padded rows from producing NaNs.
    """
    length = mask.shape[1]
    allowed = mask[:, None, None, :].expand(-1, 1, length, -1)
    # comparisons of positions rather than eye()/tril() on booleans: the same masks, and exportable (ONNX Runtime
    # has no boolean EyeLike)
    position = torch.arange(length, device=mask.device)
    eye = position[:, None] == position[None, :]
    if causal:
        allowed = allowed & (position[:, None] >= position[None, :])
    return allowed | eye
