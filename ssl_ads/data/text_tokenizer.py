"""A WordPiece tokenizer trained on the user's own corpus (the `tokenizers` library) for the in-house encoder.

Ids 0..3 are fixed ([PAD], [UNK], [CLS], [MASK]) so encoders and the masked-token objective can rely on
them; the fitted tokenizer is serialised to JSON and travels in the encoder bundle as featurizer state.
Training is made deterministic here: `tokenizers`' WordPiece trainer numbers the continuing-subword pieces
(`##a`) in hash-map order, different in every process, and breaks ties between equally frequent merges by
those numbers, so the same corpus gave a different vocabulary per run (huggingface/tokenizers#1794).
"""

from __future__ import annotations

import string
import unicodedata

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

PAD_ID, UNK_ID, CLS_ID, MASK_ID = 0, 1, 2, 3
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[MASK]"]


def train_tokenizer(texts: list[str], vocab_size: int, min_frequency: int, lowercase: bool) -> Tokenizer:
    """Fit WordPiece on `texts` (train rows only, so held-out copy never shapes the vocabulary); the same texts
    give the same vocabulary in every process.

    Every continuing piece (`##` + each character of the normalised corpus) is numbered up front, in sorted
    order, by handing it to the trainer as a reserved token, so no id depends on hash order; the tokenizer is
    then rebuilt from the learned vocabulary with only the four real special tokens.
    """
    normalizer = _normalizer(lowercase)
    pieces = ["##" + c for c in _word_characters(texts, normalizer)]
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS + pieces,
        show_progress=False,
    )  # fmt: skip
    trained = _tokenizer(models.WordPiece(unk_token="[UNK]"), normalizer)
    trained.train_from_iterator(texts, trainer=trainer, length=len(texts))
    tokenizer = _tokenizer(models.WordPiece(vocab=trained.get_vocab(), unk_token="[UNK]"), normalizer)
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    return tokenizer


def _normalizer(lowercase: bool) -> normalizers.Normalizer:
    steps = [normalizers.NFD(), normalizers.StripAccents()]
    return normalizers.Sequence([*steps, normalizers.Lowercase()] if lowercase else steps)


def _tokenizer(model: models.Model, normalizer: normalizers.Normalizer) -> Tokenizer:
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


def _word_characters(texts: list[str], normalizer: normalizers.Normalizer) -> list[str]:
    """The sorted characters that can continue a word after normalisation (whitespace and punctuation are
    split off by the pre-tokenizer); read from the corpus' distinct raw characters, not per text."""
    distinct = set("".join(texts))
    normalised = {c for raw in distinct for c in normalizer.normalize_str(raw)}
    return sorted(
        c for c in normalised
        if not c.isspace() and c not in string.punctuation and not unicodedata.category(c).startswith("P")
    )  # fmt: skip


def encode_texts(tokenizer: Tokenizer, texts: list[str], max_len: int) -> np.ndarray:
    """`[N, max_len]` int32 ids: [CLS] then the pieces, truncated, right-padded with [PAD] (batch-encoded in Rust)."""
    tokenizer.enable_truncation(max_len - 1)
    tokenizer.enable_padding(pad_id=PAD_ID, pad_token="[PAD]", length=max_len - 1)
    encoded = tokenizer.encode_batch(texts)
    ids = np.asarray([e.ids for e in encoded], dtype=np.int32).reshape(len(texts), max_len - 1)
    return np.concatenate([np.full((len(texts), 1), CLS_ID, dtype=np.int32), ids], axis=1)


def tokenizer_from_json(text: str) -> Tokenizer:
    return Tokenizer.from_str(text)
