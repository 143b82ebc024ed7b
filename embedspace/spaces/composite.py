"""Composite spaces: several spaces concatenated into one, `concat:glove-6b-50d+use-m3*0.7+e5-small`.

A composite's vector for an item is built from its parts' vectors:

    u_i = normalise(v_i - m_i)          v_i: part i's unit vector; m_i: its mean (centre=...), else 0
    x   = normalise(concat(w_i * u_i))  w_i: the part's weight (`*0.7`), 1 unless given

so the cosine of two items is the weighted mean of the parts' cosines, sum w_i^2 cos_i / sum w_i^2.

Centring is a part option, `use-m3[center=glove:30000]`: m_i is the mean of the part's vectors of
a reference vocabulary, computed once, stored as a .npy in the cache (`composite/`) and named, by
its sha256, in the composite's id. References:

    center=none           (default) no centring
    center=glove:N        the N most frequent words of GloVe 6B (its own frequency order: the
                          analogy suite's vocabulary, which needs no answers, only the words)
    center=wordfreq:L:N   the N most frequent words of language L from wordfreq

and `pcs=D` (with a centre) also removes the D principal directions of the centred reference
vectors ("all-but-the-top", Mu & Viswanath 2018); the canonical spec writes pcs only when set.

Backoff: a part that cannot embed an item (GloVe and a phrase or an unknown word, GloVe and any
image, a part with images=none) gives it a zero block; the other parts' blocks are renormalised,
so the vector stays unit length. An item no part can embed is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from ..artifacts import file_checksum, load_array, save_array
from ..errors import InputError, SpecError, UnsupportedError, require
from ..images import load_images
from ..languages import normalize_lang
from ..paths import cache_dir
from ..spec import CompositeSpec, Part, SingleSpec, format_spec
from ..vectors import l2_normalize
from .backends.glove import frequency_words
from .cache import embed_texts_cached  # the shared text cache: the analogy suite's words
from .space import Space, SpaceInfo, Tokens, validate_texts

CENTER_OPTION, PCS_OPTION = "center", "pcs"
MAX_PCS = 50
BACKOFF_NOTE = ("Backoff: a part that cannot embed an item (GloVe and a phrase, an unknown word or an image) "
                "gives it a zero block, and the other parts' blocks are renormalised.")


@dataclass
class CompositePart:
    space: Space
    weight: float
    center: str  # "none" or a reference vocabulary (glove:N, wordfreq:L:N)
    pcs: int  # principal directions of the reference removed after centring (0: none)
    mean: np.ndarray | None  # (dim,) float32, or None without centring
    components: np.ndarray | None  # (pcs, dim) unit rows, or None
    checksum: str | None  # of the .npy that holds mean and components

    @property
    def label(self) -> str:
        return self.space.canonical


def build_composite(spec: CompositeSpec, load_single) -> CompositeSpace:
    """A CompositeSpace from a parsed spec; load_single(SingleSpec) builds each part."""
    if spec.options:
        raise SpecError(
            f"A composite takes no options of its own ({format_spec(spec)}): write them on its parts, "
            "e.g. concat:glove-6b-50d[center=glove:30000]+use-m3[center=glove:30000]."
        )
    parts = []
    for part in spec.parts:
        options = dict(part.spec.options)
        center = options.pop(CENTER_OPTION, "none")
        pcs = options.pop(PCS_OPTION, "0")
        if not pcs.isdigit() or int(pcs) > MAX_PCS:
            raise SpecError(f"pcs={pcs}: the number of principal directions to remove, a whole number from 0 "
                            f"to {MAX_PCS} (2 or 3 is usual).")
        if int(pcs) and center == "none":
            raise SpecError(f"pcs={pcs} needs a reference to find the directions on: add center=glove:30000 "
                            "(or another reference) to the same part.")
        single = SingleSpec(part.spec.kind, part.spec.name, part.spec.ref, tuple(sorted(options.items())))
        parts.append((load_single(single), part.weight, center, int(pcs)))
    return CompositeSpace(parts)


class CompositeSpace(Space):
    """Several spaces concatenated: each part's unit vector (optionally centred) times its weight."""

    def __init__(self, parts):
        ids = [space.id for space, *_ in parts]
        if len(set(ids)) != len(ids):
            raise SpecError("A composite lists the same space twice; give each part once (weights are *W).")
        self.parts = []
        for space, weight, center, pcs in parts:
            mean, components, checksum = (None, None, None) if center == "none" else part_centre(space, center, pcs)
            self.parts.append(CompositePart(space, weight, center, pcs, mean, components, checksum))
        self.options = {}  # a composite has none of its own: its parts' are in their specs
        self.dim = sum(p.space.dim for p in self.parts)
        self.offsets = np.cumsum([0] + [p.space.dim for p in self.parts])
        self.spec = CompositeSpec(tuple(
            Part(p.space.spec.with_options({**dict(p.space.spec.options), CENTER_OPTION: p.center,
                                            **({PCS_OPTION: str(p.pcs)} if p.pcs else {})}), p.weight)
            for p in self.parts
        ))
        self.canonical = format_spec(self.spec)
        self.text_artifacts = {}
        self.image_artifacts = {}
        for i, p in enumerate(self.parts):
            self.text_artifacts.update({f"part{i + 1}/{k}": v for k, v in p.space.text_artifacts.items()})
            self.image_artifacts.update({f"part{i + 1}/{k}": v for k, v in p.space.image_artifacts.items()})
            if p.checksum:
                name = f"mean-{p.center}" + (f"-pcs{p.pcs}" if p.pcs else "")
                self.text_artifacts[f"part{i + 1}/{name}.npy"] = p.checksum
        langs = [set(p.space.languages or ("*",)) for p in self.parts]
        union = set().union(*langs)
        self.languages = ("*",) if "*" in union else tuple(sorted(union))
        known = [s for s in langs if "*" not in s]  # a part with unknown languages does not narrow the others
        every = set.intersection(*known) if known else {"*"}
        self.languages_every_part = tuple(sorted(every))
        self.supports_images = any(p.space.supports_images for p in self.parts)
        image_parts = [p.label for p in self.parts if p.space.supports_images]
        self.images_note = (
            f"Images through {', '.join(image_parts)} (the other parts' blocks are zero)." if image_parts
            else "No part takes images."
        )

    # -- texts ---------------------------------------------------------------------------
    def embed_texts(self, texts, batch_size: int = 64, progress: bool = False, role: str = "item") -> np.ndarray:
        texts = validate_texts(texts)
        return self.embed_texts_with(
            lambda space, part_texts: space.embed_texts(part_texts, batch_size=batch_size, progress=progress, role=role),
            texts)

    def embed_texts_with(self, embed_part, texts: list) -> np.ndarray:
        """The composite vectors of texts, each part's vectors from embed_part(part_space, texts).

        The evaluation passes its cached embedder here, so a composite reuses its parts' caches.
        """
        blocks, masks = [], []
        for part in self.parts:
            mask = part.space.embeddable(texts)
            vectors = np.zeros((len(texts), part.space.dim), np.float32)
            if mask.any():
                vectors[mask] = embed_part(part.space, [t for t, ok in zip(texts, mask) if ok])
            blocks.append(vectors)
            masks.append(mask)
        return self.combine(blocks, masks, [f"Text {i + 1} ({t!r:.60})" for i, t in enumerate(texts)])

    def combine(self, blocks: list, masks: list, names=None) -> np.ndarray:
        """Centre, normalise and weight each part's block, concatenate, normalise.

        blocks: per part (n, part dim) unit rows; masks: per part (n,) bools, False where the part
        had no vector (its block stays zero).
        """
        n = len(blocks[0])
        out = np.zeros((n, self.dim), np.float32)
        covered = np.zeros(n, bool)
        for part, start, block, mask in zip(self.parts, self.offsets, blocks, masks):
            block = np.asarray(block, np.float32)
            if part.mean is not None:
                block = block - part.mean
            if part.components is not None:  # all-but-the-top: drop the dominant directions
                block = block - (block @ part.components.T) @ part.components
            block = l2_normalize(block) * np.float32(part.weight)
            out[:, start:start + part.space.dim] = np.where(mask[:, None], block, 0)
            covered |= mask
        if not covered.all():
            i = int(np.flatnonzero(~covered)[0])
            name = names[i] if names else f"Item {i + 1}"
            raise InputError(f"{name}: none of the parts of {self.canonical} can embed it.")
        return l2_normalize(out)

    def tokenize(self, text: str) -> Tokens:
        validate_texts([text])
        lines = []
        for part in self.parts:
            if not part.space.embeddable([text])[0]:
                lines.append(f"{part.label}: cannot embed it (zero block, backoff)")
                continue
            tokens = part.space.tokenize(text)
            shown = " | ".join(tokens.tokens) if tokens.tokens is not None else tokens.note
            count = f"{tokens.count} tokens: " if tokens.count is not None else ""
            lines.append(f"{part.label}: {count}{shown}")
        return Tokens(None, None, "Each part tokenizes on its own:\n" + "\n".join(lines))

    # -- images --------------------------------------------------------------------------
    def embed_images(self, images, batch_size: int = 32, progress: bool = False, via: str | None = None) -> np.ndarray:
        if not self.supports_images:
            raise UnsupportedError(f"Space {self.canonical} takes no images: {self.images_note}")
        if via is not None and via not in self.image_routes():
            raise UnsupportedError(f"Space {self.canonical} has no image route {via!r} in every part that takes "
                                   f"images; it has {', '.join(self.image_routes()) or 'none shared'}.")

        pil_images, _ = load_images(images)
        return self.embed_images_with(
            lambda space, batch: space.embed_images(batch, batch_size=batch_size, progress=progress, via=via),
            pil_images)

    def map_is_stale(self) -> bool:
        """A part's image map changed or moved since this composite loaded it (see registry.load_space)."""
        return any(getattr(part.space, "map_is_stale", lambda: False)() for part in self.parts)

    def image_routes(self) -> dict:
        """The routes every image-taking part has, in the first such part's order."""
        routes = [part.space.image_routes() for part in self.parts if part.space.supports_images]
        if not routes:
            return {}
        return {name: note for name, note in routes[0].items() if all(name in r for r in routes[1:])}

    def embed_images_with(self, embed_part, images: list) -> np.ndarray:
        """Images through the parts that take them; the other parts' blocks are zero."""
        blocks, masks = [], []
        for part in self.parts:
            ok = part.space.supports_images
            blocks.append(embed_part(part.space, images) if ok else np.zeros((len(images), part.space.dim), np.float32))
            masks.append(np.full(len(images), ok))
        return self.combine(blocks, masks)

    def image_features(self, images, batch_size: int = 32) -> np.ndarray:
        """The first image part's features (ConSE parts share one classifier)."""
        for part in self.parts:
            if part.space.supports_images:
                return part.space.image_features(images, batch_size=batch_size)
        raise UnsupportedError(f"Space {self.canonical} takes no images: {self.images_note}")

    # -- description ---------------------------------------------------------------------
    def embeddable(self, texts) -> np.ndarray:
        masks = [p.space.embeddable(texts) for p in self.parts]
        return np.logical_or.reduce(masks)

    def info(self) -> SpaceInfo:
        parts = ", ".join(f"{p.label} (weight {p.weight:g}, centre {p.center})" for p in self.parts)
        notes = [
            f"Parts: {parts}.",
            BACKOFF_NOTE,
            f"Languages of every part: {', '.join(self.languages_every_part) or 'none'}; the others "
            f"({len(self.languages)} in all, the union) get only the blocks of the parts that have them.",
        ]
        notes += [f"Centre of {p.label}: mean of its vectors of {describe_reference(p.center)}"
                  + (f", then its top {p.pcs} principal directions there removed." if p.pcs else ".")
                  for p in self.parts if p.mean is not None]
        return SpaceInfo(
            name=self.canonical, spec=self.canonical,
            description="Composite: the parts' unit vectors (centred where asked), weighted, concatenated, "
                        "L2-normalised.",
            dim=self.dim, languages=self.languages, modalities=self.modalities, available=True,
            reason=self.images_note, notes=notes,
        )


