"""st:NAME_OR_PATH: any sentence-transformers model, by hub name or local folder.

Weights are found by embedspace.spaces.hub (local folder, then the Hugging Face cache, then a download
unless HF_HUB_OFFLINE is set). The space id carries a checksum of the model folder's weights,
configs and tokenizer files, so a changed model never reuses an index built with the old one.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...artifacts import tree_checksum
from ...errors import SpaceUnavailableError, require
from ..hub import resolve_st_model, short_reason
from ..space import Space, Tokens, validate_texts

# The files whose bytes decide the vectors: weights, configs (pooling, normalisation, dense
# layers, max length) and tokenizer files. README and model-card files do not count.
MODEL_FILE_PATTERNS = (
    "*.safetensors", "*.bin", "*.json", "vocab.txt", "merges.txt", "*.model", "tokenizer*",
)


@lru_cache(maxsize=4)
def load_model(folder: str):
    """One SentenceTransformer per model folder and process."""
    sentence_transformers = require("sentence_transformers", "sentence-transformers", "The st: spaces")
    try:
        return sentence_transformers.SentenceTransformer(folder, device="cpu")
    except Exception as exc:  # a half-downloaded snapshot, a folder that is not a model, ...

        raise SpaceUnavailableError(
            f"could not load a sentence-transformers model from {folder} ({short_reason(exc)}). "
            "Check that the folder holds a complete saved model."
        ) from None


class SentenceTransformerSpace(Space):
    """A sentence-transformers model (hub name or local folder); its languages are the model's."""

    languages = ("*",)
    OPTIONS = {}
    images_note = (
        "A sentence-transformers text model reads only text. For texts and images in one space use "
        "open_clip:ARCH/TAG, with [text=st:MODEL] for a multilingual text model aligned to it."
    )

    def __init__(self, spec, load_space=None):  # load_space: unused, the factory table passes it to hub kinds

        self.configure(spec)
        self.folder = resolve_st_model(spec.name, self.canonical)
        self.text_artifacts = {"st-model-files": tree_checksum(self.folder, MODEL_FILE_PATTERNS)}
        try:
            self.model = load_model(str(self.folder))
        except SpaceUnavailableError as exc:
            raise SpaceUnavailableError(f"Space {self.canonical}: {exc}") from None
        self.dim = self.embedding_dim()

    def embedding_dim(self) -> int:
        # get_embedding_dimension is the newer name (sentence-transformers 6); older ones have only the long name.
        dim = getattr(self.model, "get_embedding_dimension", self.model.get_sentence_embedding_dimension)()
        if dim:
            return int(dim)
        # Some models cannot tell (e.g. a custom last module): measure one vector instead.
        return int(self.model.encode(["dimension probe"], convert_to_numpy=True).shape[-1])

    def _embed_text_batch(self, texts, role):
        vectors = self.model.encode(
            texts, batch_size=len(texts), normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def tokenize(self, text):
        validate_texts([text])
        tokenizer = getattr(self.model, "tokenizer", None)
        if not hasattr(tokenizer, "tokenize"):
            return Tokens(None, None, f"This model's tokenizer ({type(tokenizer).__name__}) does not show its pieces.")
        pieces = tokenizer.tokenize(text)
        special = tokenizer.num_special_tokens_to_add(pair=False)
        limit = self.model.max_seq_length or tokenizer.model_max_length
        total = len(pieces) + special
        note = (
            f"Pieces from the model's tokenizer ({type(tokenizer).__name__}); "
            f"the count includes its {special} special tokens"
        )
        if total > limit:
            note += f". Cut at max_seq_length {limit}: the last {total - limit} pieces are not read."
        else:
            note += "."
        return Tokens(pieces, min(total, limit), note)

    def info(self):
        info = super().info()
        info.notes.append(
            f"Model folder: {self.folder}. Languages depend on the model: see its model card "
            "(English-only models still embed other languages, but poorly)."
        )
        return info
