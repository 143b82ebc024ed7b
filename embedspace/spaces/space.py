"""The Space abstraction: texts and images in, L2-normalised float32 vectors out.

A backend implements `_embed_text_batch` (and `_embed_image_batch` where it takes images);
this base class validates inputs, batches, shows progress and normalises, so that every
space treats bad input the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError, SpecError, UnsupportedError
from ..images import load_images
from ..progress import Tracker
from ..spec import format_spec
from ..text import describe_lone_surrogate
from ..vectors import l2_normalize

# Longer texts are refused rather than silently cut: no model here reads more than 512
# tokens, so a text this long is a document that should be split into passages first.
MAX_TEXT_CHARS = 100_000
ROLES = ("item", "query")


@dataclass
class Tokens:
    """How a space's model sees a text."""

    tokens: list | None  # the pieces, or None where the package does not expose them
    count: int | None  # number of tokens the model is fed (special tokens included)
    note: str = ""  # e.g. why pieces are missing, or the prefix that was added


@dataclass
class SpaceInfo:
    """What `embedspace spaces` and the app show about a space."""

    name: str
    spec: str
    description: str
    dim: int | None
    languages: tuple
    modalities: tuple
    available: bool
    reason: str = ""  # why it can't run here, or how images are handled
    notes: list = field(default_factory=list)


class Space:
    """Base class for every embedding space.

    Subclasses set `dim`, `languages` (canonical codes, or ('*',) where unknown), `canonical`
    (the spec text with every default written out), `artifacts` ({name: sha256} of the files
    whose bytes decide the vectors), and implement `_embed_text_batch`.
    """

    dim: int
    languages: tuple = ()
    OPTIONS: dict = {}  # option name -> default value (text), as written in specs
    canonical: str = ""
    text_artifacts: dict = {}
    image_artifacts: dict = {}
    supports_images: bool = False
    images_note: str = "This space takes no images."
    text_rows_are_unit: bool = False  # True where _embed_text_batch already returns finite unit rows
    embeds_by_lookup: bool = False  # True where a text's vector is a table lookup (no point caching it)
    roles_differ: bool = False  # True where role='query' and role='item' give different vectors (e5 asymmetric)

    # -- identity ----------------------------------------------------------------------
    def configure(self, spec) -> None:
        """Check the spec's options against OPTIONS and write the canonical spec with defaults."""

        unknown = sorted(set(dict(spec.options)) - set(self.OPTIONS))
        if unknown:
            valid = ", ".join(f"{k} (default {v})" for k, v in self.OPTIONS.items()) or "none"
            raise SpecError(f"Space {spec.name} has no option {', '.join(unknown)}; its options: {valid}.")
        self.options = {**self.OPTIONS, **dict(spec.options)}
        self.spec = spec.with_options(self.options)
        self.canonical = format_spec(self.spec)

    @property
    def artifacts(self) -> dict:
        """{name: sha256} of every file whose bytes decide this space's vectors."""
        return {**self.text_artifacts, **self.image_artifacts}

    @property
    def id(self) -> str:
        """Stable id stored in index manifests: canonical spec + digest of artifact checksums.
        Every query checks it: the digest is kept while spec and artifacts stay the same (the JSON
        and hash took 0.04 ms a query, a tenth of an HNSW search)."""
        key = (self.canonical, tuple(sorted(self.artifacts.items())))
        known = self.__dict__.get("_id_of")
        if known is None or known[0] != key:
            payload = json.dumps({"spec": self.canonical, "artifacts": self.artifacts}, sort_keys=True)
            known = (key, f"{self.canonical}#{hashlib.sha256(payload.encode()).hexdigest()[:12]}")
            self.__dict__["_id_of"] = known
        return known[1]

    @property
    def modalities(self) -> tuple:
        return ("text", "image") if self.supports_images else ("text",)

    def __repr__(self):
        return f"<{type(self).__name__} {self.id} dim={self.dim}>"

    # -- texts ---------------------------------------------------------------------------
    def embed_texts(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False, role: str = "item"
    ) -> np.ndarray:
        """Embed texts -> (n, dim) float32, rows of unit length.

        role='item' is for what goes into an index (and analogy operands, translation
        sources); role='query' for search queries. Only spaces with asymmetric prefixes
        (e5-small[prefix=asymmetric]) treat them differently.
        """
        texts = validate_texts(texts)
        if role not in ROLES:
            raise InputError(f"role must be one of {ROLES}, not {role!r}")
        vectors = self._run_batches(texts, batch_size, progress, "texts", lambda b: self._embed_text_batch(b, role))
        return vectors if self.text_rows_are_unit else l2_normalize(vectors)

    def embed_text(self, text: str, role: str = "query") -> np.ndarray:
        """One text -> (dim,) vector; a query unless said otherwise."""
        return self.embed_texts([text], role=role)[0]

    def _embed_text_batch(self, texts: list, role: str) -> np.ndarray:
        raise NotImplementedError

    def embeddable(self, texts) -> np.ndarray:
        """Which texts this space can embed (bools); composites back off where a part cannot."""
        return np.ones(len(texts), bool)

    def tokenize(self, text: str) -> Tokens:
        validate_texts([text])
        return Tokens(None, None, f"{type(self).__name__} does not expose its tokenizer.")

    def text_space(self) -> dict | None:
        """The text side a learned image map is fitted for (`embedspace align`, images=map:F), or None.

        {"name", "spec", "artifacts", "dim"}: what decides this space's text vectors, without its
        image options; a map's header records it and the space checks it on loading the map, and
        text maps (`align-text`) are keyed by it. None where images cannot come in through a learned
        map (no images, or an image tower of its own like open_clip:); text maps then key on `id`.
        Always a method: ask `space.text_space() is None`, not hasattr.
        """
        return None

    # -- images --------------------------------------------------------------------------
    def embed_images(self, images: Iterable, batch_size: int = 32, progress: bool = False,
                     via: str | None = None) -> np.ndarray:
        """Embed images (paths, bytes, PIL images or HxWx3 arrays) -> (n, dim) float32, unit rows.

        via: one of image_routes() (default: the first, the space's own image path). Every route
        lands in the same space, so its vectors search the same index.
        A bad image raises InputError naming it; index builds load images first with
        `images.load_images(..., skip_errors=True)` to skip and report them instead.
        """
        if not self.supports_images:
            raise UnsupportedError(f"Space {self.canonical} takes no images. {self.images_note}")
        routes = self.image_routes()
        if via is not None and via not in routes:
            raise UnsupportedError(f"Space {self.canonical} has no image route {via!r}; it has "
                                   f"{', '.join(routes)}.")

        pil_images, _ = load_images(images)
        batch = self._embed_image_batch if via in (None, next(iter(routes))) else self._image_batch_via(via)
        return l2_normalize(self._run_batches(pil_images, batch_size, progress, "images", batch))

    def image_routes(self) -> dict:
        """{route: what it is good for} of the ways images enter this space, its own first; {} without images."""
        return {self.options.get("images", "default"): self.images_note} if self.supports_images else {}

    def _image_batch_via(self, route: str):
        raise UnsupportedError(f"Space {self.canonical} has no image route {route!r}.")

    def embed_image(self, image) -> np.ndarray:
        return self.embed_images([image])[0]

    def _embed_image_batch(self, images: list) -> np.ndarray:
        raise NotImplementedError

    def image_features(self, images: Iterable, batch_size: int = 32) -> np.ndarray:
        """Image-to-image features (unit rows); by default the image embeddings themselves."""
        return self.embed_images(images, batch_size=batch_size)

    # -- comparing -----------------------------------------------------------------------
    def compare(self, texts: Sequence[str] = (), images: Sequence = ()) -> tuple[list, np.ndarray]:
        """Cosine similarity of every pair among texts and images: (labels, matrix)."""
        vectors, labels = [], []
        if texts:
            vectors.append(self.embed_texts(list(texts)))
            labels += list(texts)
        if images:
            vectors.append(self.embed_images(list(images)))
            labels += [f"image {i + 1}" for i in range(len(images))]
        if not vectors:
            raise InputError("Nothing to compare: give at least one text or image.")
        matrix = np.concatenate(vectors)
        return labels, matrix @ matrix.T

    def info(self) -> SpaceInfo:
        return SpaceInfo(
            name=self.canonical, spec=self.canonical, description=type(self).__doc__ or "",
            dim=self.dim, languages=self.languages, modalities=self.modalities, available=True,
            reason=self.images_note,
        )

    # -- shared machinery ----------------------------------------------------------------
    def _run_batches(self, items: list, batch_size: int, progress: bool, unit: str, embed) -> np.ndarray:
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, not {batch_size}")
        out = np.empty((len(items), self.dim), dtype=np.float32)
        with Tracker(progress if len(items) > batch_size else None, len(items), f"Embedding {unit}", unit[:-1]) as bar:
            for start in range(0, len(items), batch_size):
                batch = items[start:start + batch_size]
                out[start:start + len(batch)] = embed(batch)
                bar.update(len(batch))
        return out