# -- centring ---------------------------------------------------------------------------------------
def reference_words(reference: str) -> list:
    """The words of a centring reference: glove:N or wordfreq:LANG:N."""
    kind, _, rest = reference.partition(":")
    pieces = rest.split(":")
    try:
        count = int(pieces[-1])
    except ValueError:
        count = 0
    if kind == "glove" and len(pieces) == 1 and count > 0:

        return list(frequency_words()[:count])
    if kind == "wordfreq" and len(pieces) == 2 and count > 0:

        wordfreq = require("wordfreq", "wordfreq", "Centring on wordfreq words")
        return list(wordfreq.top_n_list(normalize_lang(pieces[0]).split("-")[0], count))
    raise SpecError(
        f"center={reference}: use center=none, center=glove:N (the N most frequent GloVe words) or "
        "center=wordfreq:LANG:N (e.g. wordfreq:en:30000)."
    )


def describe_reference(reference: str) -> str:
    kind, _, rest = reference.partition(":")
    if kind == "glove":
        return f"the {int(rest):,} most frequent GloVe 6B words"
    lang, _, count = rest.partition(":")
    return f"the {int(count):,} most frequent {lang} words of wordfreq"


def part_centre(space: Space, reference: str, pcs: int = 0) -> tuple:
    """(mean, components or None, sha256 of their .npy) of a part's vectors of a reference vocabulary.

    Computed once per part, reference and pcs, then read from the cache: one .npy of the mean
    (dim,), or with pcs of (1 + pcs, dim), the mean then the top principal directions of the centred
    vectors (all-but-the-top, Mu & Viswanath 2018).
    """

    words = reference_words(reference)
    # without pcs the file is the mean alone, (dim,)
    what = {"space": space.id, "reference": reference, **({"pcs": pcs} if pcs else {})}
    key = hashlib.sha256(json.dumps(what).encode()).hexdigest()[:24]
    path = cache_dir("composite") / (f"centre-{key}.npy" if pcs else f"mean-{key}.npy")
    shape = (1 + pcs, space.dim) if pcs else (space.dim,)
    stored = load_array(path)
    if stored is None or stored.shape != shape:

        words = [w for w, ok in zip(words, space.embeddable(words)) if ok]
        if len(words) <= pcs:
            raise InputError(f"center={reference}: {space.canonical} can embed only {len(words)} of its words.")
        vectors = embed_texts_cached(space, words, role="item").astype(np.float64)
        mean = vectors.mean(axis=0)
        rows = [mean]
        if pcs:
            centred = vectors - mean
            values, vecs = np.linalg.eigh(centred.T @ centred)
            rows += list(vecs[:, np.argsort(-values)[:pcs]].T)
        stored = np.asarray(rows if pcs else mean, np.float32)
        save_array(path, stored)
    return (stored[0], stored[1:], file_checksum(path)) if pcs else (stored, None, file_checksum(path))
