"""GRU over item sequences, following GRU4Rec (Hidasi et al., 2016) as RecBole implements it.

Sequences arrive left-padded; they are packed so the recurrence starts at each user's first real event
(padding never feeds the hidden state), then the states are put back left-padded.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ssl_ads.config.ranges import Range
from ssl_ads.encoders.sequence_base import SequenceEncoder


class SequenceGRU(SequenceEncoder):
    """Item (+ optional side-field) embeddings → dropout → stacked GRU → linear back to `dim`."""

    def __init__(
        self,
        num_items: int,
        max_len: int,
        side_vocab_sizes: dict[str, int] | None = None,
        dim: Annotated[int, Range(min=1)] = 64,
        hidden_dim: Annotated[int, Range(min=1)] = 128,
        layers: Annotated[int, Range(min=1)] = 1,
        dropout: Annotated[float, Range(0, 1, max_inclusive=False)] = 0.2,
        pooling: str = "last",
        repeat_bias: bool = False,
        item_inputs: list[str] | None = None,
        item_fields: dict[str, list[int]] | None = None,
        item_text_dim: int | None = None,
        item_id_dropout: Annotated[float, Range(0, 1, max_inclusive=False)] = 0.0,
        user_vector: str = "states",
        side_fields_as: str = "inputs",
        read_ages: bool = False,
    ) -> None:
        super().__init__(
            num_items=num_items, dim=dim, pooling=pooling, repeat_bias=repeat_bias, item_inputs=item_inputs,
            item_fields=item_fields, item_text_dim=item_text_dim, item_id_dropout=item_id_dropout,
            user_vector=user_vector, side_vocab_sizes=side_vocab_sizes, side_fields_as=side_fields_as,
            read_ages=read_ages,
        )  # fmt: skip
        self.max_len = max_len
        # A GRU reads left to right: it is causal whatever a pretext asks for.
        self.causal = True
        self.side_embeddings = self.build_side_embeddings()
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(dim, hidden_dim, num_layers=layers, batch_first=True, bias=False)
        self.output = nn.Linear(hidden_dim, dim)
        if self.item_embedding is not None:
            nn.init.xavier_normal_(self.item_embedding.weight)
            with torch.no_grad():
                self.item_embedding.weight[0].zero_()

    def forward(self, batch: dict[str, Tensor], causal: bool | None = None) -> Tensor:
        items, mask = batch["items"], batch["mask"]
        hidden = self.item_vectors(items)
        hidden = hidden + self.side_vectors(batch)
        hidden = self.dropout(hidden)
        length = items.shape[1]
        lengths = mask.sum(1)
        # Left-padded → left-aligned by rolling each row (one gather), packed, run, and rolled back.
        shift = length - lengths
        columns = (torch.arange(length, device=items.device)[None, :] + shift[:, None]) % length
        aligned = hidden.gather(1, columns[..., None].expand_as(hidden))
        packed = pack_padded_sequence(aligned, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=length)
        back = (torch.arange(length, device=items.device)[None, :] - shift[:, None]) % length
        states = states.gather(1, back[..., None].expand_as(states))
        return self.output(states) * mask[..., None].to(states.dtype)