def validate_texts(texts) -> list:
    """A list of non-empty strings, or an InputError that names the bad one (counting from 1)."""
    if isinstance(texts, str):
        raise InputError("Pass a list of texts, not a single string: embed_texts(['...']) or embed_text('...').")
    if texts is None:
        raise InputError("No texts given (None).")
    texts = list(texts)
    for i, text in enumerate(texts):
        try:
            check_text(text)
        except InputError as exc:
            raise InputError(f"Text {i + 1} of {len(texts)} {exc}") from None
    return texts


def check_text(text) -> None:
    """Why one text cannot be embedded (an InputError whose message reads after 'Text N'), or None."""
    if text is None:
        raise InputError("is None; every item needs a text.")
    if not isinstance(text, str):
        raise InputError(f"is a {type(text).__name__}, not a string: {text!r:.60}")
    if not text.strip():
        raise InputError("is empty; remove empty lines or give it some text.")
    problem = describe_lone_surrogate(text)
    if problem:  # a tokenizer would fail on it with a UnicodeEncodeError
        raise InputError(f"holds {problem}: it is not Unicode text (bytes in another encoding?); save it as UTF-8.")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(
            f"is {len(text):,} characters long; the limit is {MAX_TEXT_CHARS:,}. "
            "Models here read at most 512 tokens: split long documents into passages first."
        )


