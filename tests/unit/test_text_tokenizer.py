"""The in-house WordPiece tokenizer: the same corpus gives the same vocabulary in every process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ssl_ads.data.text_tokenizer import CLS_ID, MASK_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID, encode_texts, train_tokenizer

REPO = Path(__file__).resolve().parents[2]

# Many words of equal frequency: merges tie constantly, which is where hash order used to decide.
TRAIN_AND_PRINT = """
import json, sys
from ssl_ads.data.text_tokenizer import train_tokenizer
words = ["".join("abcdefghij"[(i * 7 + k * 3) % 10] for k in range(3 + i % 4)) for i in range(400)]
texts = [" ".join(words[j : j + 6]) + ", Café!" for j in range(0, 400, 3)]
print(json.dumps(sorted(train_tokenizer(texts, 300, 1, True).get_vocab().items())))
"""


def vocabulary_in_a_new_process() -> list:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", TRAIN_AND_PRINT], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout)


def test_three_processes_learn_the_same_vocabulary():
    """Each process hashes differently; before the pieces were numbered up front, 4 runs gave 4 vocabularies."""
    first, second, third = (vocabulary_in_a_new_process() for _ in range(3))
    assert len(first) > 50
    assert first == second == third


def test_special_ids_are_fixed_and_continuing_pieces_are_plain_vocabulary():
    texts = ["Elegant dresses, now on sale", "Discover elegant shoes", "dresses and shoes for sale"] * 5
    tokenizer = train_tokenizer(texts, vocab_size=120, min_frequency=1, lowercase=True)
    vocab = tokenizer.get_vocab()
    assert [vocab[t] for t in SPECIAL_TOKENS] == [PAD_ID, UNK_ID, CLS_ID, MASK_ID]
    assert "##s" in vocab and "##," not in vocab  # punctuation is split off, never continues a word
    special = {t.content for t in tokenizer.get_added_tokens_decoder().values()}
    assert special == set(SPECIAL_TOKENS)  # the reserved `##` pieces are ordinary vocabulary afterwards
    ids = encode_texts(tokenizer, ["elegant dresses zzz"], max_len=8)[0].tolist()
    assert ids[:3] == [CLS_ID, vocab["elegant"], vocab["dresses"]]
    assert ids[3:] == [UNK_ID] + [PAD_ID] * 4  # 'z' never occurs in the corpus
