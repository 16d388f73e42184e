"""The encoder classes a checkpoint may name: a fixed allowlist, never an import of a string read from a file.

A checkpoint's `encoder_config._target_` is data from disk; building whatever it names would let a crafted
file run `os.system`. Only the targets below (the ones `configs/encoder/*.yaml` use) are built, and their
modules are imported lazily so loading a sequence encoder does not import the sentence-model code.
"""

from __future__ import annotations

from importlib import import_module

from torch import nn

# `_target_` as written in configs/encoder/*.yaml -> (module, class name) inside ssl_ads.encoders
ENCODER_TARGETS: dict[str, tuple[str, str]] = {
    "ssl_ads.encoders.sequence_transformer.SequenceTransformer": (
        "ssl_ads.encoders.sequence_transformer",
        "SequenceTransformer",
    ),
    "ssl_ads.encoders.gru.SequenceGRU": ("ssl_ads.encoders.gru", "SequenceGRU"),
    "ssl_ads.encoders.field_mlp.FieldMLP": ("ssl_ads.encoders.field_mlp", "FieldMLP"),
    "ssl_ads.encoders.field_transformer.FieldTransformer": ("ssl_ads.encoders.field_transformer", "FieldTransformer"),
    "ssl_ads.encoders.text_transformer.TextTransformer": ("ssl_ads.encoders.text_transformer", "TextTransformer"),
    "ssl_ads.encoders.bag_of_words.BagOfWords": ("ssl_ads.encoders.bag_of_words", "BagOfWords"),
    "ssl_ads.encoders.sentence_pretrained.SentencePretrained": (
        "ssl_ads.encoders.sentence_pretrained",
        "SentencePretrained",
    ),
    "ssl_ads.encoders.sentence_tfidf.SentenceTfidf": ("ssl_ads.encoders.sentence_tfidf", "SentenceTfidf"),
}


def is_allowed(target: object) -> bool:
    """Whether `target` is one of this package's encoder classes (exact string match, nothing imported)."""
    return isinstance(target, str) and target in ENCODER_TARGETS


def encoder_class(target: str) -> type[nn.Module]:
    """The class of an allowlisted target; a KeyError for anything else (callers check `is_allowed` first)."""
    module, name = ENCODER_TARGETS[target]
    return getattr(import_module(module), name)
