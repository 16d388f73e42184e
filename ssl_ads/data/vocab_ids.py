"""Reserved ids of the fitted vocabularies, shared by the featurizers that write them and the models that read them.

Sequence items: 0 pads a (left-padded) sequence, 1 stands for an item the vocabulary has not seen, real items
start at 2. Tabular categorical fields: 0 is a missing value, 1 an unseen value, real values start at 2.
Text token ids are the tokenizer's special tokens (`ssl_ads.data.text_tokenizer`).
"""

from __future__ import annotations

PAD_ID = 0  # sequence padding (item id 0)
MISSING_ID = 0  # a missing categorical value (tabular)
OOV_ID = 1  # out of vocabulary: an item or categorical value not seen when the vocabulary was fitted
FIRST_ID = 2  # the first real item / categorical value
