"""How a text-only space takes images: the `images` and `topk` options shared by such spaces.

    images=conse   (default) ImageNet classifier + ConSE mixture of class-name embeddings
    images=none    the space refuses images
    images=map:F   a learned map from image features to this space (`embedspace align`);
                   F is a map name in the maps folder or a path to a .npz
"""

from __future__ import annotations

import numpy as np

from ...artifacts import file_checksum
from ...errors import EmbedspaceError, SpecError
from ...images import load_images
from ...paths import resolve_map_path
from ...vectors import l2_normalize
from ..conse import ConseImageEncoder, classifier, weights_path
from ..image_map import check_map_matches, load_map


class ImageOptionsMixin:
    IMAGE_OPTIONS = {"images": "conse", "topk": "10"}
    _image_encoder = None

    def setup_images(self, spec) -> None:
        """Call from __init__ once text_artifacts is set: parses the options, sets the id."""
        self.configure(spec)
        mode = self.options["images"]
        try:
            self.top_k = int(self.options["topk"])
        except ValueError:
            self.top_k = 0
        if not 1 <= self.top_k <= 1000:
            raise SpecError(f"topk={self.options['topk']} must be a whole number from 1 to 1000.")
        if mode == "none":
            self.supports_images = False
            self.images_note = "Images are off (images=none)."
            self.image_artifacts = {}
        elif mode == "conse":

            self.supports_images = True
            self.image_artifacts = {"efficientnet-lite0.pth": file_checksum(weights_path())}
            self.images_note = (
                f"Images via ConSE: an ImageNet classifier (EfficientNet-Lite0) places each image at the "
                f"probability-weighted mean of its top-{self.top_k} class names. A stand-in for CLIP: it "
                "knows only the 1,000 ImageNet classes, so drawings, faces, scenes and text in images land "
                "near whichever class they resemble."
            )
        elif mode.startswith("map:"):
            self._setup_image_map(mode[len("map:"):])
        else:
            raise SpecError(f"images={mode} is not an image mode; use conse, none or map:FILE.")

    def _setup_image_map(self, ref: str) -> None:
        path = resolve_map_path(ref)
        image_map = load_map(path)
        check_map_matches(image_map, path, self.text_space())
        self.image_map = image_map
        self.map_ref = ref
        self.map_file = (path, _stamp(path))
        self.supports_images = True
        self.image_artifacts = {f"map:{path.name}": file_checksum(path),
                                **{f"backbone:{k}": v for k, v in image_map.meta["backbone_checksums"].items()}}
        meta = image_map.meta
        trained = meta.get("training", {})
        self.images_note = (
            f"Images via the learned map {path.name}: {meta.get('recipe', meta.get('method', 'ridge'))} from "
            f"{'+'.join(image_map.backbones)} features, fitted on {trained.get('images', '?')} images of "
            f"{trained.get('classes', '?')} classes ({', '.join(trained.get('languages', [])) or '?'} captions)."
        )
        held_out = meta.get("held_out")
        if held_out:
            self.images_note += (f" Held-out caption->image recall@10: {held_out['map']['recall@10']:.2f} "
                                 f"(ConSE on the same folds: {held_out['conse']['recall@10']:.2f}).")

    def map_is_stale(self) -> bool:
        """True when the map file changed on disk after this space loaded it, or its name now
        resolves to another file (the maps folder moved with EMBEDSPACE_INDEX_DIR or _MAP_DIR)."""
        if self.image_map is None:
            return False

        path, stamp = self.map_file
        try:
            moved = resolve_map_path(self.map_ref) != path
        except EmbedspaceError:  # gone from the new folder: loading again says so
            moved = True
        return moved or _stamp(path) != stamp

    def text_space(self) -> dict:
        """What an image map must have been fitted for: this space's text side (see Space.text_space)."""
        key = self.text_spec_key()
        name = self.spec.name + (f"[{key}]" if key else "")
        return {"name": name, "spec": key, "artifacts": dict(self.text_artifacts), "dim": self.dim}

    def text_spec_key(self) -> str:
        """The spec without its image options: what decides the text vectors."""
        return ",".join(f"{k}={v}" for k, v in sorted(self.options.items()) if k not in self.IMAGE_OPTIONS)

    @property
    def image_encoder(self):
        if self._image_encoder is None:  # loaded on first use: the classifier costs ~1 s

            self._image_encoder = ConseImageEncoder(self, top_k=self.top_k)
        return self._image_encoder

    image_map = None

    def _embed_image_batch(self, images):
        if self.image_map is not None:
            return self.image_map.embed(images)
        return self.image_encoder.embed(images)

    def image_routes(self) -> dict:
        """With a learned map, ConSE stays available: both land in this text space, and ConSE suits
        the photos a map fitted on drawings has never seen."""
        if not self.supports_images:
            return {}
        conse = ("ConSE: the ImageNet classifier's class names; for photos of everyday objects and animals "
                 "(ImageNet's 1,000 classes)")
        if self.image_map is None:
            return {"conse": conse}
        trained = self.image_map.meta.get("training", {})
        return {"map": f"the learned map {self.map_file[0].stem}: for images like the "
                       f"{trained.get('images', '?')} it was fitted on ({trained.get('source', 'its training set')})",
                "conse": conse}

    def _image_batch_via(self, route: str):
        if route == "conse":
            return self.image_encoder.embed
        return super()._image_batch_via(route)

    def image_features(self, images, batch_size: int = 32):
        """The classifier's pooled features (1,280-d, unit rows), for image-to-image similarity."""

        pil_images, _ = load_images(images)

        rows = [classifier()(pil_images[i:i + batch_size])[1] for i in range(0, len(pil_images), batch_size)]

        return l2_normalize(np.concatenate(rows) if rows else np.zeros((0, 1280), np.float32))


def _stamp(path):
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns)
