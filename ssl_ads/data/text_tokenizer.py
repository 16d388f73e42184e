"""A WordPiece tokenizer trained on the user's own corpus (the `tokenizers` library) for the in-house encoder.

Ids 0..3 are fixed ([PAD], [UNK], [CLS], [MASK]) so encoders and the masked-token objective can rely on
them; the fitted tokenizer is serialised to JSON and travels in the encoder bundle as featurizer state.
"""

from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

PAD_ID, UNK_ID, CLS_ID, MASK_ID = 0, 1, 2, 3
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[MASK]"]


def train_tokenizer(texts: list[str], vocab_size: int, min_frequency: int, lowercase: bool) -> Tokenizer:
    """Fit WordPiece on `texts` (train rows only, so held-out copy never shapes the vocabulary)."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    steps = [normalizers.NFD(), normalizers.StripAccents()]
    tokenizer.normalizer = normalizers.Sequence([*steps, normalizers.Lowercase()] if lowercase else steps)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return tokenizer


def encode_texts(tokenizer: Tokenizer, texts: list[str], max_len: int) -> np.ndarray:
    """`[N, max_len]` int32 ids: [CLS] then the pieces, truncated, right-padded with [PAD] (batch-encoded in Rust)."""
    tokenizer.enable_truncation(max_len - 1)
    tokenizer.enable_padding(pad_id=PAD_ID, pad_token="[PAD]", length=max_len - 1)
    encoded = tokenizer.encode_batch(texts)
    ids = np.asarray([e.ids for e in encoded], dtype=np.int32).reshape(len(texts), max_len - 1)
    return np.concatenate([np.full((len(texts), 1), CLS_ID, dtype=np.int32), ids], axis=1)


def tokenizer_from_json(text: str) -> Tokenizer:
    return Tokenizer.from_str(text)
