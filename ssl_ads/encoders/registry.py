"""The encoder classes a checkpoint may name: a fixed allowlist, never an import of a string read from a file.

A checkpoint's `encoder_config._target_` is data from disk; building whatever it names would let a crafted
file run `os.system`. Only the targets below (the ones `configs/encoder/*.yaml` use) are built, and their
modules are imported lazily so loading a sequence encoder does not import the sentence-model code.
"""

from __future__ import annotations

from importlib import import_module

from torch import nn

from ssl_ads.results import FROZEN_PRETRAINED, SCRATCH

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

# Encoders whose fresh instance already holds weights trained elsewhere (a sentence model loaded from its
# package): without a checkpoint of ours, their rows are a frozen pretrained model, not a from-scratch one.
PRETRAINED_ELSEWHERE = frozenset(
    {"ssl_ads.encoders.sentence_pretrained.SentencePretrained", "ssl_ads.encoders.sentence_tfidf.SentenceTfidf"}
)


def fresh_encoder_label(encoder: nn.Module) -> str:
    """The result-row label of an encoder built from its config rather than loaded from a checkpoint of ours:
    `frozen-pretrained` for a model that arrives pretrained (MiniLM), `scratch` for a randomly initialised one."""
    target = f"{type(encoder).__module__}.{type(encoder).__qualname__}"
    return FROZEN_PRETRAINED if target in PRETRAINED_ELSEWHERE else SCRATCH


def is_allowed(target: object) -> bool:
    """Whether `target` is one of this package's encoder classes (exact string match, nothing imported)."""
    return isinstance(target, str) and target in ENCODER_TARGETS


def encoder_class(target: str) -> type[nn.Module]:
    """The class of an allowlisted target; a KeyError for anything else (callers check `is_allowed` first)."""
    module, name = ENCODER_TARGETS[target]
    return getattr(import_module(module), name)
